//! The only place that touches PyO3: exceptions, wrappers and the `amed._simcore` module.
//! Each submodule registers its own classes and functions.

use pyo3::prelude::*;

#[pymodule]
fn _simcore(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
