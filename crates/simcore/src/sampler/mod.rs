//! The AMED bit-allocation sampler: a score matrix S (layers × bit choices), its EMA update of the
//! log-objective (Eqs. 7–8), and the layerwise Metropolis–Hastings step of Algorithm 1, optionally
//! coupled across layers as in the multivariate Markov chain of Eqs. 3–6.
//!
//! # The chain
//! Layer l's proposal distribution is π_l = softmax(S_l / T). Algorithm 1 draws b* ~ π_l
//! independently of the current state b_t and accepts with probability
//! min(1, π_l(b*) / π_l(b_t)) (a ratio ≥ 1 is accepted without a draw, as in the released code).
//! That is the Hastings ratio of an independence sampler whose target is ∝ π_l², so for a fixed S
//! the stationary law of layer l is softmax(2 S_l / T) ([`Sampler::stationary`]): sharper than π_l,
//! the "exploitation" the method describes.
//!
//! # Coupling
//! With a row-stochastic λ the proposal of layer j becomes the mixture of [`coupling`]:
//! q_j = λ_jj π_j + Σ_{k≠j} λ_jk e(c_k) (copy a neighbour's bitwidth). Layers are swept in order and
//! each sees its neighbours' latest states. The acceptance keeps the same target with the full
//! Hastings ratio a = π_j(b*)² q_j(b_t) / (π_j(b_t)² q_j(b*)); it reduces to π_j(b*)/π_j(b_t) when
//! neither state carries neighbour mass, and hence to Algorithm 1 when λ = I. Because q_j does not
//! depend on layer j's own state, each layer update leaves ∏_l π_l² invariant: coupling changes how
//! the chain moves, not where it settles. λ_jj > 0 keeps every proposal full-support (irreducible).
//!
//! # Updates
//! [`Sampler::update`] applies Eq. 7 with the ΔS of Eq. 8: the caller passes the log-objective
//! r = log10(L_ref / L(b)) (plus any accuracy penalty) of an evaluated allocation b, and the entries
//! (l, b_l) receive r while every entry decays by (1 − γ). An allocation over the size cap
//! contributes per [`InfeasiblePolicy`].
//!
//! # Determinism
//! All randomness comes from one ChaCha8 stream seeded by `seed`; the state JSON stores the stream
//! position, so a restored sampler continues the exact sequence of the original. The stream is
//! portable; the softmax uses the platform's `exp`, so sequences are bit-identical on one platform
//! and may differ elsewhere only where an acceptance lands within an ulp of its threshold.

mod config;
mod coupling;
mod state;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use config::invalid;
pub use config::{InfeasiblePolicy, SamplerConfig, ScoreInit};
use coupling::Coupling;

use crate::error::Result;

/// The outcome of evaluating one allocation, as fed to [`Sampler::update`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Within the size cap; carries the log-objective r = log10(L_ref / L(b)) + penalty.
    Feasible(f64),
    /// Over the size cap (the mask of Eq. 2 is zero).
    Infeasible,
}

/// The AMED Metropolis–Hastings sampler. See the module documentation for the exact chain.
#[derive(Debug, Clone)]
pub struct Sampler {
    config: SamplerConfig,
    coupling: Option<Coupling>,
    /// S, row-major L × K.
    scores: Vec<f64>,
    /// Current MH state: a column index per layer.
    current: Vec<usize>,
    rng: ChaCha8Rng,
    steps: u64,
    updates: u64,
    accepted: u64,
    /// exp((S − rowmax) / T), row-major like S: a cache derived from S, refreshed in one pass
    /// before the first sweep after S changes (a tight loop of independent exps pipelines well).
    weights: Vec<f64>,
    /// Row sums of `weights`.
    norms: Vec<f64>,
    weights_fresh: bool,
}

impl Sampler {
    /// A fresh sampler. S₀ is drawn first from the seeded stream when `score_init` is uniform.
    pub fn new(config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let cells = config.num_layers * config.bits.len();
        let scores = match config.score_init {
            ScoreInit::Uniform => (0..cells).map(|_| rng.random::<f64>()).collect(),
            ScoreInit::Zeros => vec![0.0; cells],
        };
        let current = match &config.initial {
            Some(bits) => config.indices_of(bits, "initial")?,
            None => (0..config.num_layers)
                .map(|layer| config.widest_choice(layer))
                .collect(),
        };
        Ok(Self::assemble(config, scores, current, rng, [0, 0, 0]))
    }

    fn assemble(
        config: SamplerConfig,
        scores: Vec<f64>,
        current: Vec<usize>,
        rng: ChaCha8Rng,
        [steps, updates, accepted]: [u64; 3],
    ) -> Self {
        let coupling = config.coupling.as_deref().map(Coupling::from_matrix);
        let weights = vec![0.0; scores.len()];
        let norms = vec![0.0; config.num_layers];
        Self {
            config,
            coupling,
            scores,
            current,
            rng,
            steps,
            updates,
            accepted,
            weights,
            norms,
            weights_fresh: false,
        }
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    pub fn num_layers(&self) -> usize {
        self.config.num_layers
    }

    pub fn bits(&self) -> &[u32] {
        &self.config.bits
    }

    /// The current MH state as column indices.
    pub fn current(&self) -> &[usize] {
        &self.current
    }

    /// The current MH state as bitwidths.
    pub fn current_bits(&self) -> Vec<u32> {
        self.current.iter().map(|&i| self.config.bits[i]).collect()
    }

    /// Maps bitwidths to column indices, naming `field` in the error.
    pub fn indices_of(&self, bits: &[u32], field: &str) -> Result<Vec<usize>> {
        self.config.indices_of(bits, field)
    }

    /// Number of MH sweeps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Number of score updates applied.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// Number of accepted layer moves (a proposal equal to the current state counts as accepted).
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// S as rows, one per layer.
    pub fn scores(&self) -> Vec<Vec<f64>> {
        self.scores
            .chunks(self.config.bits.len())
            .map(<[f64]>::to_vec)
            .collect()
    }

    /// Replaces S (rows, one per layer) with an estimate made outside the sampler, e.g. a fit of
    /// the log-objective to every allocation evaluated so far. The chain's state, counters and
    /// random stream are kept; the next sweep proposes from the new S. S is left unchanged when
    /// `scores` has the wrong shape or a non-finite entry.
    pub fn set_scores(&mut self, scores: &[Vec<f64>]) -> Result<()> {
        state::check_rows(&self.config, "scores", scores)?;
        self.scores = scores.concat();
        self.weights_fresh = false;
        Ok(())
    }

    /// π_l = softmax(S_l / T) for every layer: Algorithm 1's proposal distributions.
    pub fn marginals(&self) -> Vec<Vec<f64>> {
        self.softmax_rows(1.0 / self.config.temperature)
    }

    /// The analytic stationary law of each layer for the current S: ∝ π_l², i.e. softmax(2 S_l / T).
    /// It holds with and without coupling.
    pub fn stationary(&self) -> Vec<Vec<f64>> {
        self.softmax_rows(2.0 / self.config.temperature)
    }

    fn softmax_rows(&self, scale: f64) -> Vec<Vec<f64>> {
        self.scores
            .chunks(self.config.bits.len())
            .enumerate()
            .map(|(layer, row)| {
                let max = self.row_max(layer, row);
                let w: Vec<f64> = (0..row.len())
                    .map(|i| self.masked(layer, i, ((row[i] - max) * scale).exp()))
                    .collect();
                let z: f64 = w.iter().sum();
                w.into_iter().map(|x| x / z).collect()
            })
            .collect()
    }

    /// The largest score among the columns layer `layer` may take.
    fn row_max(&self, layer: usize, row: &[f64]) -> f64 {
        (0..row.len())
            .filter(|&i| self.config.allows(layer, i))
            .map(|i| row[i])
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// `weight`, or 0 for a column outside the layer's choices (never proposed).
    fn masked(&self, layer: usize, column: usize, weight: f64) -> f64 {
        if self.config.allows(layer, column) {
            weight
        } else {
            0.0
        }
    }

    /// One Metropolis–Hastings sweep over all layers (Algorithm 1); the chain moves to the result,
    /// which is returned as column indices.
    pub fn propose(&mut self) -> &[usize] {
        if !self.weights_fresh {
            self.refresh_weights();
        }
        for layer in 0..self.config.num_layers {
            self.step_layer(layer);
        }
        self.steps += 1;
        &self.current
    }

    fn refresh_weights(&mut self) {
        let k = self.config.bits.len();
        let inv_t = 1.0 / self.config.temperature;
        let mut weights = std::mem::take(&mut self.weights);
        for (layer, (row, out)) in self.scores.chunks(k).zip(weights.chunks_mut(k)).enumerate() {
            let max = self.row_max(layer, row);
            for (i, (w, &s)) in out.iter_mut().zip(row).enumerate() {
                // exp(0) is exactly 1: the row maximum needs no call.
                let weight = if s == max {
                    1.0
                } else {
                    ((s - max) * inv_t).exp()
                };
                *w = self.masked(layer, i, weight);
            }
            self.norms[layer] = out.iter().sum();
        }
        self.weights = weights;
        self.weights_fresh = true;
    }

    fn step_layer(&mut self, layer: usize) {
        let k = self.config.bits.len();
        let weights = &self.weights[layer * k..(layer + 1) * k];
        let z = self.norms[layer];
        let (own, neighbours): (f64, &[(usize, f64)]) = match &self.coupling {
            Some(c) => (c.own[layer], &c.neighbours[layer]),
            None => (1.0, &[]),
        };
        let from = self.current[layer];
        let u: f64 = self.rng.random();
        let to = if u < own {
            categorical(weights, z, u / own)
        } else {
            pick_neighbour(neighbours, &self.current, u - own)
        };
        if neighbours.is_empty() {
            // Accept with probability min(1, π(to)/π(from)), compared without the division.
            let (w_to, w_from) = (weights[to], weights[from]);
            if w_to >= w_from || self.rng.random::<f64>() * w_from < w_to {
                self.current[layer] = to;
                self.accepted += 1;
            }
            return;
        }
        let ratio = weights[to] / weights[from];
        let a = {
            let mass = |bit: usize| -> f64 {
                neighbours
                    .iter()
                    .filter(|&&(n, _)| self.current[n] == bit)
                    .map(|&(_, w)| w)
                    .sum()
            };
            let (mass_from, mass_to) = (mass(from), mass(to));
            if mass_from == 0.0 && mass_to == 0.0 {
                ratio
            } else {
                let q_from = own * weights[from] / z + mass_from;
                let q_to = own * weights[to] / z + mass_to;
                hastings(ratio, q_from, q_to)
            }
        };
        if a >= 1.0 || self.rng.random::<f64>() < a {
            self.current[layer] = to;
            self.accepted += 1;
        }
    }

    /// Eqs. 7–8: S ← (1 − γ) S + γ ΔS with ΔS = M ⊙ r on the entries (l, allocation_l).
    pub fn update(&mut self, allocation: &[usize], outcome: Outcome) -> Result<()> {
        let k = self.config.bits.len();
        if allocation.len() != self.config.num_layers {
            return Err(invalid(
                "allocation",
                format!(
                    "has {} entries, expected one per layer ({})",
                    allocation.len(),
                    self.config.num_layers
                ),
            ));
        }
        if let Some(layer) = allocation.iter().position(|&i| i >= k) {
            return Err(invalid(
                "allocation",
                format!(
                    "layer {layer}: column {} is out of range 0..{k}",
                    allocation[layer]
                ),
            ));
        }
        if let Some(layer) = self.config.first_excluded(allocation) {
            return Err(invalid(
                "allocation",
                format!(
                    "layer {layer}: bitwidth {} is not among the layer's choices",
                    self.config.bits[allocation[layer]]
                ),
            ));
        }
        let credit = match outcome {
            Outcome::Feasible(r) if !r.is_finite() => {
                return Err(invalid(
                    "reward",
                    format!("must be a finite number, got {r}"),
                ));
            }
            Outcome::Feasible(r) => Some(r),
            Outcome::Infeasible => match self.config.infeasible {
                InfeasiblePolicy::Mask => None,
                InfeasiblePolicy::Penalty { value } => Some(-value),
            },
        };
        self.apply_update(allocation, credit);
        Ok(())
    }

    fn apply_update(&mut self, allocation: &[usize], credit: Option<f64>) {
        let k = self.config.bits.len();
        let g = self.config.ema;
        for s in &mut self.scores {
            *s *= 1.0 - g;
        }
        self.weights_fresh = false;
        if let Some(r) = credit {
            for (layer, &i) in allocation.iter().enumerate() {
                self.scores[layer * k + i] += g * r;
            }
        }
        self.updates += 1;
    }

    /// Runs `rounds` of update-then-propose against an additive per-layer reward table: the
    /// current allocation b earns r(b) = Σ_l table[l][b_l], S is updated with it and the chain
    /// takes one sweep. A cheap surrogate objective (e.g. negative per-layer latency) that keeps
    /// the whole loop in Rust.
    pub fn run_additive(&mut self, rounds: u64, table: &[Vec<f64>]) -> Result<()> {
        state::check_rows(&self.config, "table", table)?;
        let mut allocation = self.current.clone();
        for _ in 0..rounds {
            allocation.copy_from_slice(&self.current);
            let reward = allocation.iter().zip(table).map(|(&i, row)| row[i]).sum();
            self.apply_update(&allocation, Some(reward));
            self.propose();
        }
        Ok(())
    }
}

/// Draws a column with probability w_i / z from the uniform `v` ∈ [0, 1): the first column whose
/// cumulative weight exceeds v·z, found by counting (no data-dependent branches to mispredict).
fn categorical(weights: &[f64], z: f64, v: f64) -> usize {
    let target = v * z;
    let mut acc = 0.0;
    let mut below = 0;
    for &w in weights {
        acc += w;
        below += usize::from(acc <= target);
    }
    if below < weights.len() {
        below
    } else {
        // Rounding left `target` at the top of the range: take the last column with weight.
        weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
    }
}

/// Copies the state of neighbour k with probability λ_jk, from the residual uniform `v`.
fn pick_neighbour(neighbours: &[(usize, f64)], current: &[usize], v: f64) -> usize {
    let mut acc = 0.0;
    for &(k, w) in neighbours {
        acc += w;
        if v < acc {
            return current[k];
        }
    }
    neighbours.last().map_or(0, |&(k, _)| current[k])
}

/// a = (π(b*)/π(b_t))² · q(b_t)/q(b*); a vanishing π(b_t) makes any move acceptable.
fn hastings(ratio: f64, q_from: f64, q_to: f64) -> f64 {
    if ratio.is_infinite() {
        f64::INFINITY
    } else {
        ratio * ratio * q_from / q_to
    }
}
