//! Python binding of the bit-allocation sampler (`amed._simcore.Sampler`). Allocations cross the
//! boundary as bitwidths; the batch method releases the GIL.

use std::sync::{Mutex, MutexGuard, TryLockError};

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
///
/// A sampler may be shared between threads: calls take turns (each waits, GIL released, for
/// the one in progress).
#[pyclass(name = "Sampler", module = "amed._simcore", frozen)]
pub struct PySampler {
    inner: Mutex<Sampler>,
}

impl PySampler {
    fn wrap(sampler: Sampler) -> Self {
        Self {
            inner: Mutex::new(sampler),
        }
    }

    /// The sampler, once no other thread is using it; waits without holding the GIL, so the
    /// holder (which may itself be waiting for the GIL) can finish.
    fn lock(&self, py: Python<'_>) -> MutexGuard<'_, Sampler> {
        loop {
            match self.inner.try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => py.detach(|| {
                    drop(self.inner.lock());
                }),
            }
        }
    }
}

#[pymethods]
impl PySampler {
    #[new]
    #[pyo3(signature = (
        num_layers, bits = vec![2, 3, 4, 8], *, seed = 0, temperature = 1.0, ema = 0.01,
        score_init = "uniform", initial = None, infeasible_penalty = None, coupling = None,
        choices = None
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
        choices: Option<Vec<Vec<i128>>>,
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
                    choices: choices
                        .map(|rows| rows.iter().map(|row| bits_arg(row, "choices")).collect())
                        .transpose()?,
                };
                Sampler::new(config)
            };
            Ok(Self::wrap(build().into_py_result(py)?))
        })
    }

    /// Restores a sampler saved with `state_json()`; it continues the same sequence.
    #[staticmethod]
    fn from_state_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        guard(py, || {
            Ok(Self::wrap(
                Sampler::from_state_json(text).into_py_result(py)?,
            ))
        })
    }

    /// The whole state (config, scores, chain state, counters, RNG position) as JSON.
    fn state_json(&self, py: Python<'_>) -> PyResult<String> {
        guard(py, || self.lock(py).state_json().into_py_result(py))
    }

    /// One Metropolis–Hastings sweep over all layers; returns the new allocation as bitwidths.
    fn propose(&self, py: Python<'_>) -> PyResult<Vec<u32>> {
        guard(py, || {
            let mut inner = self.lock(py);
            inner.propose();
            Ok(inner.current_bits())
        })
    }

    /// Credits an evaluated allocation (bitwidths per layer) with its log-objective `reward`
    /// (Eqs. 7–8). An allocation over the size cap passes `feasible=False`; its reward is ignored.
    #[pyo3(signature = (allocation, reward, feasible = true))]
    fn update(
        &self,
        py: Python<'_>,
        allocation: Vec<i128>,
        reward: Option<f64>,
        feasible: bool,
    ) -> PyResult<()> {
        guard(py, || {
            let mut inner = self.lock(py);
            let mut apply = || -> Result<(), SimError> {
                let indices =
                    inner.indices_of(&bits_arg(&allocation, "allocation")?, "allocation")?;
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
                inner.update(&indices, outcome)
            };
            apply().into_py_result(py)
        })
    }

    /// Runs `rounds` of update-then-propose against an additive reward table (one row per layer,
    /// one column per bitwidth) entirely in Rust with the GIL released.
    fn run_additive(&self, py: Python<'_>, rounds: i128, table: Vec<Vec<f64>>) -> PyResult<()> {
        guard(py, || {
            let rounds = count_arg(rounds, "rounds").into_py_result(py)?;
            let mut guard = self.lock(py);
            let inner: &mut Sampler = &mut guard;
            py.detach(|| inner.run_additive(rounds, &table))
                .into_py_result(py)
        })
    }

    /// Replaces the score matrix S (one row per layer, one entry per bitwidth); the chain's state
    /// and random stream are kept. A wrong shape or a non-finite entry raises and changes nothing.
    fn set_scores(&self, py: Python<'_>, scores: Vec<Vec<f64>>) -> PyResult<()> {
        guard(py, || self.lock(py).set_scores(&scores).into_py_result(py))
    }

    /// π_l = softmax(S_l / T) per layer: the proposal distributions.
    fn marginals(&self, py: Python<'_>) -> Vec<Vec<f64>> {
        self.lock(py).marginals()
    }

    /// The analytic stationary law per layer for the current scores: softmax(2 S_l / T).
    fn stationary(&self, py: Python<'_>) -> Vec<Vec<f64>> {
        self.lock(py).stationary()
    }

    /// The score matrix S, one row per layer.
    fn scores(&self, py: Python<'_>) -> Vec<Vec<f64>> {
        self.lock(py).scores()
    }

    /// The current allocation as bitwidths.
    #[getter]
    fn current(&self, py: Python<'_>) -> Vec<u32> {
        self.lock(py).current_bits()
    }

    #[getter]
    fn num_layers(&self, py: Python<'_>) -> usize {
        self.lock(py).num_layers()
    }

    #[getter]
    fn bits(&self, py: Python<'_>) -> Vec<u32> {
        self.lock(py).bits().to_vec()
    }

    #[getter]
    fn temperature(&self, py: Python<'_>) -> f64 {
        self.lock(py).config().temperature
    }

    #[getter]
    fn ema(&self, py: Python<'_>) -> f64 {
        self.lock(py).config().ema
    }

    #[getter]
    fn seed(&self, py: Python<'_>) -> u64 {
        self.lock(py).config().seed
    }

    /// Number of MH sweeps taken.
    #[getter]
    fn steps(&self, py: Python<'_>) -> u64 {
        self.lock(py).steps()
    }

    /// Number of score updates applied.
    #[getter]
    fn updates(&self, py: Python<'_>) -> u64 {
        self.lock(py).updates()
    }

    /// Number of accepted layer moves.
    #[getter]
    fn accepted(&self, py: Python<'_>) -> u64 {
        self.lock(py).accepted()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let inner = self.lock(py);
        format!(
            "Sampler(num_layers={}, bits={:?}, temperature={}, ema={}, seed={}, steps={})",
            inner.num_layers(),
            inner.bits(),
            inner.config().temperature,
            inner.config().ema,
            inner.config().seed,
            inner.steps()
        )
    }
}
