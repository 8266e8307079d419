//! Per-layer bitwidth choices: a layer never takes a width outside its choices, and among them
//! the chain settles on the same law as before, ∝ π² restricted to the choices.

mod sampler_support;

use sampler_support::{
    chi_square, chi_square_critical, independence_kernel, mixing_lag, softmax, with_scores, ROWS,
    TEMPERATURE,
};
use simcore::{Outcome, Sampler, SamplerConfig};

fn choices() -> Vec<Vec<u32>> {
    vec![vec![2, 3, 4, 8], vec![2, 4, 8], vec![3, 8]]
}

fn config(choices: Option<Vec<Vec<u32>>>) -> SamplerConfig {
    SamplerConfig {
        temperature: TEMPERATURE,
        seed: 2024,
        choices,
        ..SamplerConfig::new(ROWS.len())
    }
}

fn rows() -> Vec<Vec<f64>> {
    ROWS.iter().map(|r| r.to_vec()).collect()
}

/// The columns of `bits` = [2, 3, 4, 8] that `allowed` holds.
fn columns(allowed: &[u32]) -> Vec<usize> {
    [2, 3, 4, 8]
        .iter()
        .enumerate()
        .filter(|(_, b)| allowed.contains(b))
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn marginals_are_the_softmax_over_each_layers_choices() {
    let sampler = with_scores(config(Some(choices())), &rows());
    for (l, allowed) in choices().iter().enumerate() {
        let cols = columns(allowed);
        let kept: Vec<f64> = cols.iter().map(|&i| ROWS[l][i]).collect();
        let pi = softmax(&kept, 1.0 / TEMPERATURE);
        let stationary = softmax(&kept, 2.0 / TEMPERATURE);
        for i in 0..4 {
            let at = cols.iter().position(|&c| c == i);
            let expected = at.map_or(0.0, |j| pi[j]);
            assert!(
                (sampler.marginals()[l][i] - expected).abs() < 1e-15,
                "layer {l} column {i}"
            );
            let expected = at.map_or(0.0, |j| stationary[j]);
            assert!(
                (sampler.stationary()[l][i] - expected).abs() < 1e-15,
                "layer {l} column {i}"
            );
        }
    }
}

#[test]
fn each_layer_visits_only_its_choices_with_the_stationary_frequencies() {
    const SAMPLES: usize = 20_000;
    let laws: Vec<(Vec<usize>, Vec<f64>, Vec<f64>)> = choices()
        .iter()
        .enumerate()
        .map(|(l, allowed)| {
            let cols = columns(allowed);
            let kept: Vec<f64> = cols.iter().map(|&i| ROWS[l][i]).collect();
            let pi = softmax(&kept, 1.0 / TEMPERATURE);
            (cols, pi, softmax(&kept, 2.0 / TEMPERATURE))
        })
        .collect();
    let lag = laws
        .iter()
        .map(|(_, pi, target)| mixing_lag(&independence_kernel(pi), target, 1e-7))
        .max()
        .unwrap();
    let mut sampler = with_scores(config(Some(choices())), &rows());
    let mut counts = vec![[0u64; 4]; ROWS.len()];
    for _ in 0..SAMPLES {
        for _ in 0..lag {
            sampler.propose();
        }
        for (l, &i) in sampler.current().iter().enumerate() {
            counts[l][i] += 1;
        }
    }
    for (l, (cols, _, target)) in laws.iter().enumerate() {
        let outside: u64 = (0..4)
            .filter(|i| !cols.contains(i))
            .map(|i| counts[l][i])
            .sum();
        assert_eq!(outside, 0, "layer {l} left its choices: {:?}", counts[l]);
        let kept: Vec<u64> = cols.iter().map(|&i| counts[l][i]).collect();
        let fit = chi_square(&kept, target);
        assert!(
            fit < chi_square_critical(cols.len() - 1),
            "layer {l}: chi-square {fit}, counts {:?}",
            counts[l]
        );
    }
}

#[test]
fn a_coupled_layer_never_copies_a_width_outside_its_choices() {
    // Layer 1 may not take 2 bits; layer 0 sits there most of the time and layer 1 copies it half
    // the time it proposes.
    let config = SamplerConfig {
        bits: vec![2, 4, 8],
        seed: 5,
        coupling: Some(vec![vec![0.5, 0.5], vec![0.5, 0.5]]),
        choices: Some(vec![vec![2, 4, 8], vec![4, 8]]),
        ..SamplerConfig::new(2)
    };
    let mut sampler = with_scores(config, &[vec![3.0, 0.0, 0.0], vec![0.0, 0.0, 0.5]]);
    let (mut zero_at_two, mut one_at_eight) = (0u64, 0u64);
    const SWEEPS: u64 = 20_000;
    for _ in 0..SWEEPS {
        sampler.propose();
        let c = sampler.current();
        assert_ne!(c[1], 0, "layer 1 took 2 bits");
        zero_at_two += u64::from(c[0] == 0);
        one_at_eight += u64::from(c[1] == 2);
    }
    assert!(
        zero_at_two > SWEEPS * 9 / 10,
        "layer 0 at 2 bits {zero_at_two} times"
    );
    // Among its choices layer 1 keeps the law ∝ π²: P(8) = e^(2·0.5) / (1 + e^(2·0.5)) ≈ 0.731.
    let share = one_at_eight as f64 / SWEEPS as f64;
    assert!((share - 0.731).abs() < 0.02, "P(8 bit) = {share}");
}

#[test]
fn every_choice_allowed_is_the_unrestricted_chain() {
    let full = Some(vec![vec![2, 3, 4, 8]; ROWS.len()]);
    let mut restricted = with_scores(config(full), &rows());
    let mut free = with_scores(config(None), &rows());
    for _ in 0..500 {
        assert_eq!(restricted.propose(), free.propose());
    }
}

#[test]
fn the_chain_starts_at_each_layers_widest_choice() {
    let sampler = Sampler::new(config(Some(choices()))).unwrap();
    assert_eq!(sampler.current_bits(), vec![8, 8, 8]);
    let narrow = vec![vec![2, 3], vec![4], vec![3, 8]];
    let sampler = Sampler::new(config(Some(narrow))).unwrap();
    assert_eq!(sampler.current_bits(), vec![3, 4, 8]);
}

#[test]
fn widths_outside_a_layers_choices_are_refused_with_the_field_named() {
    let error = |config: SamplerConfig| Sampler::new(config).unwrap_err().to_string();
    let message = error(SamplerConfig {
        initial: Some(vec![2, 2, 2]),
        ..config(Some(choices()))
    });
    assert!(
        message.contains("initial") && message.contains("layer 2"),
        "{message}"
    );
    let message = error(config(Some(vec![vec![2], vec![2]])));
    assert!(
        message.contains("choices") && message.contains("2 rows"),
        "{message}"
    );
    let message = error(config(Some(vec![vec![2], vec![], vec![8]])));
    assert!(
        message.contains("choices") && message.contains("layer 1"),
        "{message}"
    );
    let message = error(config(Some(vec![vec![2], vec![5], vec![8]])));
    assert!(message.contains("bitwidth 5"), "{message}");
    let message = error(config(Some(vec![vec![2, 2], vec![4], vec![8]])));
    assert!(message.contains("twice"), "{message}");

    let mut sampler = Sampler::new(config(Some(choices()))).unwrap();
    let before = sampler.state_json().unwrap();
    let two_bits = sampler.indices_of(&[2, 2, 2], "allocation").unwrap();
    let message = sampler
        .update(&two_bits, Outcome::Feasible(1.0))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("allocation") && message.contains("layer 2"),
        "{message}"
    );
    assert_eq!(
        sampler.state_json().unwrap(),
        before,
        "a refused update changed the state"
    );
}

#[test]
fn choices_survive_the_state_and_an_older_state_reads_as_unrestricted() {
    let mut original = Sampler::new(config(Some(choices()))).unwrap();
    original.propose();
    let mut restored = Sampler::from_state_json(&original.state_json().unwrap()).unwrap();
    for _ in 0..200 {
        assert_eq!(original.propose(), restored.propose());
    }
    let mut older: serde_json::Value =
        serde_json::from_str(&Sampler::new(config(None)).unwrap().state_json().unwrap()).unwrap();
    older["config"].as_object_mut().unwrap().remove("choices");
    let sampler = Sampler::from_state_json(&older.to_string()).unwrap();
    assert_eq!(sampler.config().choices, None);
}
