//! Shared helpers for the sampler tests: samplers with a chosen S, exact Markov kernels, and the
//! chi-square statistic.

#![allow(dead_code)] // each test binary uses a different subset

use simcore::{Sampler, SamplerConfig};

/// A fixed score matrix (3 layers × bits {2, 3, 4, 8}) and temperature for the stationary-law tests.
pub const ROWS: [[f64; 4]; 3] = [
    [0.0, 0.5, 1.0, 1.5],
    [1.2, -0.3, 0.4, 0.0],
    [0.1, 0.1, 0.9, -1.0],
];
pub const TEMPERATURE: f64 = 0.8;

/// A sampler with the given score rows, built through the public state format.
pub fn with_scores(config: SamplerConfig, rows: &[Vec<f64>]) -> Sampler {
    let fresh = Sampler::new(config).expect("valid config");
    let mut state: serde_json::Value = serde_json::from_str(&fresh.state_json().unwrap()).unwrap();
    state["scores"] = serde_json::json!(rows);
    Sampler::from_state_json(&state.to_string()).expect("valid state")
}

/// softmax(row · scale).
pub fn softmax(row: &[f64], scale: f64) -> Vec<f64> {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = row.iter().map(|s| ((s - max) * scale).exp()).collect();
    let z: f64 = w.iter().sum();
    w.iter().map(|x| x / z).collect()
}

pub type Matrix = Vec<Vec<f64>>;

pub fn matmul(a: &Matrix, b: &Matrix) -> Matrix {
    let n = b[0].len();
    a.iter()
        .map(|row| {
            (0..n)
                .map(|j| row.iter().zip(b).map(|(x, brow)| x * brow[j]).sum())
                .collect()
        })
        .collect()
}

/// Algorithm 1's one-layer kernel written from its definition: propose y ~ π, accept with
/// min(1, π(y)/π(x)).
pub fn independence_kernel(pi: &[f64]) -> Matrix {
    let k = pi.len();
    (0..k)
        .map(|x| {
            let mut row: Vec<f64> = (0..k)
                .map(|y| {
                    if y == x {
                        0.0
                    } else {
                        pi[y] * (pi[y] / pi[x]).min(1.0)
                    }
                })
                .collect();
            row[x] = 1.0 - row.iter().sum::<f64>();
            row
        })
        .collect()
}

/// Largest total-variation distance to `target` over all starting states after `m` steps.
pub fn worst_tv(kernel: &Matrix, m: usize, target: &[f64]) -> f64 {
    let mut power = kernel.clone();
    for _ in 1..m {
        power = matmul(&power, kernel);
    }
    power
        .iter()
        .map(|row| {
            0.5 * row
                .iter()
                .zip(target)
                .map(|(p, q)| (p - q).abs())
                .sum::<f64>()
        })
        .fold(0.0, f64::max)
}

/// The smallest lag after which every starting state is within `eps` of `target` in total
/// variation: samples that far apart are, up to `eps` each, independent draws from `target`.
pub fn mixing_lag(kernel: &Matrix, target: &[f64], eps: f64) -> usize {
    (1..10_000)
        .find(|&m| worst_tv(kernel, m, target) < eps)
        .expect("the kernel mixes")
}

/// Pearson's statistic Σ (n_i − N p_i)² / (N p_i).
pub fn chi_square(counts: &[u64], probs: &[f64]) -> f64 {
    let n: u64 = counts.iter().sum();
    counts
        .iter()
        .zip(probs)
        .map(|(&c, &p)| {
            let e = n as f64 * p;
            (c as f64 - e).powi(2) / e
        })
        .sum()
}

/// Upper 10⁻⁴ quantiles of the chi-square law, by degrees of freedom (standard tables). With
/// nearly independent samples a correct sampler exceeds them with probability about 10⁻⁴.
pub fn chi_square_critical(df: usize) -> f64 {
    match df {
        1 => 15.137,
        2 => 18.421,
        3 => 21.108,
        8 => 31.828,
        _ => panic!("no tabulated quantile for {df} degrees of freedom"),
    }
}
