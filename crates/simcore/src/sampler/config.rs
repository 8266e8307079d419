//! The sampler's hyper-parameters and their validation.

use serde::{Deserialize, Serialize};

use crate::error::{Location, Result, SimError};

/// Upper bounds that keep S's allocation sane; far above any real network or bit set.
const MAX_LAYERS: usize = 1 << 20;
const MAX_CHOICES: usize = 64;

/// How the score matrix S starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreInit {
    /// S₀ ~ U(0,1) entrywise, drawn from the sampler's seeded stream (the released code's choice).
    #[default]
    Uniform,
    /// S₀ = 0: every layer starts with the uniform proposal.
    Zeros,
}

/// What a sample that breaks the size cap contributes to the score matrix.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum InfeasiblePolicy {
    /// Eq. 8 read literally: the size mask zeroes ΔS, so the EMA step only decays S toward 0.
    #[default]
    Mask,
    /// The entries used receive ΔS = −value (value ≥ 0), actively steering away from them.
    Penalty { value: f64 },
}

/// Everything that fixes a sampler's behaviour. Together with the seed it determines the whole
/// sequence of proposals for a given sequence of updates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplerConfig {
    /// Number of quantised layers L (rows of S).
    pub num_layers: usize,
    /// Candidate bitwidths; column i of S belongs to `bits[i]`.
    pub bits: Vec<u32>,
    /// Softmax temperature T > 0: π_l = softmax(S_l / T).
    pub temperature: f64,
    /// EMA weight γ ∈ (0, 1] of Eq. 7.
    pub ema: f64,
    /// Seed of the ChaCha8 stream that drives initialisation, proposals and acceptances.
    pub seed: u64,
    pub score_init: ScoreInit,
    /// Initial MH state as bitwidths per layer; `None` starts every layer at the widest bitwidth
    /// among its choices (uniform 8 bit for {2,3,4,8}), the model the search actually begins from.
    pub initial: Option<Vec<u32>>,
    pub infeasible: InfeasiblePolicy,
    /// Row-stochastic L×L mixing weights λ of the multivariate chain (Eqs. 3–6). `None` is the
    /// plain per-layer chain, the same as the identity.
    pub coupling: Option<Vec<Vec<f64>>>,
    /// The bitwidths each layer may take, a subset of `bits` per layer (a width the hardware runs
    /// no faster than a wider one only costs accuracy). `None`: every layer may take every width.
    #[serde(default)]
    pub choices: Option<Vec<Vec<u32>>>,
}

impl SamplerConfig {
    /// The defaults recovered from the method: bits {2,3,4,8}, T = 1, γ = 0.01, S₀ ~ U(0,1),
    /// all layers starting at 8 bit, the literal size mask and no coupling.
    pub fn new(num_layers: usize) -> Self {
        Self {
            num_layers,
            bits: vec![2, 3, 4, 8],
            temperature: 1.0,
            ema: 0.01,
            seed: 0,
            score_init: ScoreInit::Uniform,
            initial: None,
            infeasible: InfeasiblePolicy::Mask,
            coupling: None,
            choices: None,
        }
    }

    /// Checks every field; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_LAYERS).contains(&self.num_layers) {
            return Err(invalid(
                "num_layers",
                format!("must lie in 1..={MAX_LAYERS}, got {}", self.num_layers),
            ));
        }
        if self.bits.len() > MAX_CHOICES {
            return Err(invalid(
                "bits",
                format!("at most {MAX_CHOICES} bitwidths, got {}", self.bits.len()),
            ));
        }
        if self.bits.is_empty() {
            return Err(invalid(
                "bits",
                "the set of candidate bitwidths is empty".to_string(),
            ));
        }
        for (i, &b) in self.bits.iter().enumerate() {
            if b == 0 {
                return Err(invalid("bits", format!("bitwidth at position {i} is 0")));
            }
            if self.bits[..i].contains(&b) {
                return Err(invalid("bits", format!("bitwidth {b} appears twice")));
            }
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(invalid(
                "temperature",
                format!("must be a positive finite number, got {}", self.temperature),
            ));
        }
        if !(self.ema > 0.0 && self.ema <= 1.0) {
            return Err(invalid(
                "ema",
                format!("must lie in (0, 1], got {}", self.ema),
            ));
        }
        if let Some(choices) = &self.choices {
            self.validate_choices(choices)?;
        }
        if let Some(initial) = &self.initial {
            let columns = self.indices_of(initial, "initial")?;
            if let Some(layer) = self.first_excluded(&columns) {
                return Err(invalid(
                    "initial",
                    format!(
                        "layer {layer}: bitwidth {} is not among the layer's choices",
                        initial[layer]
                    ),
                ));
            }
        }
        if let InfeasiblePolicy::Penalty { value } = self.infeasible {
            if !(value.is_finite() && value >= 0.0) {
                return Err(invalid(
                    "infeasible.value",
                    format!("the penalty must be finite and non-negative, got {value}"),
                ));
            }
        }
        if let Some(lambda) = &self.coupling {
            self.validate_coupling(lambda)?;
        }
        Ok(())
    }

    /// Maps bitwidths to column indices of S; `field` names the input in the error.
    pub fn indices_of(&self, bits: &[u32], field: &str) -> Result<Vec<usize>> {
        if bits.len() != self.num_layers {
            return Err(invalid(
                field,
                format!(
                    "has {} entries, expected one per layer ({})",
                    bits.len(),
                    self.num_layers
                ),
            ));
        }
        bits.iter()
            .enumerate()
            .map(|(layer, b)| {
                self.bits.iter().position(|c| c == b).ok_or_else(|| {
                    invalid(
                        field,
                        format!("layer {layer}: bitwidth {b} is not one of {:?}", self.bits),
                    )
                })
            })
            .collect()
    }

    /// Whether layer `layer` may take column `column` of S.
    pub(crate) fn allows(&self, layer: usize, column: usize) -> bool {
        self.choices
            .as_ref()
            .map_or(true, |rows| rows[layer].contains(&self.bits[column]))
    }

    /// The first layer whose column is not among its choices.
    pub(crate) fn first_excluded(&self, columns: &[usize]) -> Option<usize> {
        (0..columns.len()).find(|&layer| !self.allows(layer, columns[layer]))
    }

    /// The column of the widest bitwidth layer `layer` may take.
    pub(crate) fn widest_choice(&self, layer: usize) -> usize {
        (0..self.bits.len())
            .filter(|&i| self.allows(layer, i))
            .max_by_key(|&i| self.bits[i])
            .unwrap_or(0)
    }

    fn validate_choices(&self, choices: &[Vec<u32>]) -> Result<()> {
        if choices.len() != self.num_layers {
            return Err(invalid(
                "choices",
                format!(
                    "has {} rows, expected one per layer ({})",
                    choices.len(),
                    self.num_layers
                ),
            ));
        }
        for (layer, row) in choices.iter().enumerate() {
            if row.is_empty() {
                return Err(invalid("choices", format!("layer {layer} has no bitwidth")));
            }
            for (i, b) in row.iter().enumerate() {
                if !self.bits.contains(b) {
                    return Err(invalid(
                        "choices",
                        format!("layer {layer}: bitwidth {b} is not one of {:?}", self.bits),
                    ));
                }
                if row[..i].contains(b) {
                    return Err(invalid(
                        "choices",
                        format!("layer {layer}: bitwidth {b} appears twice"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_coupling(&self, lambda: &[Vec<f64>]) -> Result<()> {
        let n = self.num_layers;
        if lambda.len() != n {
            return Err(invalid(
                "coupling",
                format!("has {} rows, expected {n}", lambda.len()),
            ));
        }
        for (j, row) in lambda.iter().enumerate() {
            if row.len() != n {
                return Err(invalid(
                    "coupling",
                    format!("row {j} has {} entries, expected {n}", row.len()),
                ));
            }
            if let Some(k) = row.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
                return Err(invalid(
                    "coupling",
                    format!(
                        "entry ({j}, {k}) = {} is not a finite non-negative weight",
                        row[k]
                    ),
                ));
            }
            // λ_jj > 0 keeps every bitwidth proposable, so the chain stays irreducible.
            if row[j] <= 0.0 {
                return Err(invalid(
                    "coupling",
                    format!("diagonal entry ({j}, {j}) must be > 0"),
                ));
            }
            let sum: f64 = row.iter().sum();
            if (sum - 1.0).abs() > 1e-9 {
                return Err(invalid(
                    "coupling",
                    format!("row {j} sums to {sum}, expected 1"),
                ));
            }
        }
        Ok(())
    }
}

pub(crate) fn invalid(field: &str, message: String) -> SimError {
    SimError::sampler(Location::field(field), message)
}
