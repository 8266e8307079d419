//! The sampler's complete state as JSON, for checkpoints and exact resumption.

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::config::invalid;
use super::{Sampler, SamplerConfig};
use crate::error::Result;

/// Identifies the layout below; bumped on any incompatible change.
const FORMAT: &str = "amed-sampler-state/1";

/// Everything a sampler needs to continue exactly where it stopped. The RNG is stored as ChaCha's
/// (seed, stream, word position), a stable serialisation independent of buffering.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SamplerState {
    format: String,
    config: SamplerConfig,
    scores: Vec<Vec<f64>>,
    /// The current MH state as bitwidths.
    current: Vec<u32>,
    steps: u64,
    updates: u64,
    accepted: u64,
    rng: ChaCha8Rng,
}

impl Sampler {
    /// The whole state as a JSON document. Floats are written in shortest round-trip form.
    pub fn state_json(&self) -> Result<String> {
        let state = SamplerState {
            format: FORMAT.to_string(),
            config: self.config.clone(),
            scores: self.scores(),
            current: self.current_bits(),
            steps: self.steps,
            updates: self.updates,
            accepted: self.accepted,
            rng: self.rng.clone(),
        };
        serde_json::to_string(&state)
            .map_err(|e| invalid("state", format!("cannot serialise the sampler state: {e}")))
    }

    /// Restores a sampler from [`Sampler::state_json`]; it continues the original's sequence
    /// bit for bit. Every part of the document is validated.
    pub fn from_state_json(json: &str) -> Result<Self> {
        let state: SamplerState = serde_json::from_str(json).map_err(|e| {
            invalid(
                "state",
                format!("not a sampler state document: {e} (line {})", e.line()),
            )
        })?;
        if state.format != FORMAT {
            return Err(invalid(
                "format",
                format!(
                    "unsupported state format {:?}, expected {FORMAT:?}",
                    state.format
                ),
            ));
        }
        state.config.validate()?;
        check_rows(&state.config, "scores", &state.scores)?;
        let current = state.config.indices_of(&state.current, "current")?;
        let scores = state.scores.concat();
        Ok(Self::assemble(
            state.config,
            scores,
            current,
            state.rng,
            [state.steps, state.updates, state.accepted],
        ))
    }
}

/// `rows` as a layers × bitwidths matrix for `config` (a score matrix or a reward table): one
/// row per layer, one finite entry per bitwidth; errors name `field`.
pub(super) fn check_rows(config: &SamplerConfig, field: &str, rows: &[Vec<f64>]) -> Result<()> {
    let (layers, k) = (config.num_layers, config.bits.len());
    if rows.len() != layers {
        return Err(invalid(
            field,
            format!("has {} rows, expected {layers}", rows.len()),
        ));
    }
    for (layer, row) in rows.iter().enumerate() {
        if row.len() != k {
            return Err(invalid(
                field,
                format!("row {layer} has {} entries, expected {k}", row.len()),
            ));
        }
        if row.iter().any(|s| !s.is_finite()) {
            return Err(invalid(
                field,
                format!("row {layer} has a non-finite entry"),
            ));
        }
    }
    Ok(())
}
