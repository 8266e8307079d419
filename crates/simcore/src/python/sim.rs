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

use super::errors::IntoPyResult;
use super::run::interruptible_with_progress;
use crate::compat::CompatMode;
use crate::engine;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyHwConfig>()?;
    m.add_class::<PyLayer>()?;
    m.add_class::<PyTopology>()?;
    m.add_class::<PyLayerRecord>()?;
    m.add_class::<PyReport>()?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    Ok(())
}

/// Simulate every layer of `topology` on `hw` at native precision. The GIL is released while
/// the simulator runs, so threads may call this concurrently. `progress`, if given, is called
/// as `progress(done, total)` every 100 ms while it runs (layers done, as a float, of `total`).
#[pyfunction]
#[pyo3(signature = (topology, hw, compat="scalesim-v3", progress=None))]
fn simulate(
    py: Python<'_>,
    topology: &PyTopology,
    hw: &PyHwConfig,
    compat: &str,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyReport> {
    let compat = CompatMode::parse(compat).into_py_result(py)?;
    let (topology, hw) = (&topology.inner, &hw.inner);
    let inner = interruptible_with_progress(py, progress, |interrupt| {
        engine::simulate_with(topology, hw, compat, interrupt)
    })?;
    Ok(PyReport { inner })
}
