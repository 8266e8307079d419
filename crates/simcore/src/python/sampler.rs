//! Python binding of the bit-allocation sampler (`amed._simcore.Sampler`). Allocations cross the
//! boundary as bitwidths; the batch method releases the GIL.

use pyo3::prelude::*;

use super::errors::{guard, IntoPyResult};
use crate::error::{Location, SimError};
use crate::sampler::{InfeasiblePolicy, Outcome, Sampler, SamplerConfig, ScoreInit};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySampler>()
}

fn bad(field: &str, message: String) -> SimError {
    SimError::sampler(Location::field(field), message)
}

/// A non-negative Python int that fits `u64`, or a `SamplerError` naming the argument.
fn count_arg(value: i128, field: &str) -> Result<u64, SimError> {
    u64::try_from(value).map_err(|_| {
        bad(
            field,
            format!("must be a non-negative integer, got {value}"),
        )
    })
}

fn bits_arg(values: &[i128], field: &str) -> Result<Vec<u32>, SimError> {
    values
        .iter()
        .map(|&b| u32::try_from(b).map_err(|_| bad(field, format!("{b} is not a valid bitwidth"))))
        .collect()
}

/// The AMED Metropolis–Hastings bit-allocation sampler (score matrix, EMA update, layerwise MH).
///
/// Allocations are bitwidths per layer. The AMED loop (Algorithm 2)::
///
///     sampler = Sampler(num_layers, seed=0)        # the chain starts at uniform 8 bit
///     bits = sampler.current
///     for _ in range(rounds):
///         ev = objective.evaluate(...)             # fine-tune and measure `bits`
///         sampler.update(bits, ev.value, ev.feasible)
///         bits = sampler.propose()
///
/// `state_json()` / `Sampler.from_state_json()` checkpoint and resume the exact sequence.
#[pyclass(name = "Sampler", module = "amed._simcore")]
pub struct PySampler {
    inner: Sampler,
}

#[pymethods]
impl PySampler {
    #[new]
    #[pyo3(signature = (
        num_layers, bits = vec![2, 3, 4, 8], *, seed = 0, temperature = 1.0, ema = 0.01,
        score_init = "uniform", initial = None, infeasible_penalty = None, coupling = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        num_layers: i128,
        bits: Vec<i128>,
        seed: i128,
        temperature: f64,
        ema: f64,
        score_init: &str,
        initial: Option<Vec<i128>>,
        infeasible_penalty: Option<f64>,
        coupling: Option<Vec<Vec<f64>>>,
    ) -> PyResult<Self> {
        guard(py, || {
            let build = || -> Result<Sampler, SimError> {
                let num_layers = usize::try_from(count_arg(num_layers, "num_layers")?)
                    .map_err(|_| bad("num_layers", format!("{num_layers} is too large")))?;
                let score_init = match score_init {
                    "uniform" => ScoreInit::Uniform,
                    "zeros" => ScoreInit::Zeros,
                    other => {
                        return Err(bad(
                            "score_init",
                            format!("expected 'uniform' or 'zeros', got {other:?}"),
                        ))
                    }
                };
                let config = SamplerConfig {
                    num_layers,
                    bits: bits_arg(&bits, "bits")?,
                    temperature,
                    ema,
                    seed: count_arg(seed, "seed")?,
                    score_init,
                    initial: initial
                        .as_deref()
                        .map(|b| bits_arg(b, "initial"))
                        .transpose()?,
                    infeasible: infeasible_penalty.map_or(InfeasiblePolicy::Mask, |value| {
                        InfeasiblePolicy::Penalty { value }
                    }),
                    coupling,
                };
                Sampler::new(config)
            };
            Ok(Self {
                inner: build().into_py_result(py)?,
            })
        })
    }

    /// Restores a sampler saved with `state_json()`; it continues the same sequence.
    #[staticmethod]
    fn from_state_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        guard(py, || {
            Ok(Self {
                inner: Sampler::from_state_json(text).into_py_result(py)?,
            })
        })
    }

    /// The whole state (config, scores, chain state, counters, RNG position) as JSON.
    fn state_json(&self, py: Python<'_>) -> PyResult<String> {
        guard(py, || self.inner.state_json().into_py_result(py))
    }

    /// One Metropolis–Hastings sweep over all layers; returns the new allocation as bitwidths.
    fn propose(&mut self, py: Python<'_>) -> PyResult<Vec<u32>> {
        guard(py, || {
            self.inner.propose();
            Ok(self.inner.current_bits())
        })
    }

    /// Credits an evaluated allocation (bitwidths per layer) with its log-objective `reward`
    /// (Eqs. 7–8). An allocation over the size cap passes `feasible=False`; its reward is ignored.
    #[pyo3(signature = (allocation, reward, feasible = true))]
    fn update(
        &mut self,
        py: Python<'_>,
        allocation: Vec<i128>,
        reward: Option<f64>,
        feasible: bool,
    ) -> PyResult<()> {
        guard(py, || {
            let mut apply = || -> Result<(), SimError> {
                let indices = self
                    .inner
                    .indices_of(&bits_arg(&allocation, "allocation")?, "allocation")?;
                let outcome = match (feasible, reward) {
                    (_, Some(r)) if r.is_nan() => return Err(bad("reward", "is NaN".to_string())),
                    (true, Some(r)) => Outcome::Feasible(r),
                    (true, None) => {
                        return Err(bad(
                            "reward",
                            "a feasible allocation needs a reward".to_string(),
                        ))
                    }
                    (false, _) => Outcome::Infeasible,
                };
                self.inner.update(&indices, outcome)
            };
            apply().into_py_result(py)
        })
    }

    /// Runs `rounds` of update-then-propose against an additive reward table (one row per layer,
    /// one column per bitwidth) entirely in Rust with the GIL released.
    fn run_additive(&mut self, py: Python<'_>, rounds: i128, table: Vec<Vec<f64>>) -> PyResult<()> {
        guard(py, || {
            let rounds = count_arg(rounds, "rounds").into_py_result(py)?;
            let inner = &mut self.inner;
            py.detach(|| inner.run_additive(rounds, &table))
                .into_py_result(py)
        })
    }

    /// π_l = softmax(S_l / T) per layer: the proposal distributions.
    fn marginals(&self) -> Vec<Vec<f64>> {
        self.inner.marginals()
    }

    /// The analytic stationary law per layer for the current scores: softmax(2 S_l / T).
    fn stationary(&self) -> Vec<Vec<f64>> {
        self.inner.stationary()
    }

    /// The score matrix S, one row per layer.
    fn scores(&self) -> Vec<Vec<f64>> {
        self.inner.scores()
    }

    /// The current allocation as bitwidths.
    #[getter]
    fn current(&self) -> Vec<u32> {
        self.inner.current_bits()
    }

    #[getter]
    fn num_layers(&self) -> usize {
        self.inner.num_layers()
    }

    #[getter]
    fn bits(&self) -> Vec<u32> {
        self.inner.bits().to_vec()
    }

    #[getter]
    fn temperature(&self) -> f64 {
        self.inner.config().temperature
    }

    #[getter]
    fn ema(&self) -> f64 {
        self.inner.config().ema
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.inner.config().seed
    }

    /// Number of MH sweeps taken.
    #[getter]
    fn steps(&self) -> u64 {
        self.inner.steps()
    }

    /// Number of score updates applied.
    #[getter]
    fn updates(&self) -> u64 {
        self.inner.updates()
    }

    /// Number of accepted layer moves.
    #[getter]
    fn accepted(&self) -> u64 {
        self.inner.accepted()
    }

    fn __repr__(&self) -> String {
        format!(
            "Sampler(num_layers={}, bits={:?}, temperature={}, ema={}, seed={}, steps={})",
            self.inner.num_layers(),
            self.inner.bits(),
            self.inner.config().temperature,
            self.inner.config().ema,
            self.inner.config().seed,
            self.inner.steps()
        )
    }
}
