//! Python classes for the simulator's inputs and outputs (`HwConfig`, `Layer`, `Topology`,
//! `Report`, `LayerRecord`) and `simulate`, which runs with the GIL released.

mod args;
mod hw_config;
mod json;
mod layer;
mod report;
mod topology;

use pyo3::prelude::*;

pub use hw_config::PyHwConfig;
pub use layer::PyLayer;
pub use report::{PyLayerRecord, PyReport};
pub use topology::PyTopology;

use super::errors::{internal, panic_message, IntoPyResult};
use crate::engine::{self, CompatMode};
use crate::error::{Location, SimError};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyHwConfig>()?;
    m.add_class::<PyLayer>()?;
    m.add_class::<PyTopology>()?;
    m.add_class::<PyLayerRecord>()?;
    m.add_class::<PyReport>()?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    Ok(())
}

fn parse_compat(text: &str) -> Result<CompatMode, SimError> {
    [
        CompatMode::ScalesimV3,
        CompatMode::ScalesimV2,
        CompatMode::Fixed,
    ]
    .into_iter()
    .find(|mode| report::compat_name(*mode) == text)
    .ok_or_else(|| {
        SimError::config(
            Location::field("compat"),
            format!("unknown compat mode '{text}': expected scalesim-v3, scalesim-v2 or fixed"),
        )
    })
}

/// Simulate every layer of `topology` on `hw` at native precision. The GIL is released while
/// the simulator runs, so threads may call this concurrently.
#[pyfunction]
#[pyo3(signature = (topology, hw, compat="scalesim-v3"))]
fn simulate(
    py: Python<'_>,
    topology: &PyTopology,
    hw: &PyHwConfig,
    compat: &str,
) -> PyResult<PyReport> {
    let compat = parse_compat(compat).into_py_result(py)?;
    let (topology, hw) = (&topology.inner, &hw.inner);
    let outcome = py.detach(|| {
        std::panic::catch_unwind(|| engine::simulate(topology, hw, compat))
            .map_err(|p| panic_message(p.as_ref()))
    });
    match outcome {
        Ok(result) => Ok(PyReport {
            inner: result.into_py_result(py)?,
        }),
        Err(message) => Err(internal(py, &message)),
    }
}
