//! The only place that touches PyO3: the `amed._simcore` module. Each submodule registers its
//! own classes and functions; `errors` is the single mapping from `SimError` to Python.

mod cost;
mod errors;
mod run;
mod sampler;
mod sim;

use pyo3::prelude::*;

#[pymodule]
fn _simcore(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    sim::register(m)?;
    sampler::register(m)?;
    cost::register(m)?;
    Ok(())
}
