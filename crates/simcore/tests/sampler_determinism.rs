//! One seed gives one sequence, and a sampler restored from its JSON state continues it exactly.

use simcore::{Outcome, Sampler, SamplerConfig};

/// A deterministic stand-in for the objective: faster (lower-bit) allocations score higher, and
/// every fifth round is over the size cap.
fn outcome(round: usize, allocation: &[usize]) -> Outcome {
    if round % 5 == 4 {
        Outcome::Infeasible
    } else {
        let mean = allocation.iter().sum::<usize>() as f64 / allocation.len() as f64;
        Outcome::Feasible(0.3 - 0.1 * mean)
    }
}

/// Runs `rounds` of update-then-propose and returns every proposal.
fn run(sampler: &mut Sampler, rounds: std::ops::Range<usize>) -> Vec<Vec<usize>> {
    rounds
        .map(|round| {
            let evaluated = sampler.current().to_vec();
            sampler
                .update(&evaluated, outcome(round, &evaluated))
                .unwrap();
            sampler.propose().to_vec()
        })
        .collect()
}

fn config(seed: u64) -> SamplerConfig {
    SamplerConfig {
        seed,
        ema: 0.2,
        ..SamplerConfig::new(7)
    }
}

#[test]
fn the_same_seed_gives_the_same_sequence() {
    let first = run(&mut Sampler::new(config(11)).unwrap(), 0..300);
    let second = run(&mut Sampler::new(config(11)).unwrap(), 0..300);
    assert_eq!(first, second);
    let other = run(&mut Sampler::new(config(12)).unwrap(), 0..300);
    assert_ne!(first, other);
}

#[test]
fn the_chain_starts_at_the_widest_bitwidth() {
    let sampler = Sampler::new(config(0)).unwrap();
    assert_eq!(sampler.current_bits(), vec![8; 7]);
    let custom = SamplerConfig {
        initial: Some(vec![2, 3, 4, 8, 8, 4, 2]),
        ..config(0)
    };
    assert_eq!(
        Sampler::new(custom).unwrap().current_bits(),
        vec![2, 3, 4, 8, 8, 4, 2]
    );
}

#[test]
fn a_restored_sampler_continues_the_uninterrupted_sequence() {
    let mut uninterrupted = Sampler::new(config(5)).unwrap();
    let expected = run(&mut uninterrupted, 0..200);

    let mut original = Sampler::new(config(5)).unwrap();
    let mut got = run(&mut original, 0..77);
    // 77 rounds stop part-way through a ChaCha block, so the word position (not just the block)
    // must be restored.
    let saved = original.state_json().unwrap();
    let mut restored = Sampler::from_state_json(&saved).unwrap();
    assert_eq!(restored.state_json().unwrap(), saved);
    got.extend(run(&mut restored, 77..200));

    assert_eq!(got, expected);
    assert_eq!(restored.scores(), uninterrupted.scores());
    assert_eq!(
        restored.state_json().unwrap(),
        uninterrupted.state_json().unwrap()
    );
    assert_eq!(restored.steps(), 200);
    assert_eq!(restored.updates(), 200);
}

#[test]
fn scores_survive_json_bit_for_bit() {
    let mut sampler = Sampler::new(config(9)).unwrap();
    run(&mut sampler, 0..50);
    let restored = Sampler::from_state_json(&sampler.state_json().unwrap()).unwrap();
    let bits =
        |s: &Sampler| -> Vec<u64> { s.scores().concat().iter().map(|x| x.to_bits()).collect() };
    assert_eq!(bits(&restored), bits(&sampler));
}
