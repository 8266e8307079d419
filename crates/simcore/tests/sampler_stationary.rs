//! For a fixed S, each layer's chain must settle on the analytic law ∝ π_l² (softmax(2 S_l / T)).

mod sampler_support;

use sampler_support::{
    chi_square, chi_square_critical, independence_kernel, mixing_lag, softmax, with_scores, ROWS,
    TEMPERATURE,
};
use simcore::SamplerConfig;

fn config() -> SamplerConfig {
    SamplerConfig {
        temperature: TEMPERATURE,
        seed: 2024,
        ..SamplerConfig::new(ROWS.len())
    }
}

fn rows() -> Vec<Vec<f64>> {
    ROWS.iter().map(|r| r.to_vec()).collect()
}

#[test]
fn stationary_and_marginals_are_the_softmax_of_2s_and_s() {
    let sampler = with_scores(config(), &rows());
    for (l, row) in ROWS.iter().enumerate() {
        let expected_pi = softmax(row, 1.0 / TEMPERATURE);
        let expected_stationary = softmax(row, 2.0 / TEMPERATURE);
        for i in 0..4 {
            assert!((sampler.marginals()[l][i] - expected_pi[i]).abs() < 1e-15);
            assert!((sampler.stationary()[l][i] - expected_stationary[i]).abs() < 1e-15);
        }
        // π² is exactly invariant under Algorithm 1's kernel: stationary · P = stationary.
        let kernel = independence_kernel(&expected_pi);
        for y in 0..4 {
            let flow: f64 = (0..4).map(|x| expected_stationary[x] * kernel[x][y]).sum();
            assert!(
                (flow - expected_stationary[y]).abs() < 1e-15,
                "layer {l} column {y}"
            );
        }
    }
}

#[test]
fn each_layer_visits_bitwidths_with_the_stationary_frequencies() {
    const SAMPLES: usize = 20_000;
    // Thinning by the exact mixing lag makes the kept states independent draws up to 1e-7 in
    // total variation each, so SAMPLES · 1e-7 bounds the extra chance of a false failure.
    let lag = ROWS
        .iter()
        .map(|row| {
            let pi = softmax(row, 1.0 / TEMPERATURE);
            mixing_lag(
                &independence_kernel(&pi),
                &softmax(row, 2.0 / TEMPERATURE),
                1e-7,
            )
        })
        .max()
        .unwrap();
    let mut sampler = with_scores(config(), &rows());
    let mut counts = vec![[0u64; 4]; ROWS.len()];
    for _ in 0..SAMPLES {
        for _ in 0..lag {
            sampler.propose();
        }
        for (l, &i) in sampler.current().iter().enumerate() {
            counts[l][i] += 1;
        }
    }
    let stationary = sampler.stationary();
    let marginals = sampler.marginals();
    for l in 0..ROWS.len() {
        let fit = chi_square(&counts[l], &stationary[l]);
        assert!(
            fit < chi_square_critical(3),
            "layer {l}: chi-square {fit} vs π², counts {:?}",
            counts[l]
        );
        // The same data rejects the proposal law π itself: the test can tell the two apart.
        let against_pi = chi_square(&counts[l], &marginals[l]);
        assert!(
            against_pi > 10.0 * chi_square_critical(3),
            "layer {l}: {against_pi}"
        );
    }
}
