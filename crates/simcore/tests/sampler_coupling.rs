//! The coupled chain (Eqs. 3–6): λ = I is Algorithm 1, and any admissible λ keeps the product
//! law ∏_l π_l² as its stationary law.

mod sampler_support;

use sampler_support::{
    chi_square, chi_square_critical, matmul, mixing_lag, softmax, with_scores, Matrix,
};
use simcore::{Outcome, Sampler, SamplerConfig};

#[test]
fn identity_coupling_is_the_uncoupled_chain() {
    let layers = 6;
    let identity: Matrix = (0..layers)
        .map(|j| (0..layers).map(|k| f64::from(u8::from(j == k))).collect())
        .collect();
    let plain = SamplerConfig {
        seed: 3,
        ema: 0.3,
        ..SamplerConfig::new(layers)
    };
    let coupled = SamplerConfig {
        coupling: Some(identity),
        ..plain.clone()
    };
    let mut a = Sampler::new(plain).unwrap();
    let mut b = Sampler::new(coupled).unwrap();
    for round in 0..500 {
        let reward = Outcome::Feasible(0.05 * (round % 7) as f64 - 0.15);
        let (ca, cb) = (a.current().to_vec(), b.current().to_vec());
        a.update(&ca, reward).unwrap();
        b.update(&cb, reward).unwrap();
        assert_eq!(a.propose(), b.propose(), "round {round}");
    }
    assert_eq!(a.scores(), b.scores());
    assert_eq!(a.accepted(), b.accepted());
}

const ROWS: [[f64; 3]; 2] = [[0.0, 0.8, 1.6], [1.0, -0.5, 0.2]];
const LAMBDA: [[f64; 2]; 2] = [[0.35, 0.65], [0.3, 0.7]];

/// Layer j's update given the other layer's state `other`, written from the definitions: propose
/// from q = λ_jj π_j + λ_jo e(other), accept with the Hastings ratio for the target π_j².
fn layer_kernel(j: usize, other: usize) -> Matrix {
    let pi = softmax(&ROWS[j], 1.0);
    let q: Vec<f64> = (0..3)
        .map(|y| LAMBDA[j][j] * pi[y] + if y == other { LAMBDA[j][1 - j] } else { 0.0 })
        .collect();
    (0..3)
        .map(|x| {
            let mut row: Vec<f64> = (0..3)
                .map(|y| {
                    if y == x {
                        0.0
                    } else {
                        q[y] * ((pi[y] * pi[y] * q[x]) / (pi[x] * pi[x] * q[y])).min(1.0)
                    }
                })
                .collect();
            row[x] = 1.0 - row.iter().sum::<f64>();
            row
        })
        .collect()
}

/// One sweep on the joint state 3·b₀ + b₁: layer 0 moves given b₁, then layer 1 given the new b₀.
fn sweep_kernel() -> Matrix {
    let mut first = vec![vec![0.0; 9]; 9];
    let mut second = vec![vec![0.0; 9]; 9];
    for b0 in 0..3 {
        for b1 in 0..3 {
            let l0 = layer_kernel(0, b1);
            let l1 = layer_kernel(1, b0);
            for y in 0..3 {
                first[3 * b0 + b1][3 * y + b1] = l0[b0][y];
                second[3 * b0 + b1][3 * b0 + y] = l1[b1][y];
            }
        }
    }
    matmul(&first, &second)
}

fn product_law(scale: f64) -> Vec<f64> {
    let (p0, p1) = (softmax(&ROWS[0], scale), softmax(&ROWS[1], scale));
    (0..9).map(|s| p0[s / 3] * p1[s % 3]).collect()
}

#[test]
fn the_coupled_kernel_leaves_the_product_of_squared_softmaxes_invariant() {
    let kernel = sweep_kernel();
    let target = product_law(2.0);
    for y in 0..9 {
        let flow: f64 = (0..9).map(|x| target[x] * kernel[x][y]).sum();
        assert!(
            (flow - target[y]).abs() < 1e-14,
            "state {y}: {flow} vs {}",
            target[y]
        );
    }
}

#[test]
fn the_coupled_chain_samples_the_product_law() {
    const SAMPLES: usize = 20_000;
    let config = SamplerConfig {
        bits: vec![2, 4, 8],
        seed: 77,
        coupling: Some(LAMBDA.iter().map(|r| r.to_vec()).collect()),
        ..SamplerConfig::new(2)
    };
    let rows: Vec<Vec<f64>> = ROWS.iter().map(|r| r.to_vec()).collect();
    let mut sampler = with_scores(config, &rows);
    // Kept states are independent draws from the stationary law up to 1e-7 each in total variation.
    let lag = mixing_lag(&sweep_kernel(), &product_law(2.0), 1e-7);
    let mut counts = [0u64; 9];
    for _ in 0..SAMPLES {
        for _ in 0..lag {
            sampler.propose();
        }
        let c = sampler.current();
        counts[3 * c[0] + c[1]] += 1;
    }
    let stationary = sampler.stationary();
    let analytic: Vec<f64> = (0..9)
        .map(|s| stationary[0][s / 3] * stationary[1][s % 3])
        .collect();
    let fit = chi_square(&counts, &analytic);
    assert!(
        fit < chi_square_critical(8),
        "chi-square {fit}, counts {counts:?}"
    );
    // Layers are independent at stationarity although their proposals are coupled.
    for (layer, stride) in [(0, 3), (1, 1)] {
        let marginal: Vec<u64> = (0..3)
            .map(|b| {
                (0..9)
                    .filter(|s| (s / stride) % 3 == b)
                    .map(|s| counts[s])
                    .sum()
            })
            .collect();
        let fit = chi_square(&marginal, &stationary[layer]);
        assert!(
            fit < chi_square_critical(2),
            "layer {layer}: chi-square {fit}"
        );
    }
}
