//! The one mapping point from `SimError` (and from Rust panics) to the `amed.errors`
//! exception classes, which are defined in Python so that users catch the very same objects.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::{Location, SimError};

/// Builds `amed.errors.<class_name>(message, file=, line=, field=, **extra)` as a `PyErr`.
fn amed_error(
    py: Python<'_>,
    class_name: &str,
    message: &str,
    location: &Location,
    errno: Option<i32>,
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let class = py.import("amed.errors")?.getattr(class_name)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item(
            "file",
            location.file.as_ref().map(|f| f.display().to_string()),
        )?;
        kwargs.set_item("line", location.line)?;
        kwargs.set_item("field", location.field.as_deref())?;
        if let Some(errno) = errno {
            kwargs.set_item("errno", errno)?;
        }
        Ok(PyErr::from_value(class.call((message,), Some(&kwargs))?))
    };
    // Without the amed package there is no better class to raise than RuntimeError.
    build().unwrap_or_else(|e| {
        PyRuntimeError::new_err(format!("{message} (and amed.errors failed: {e})"))
    })
}

/// Converts a `SimError` into the matching `amed.errors` exception.
pub fn to_py(py: Python<'_>, error: &SimError) -> PyErr {
    let message = error.to_string();
    match error {
        SimError::Io { path, source } | SimError::Write { path, source } => {
            let location = Location::in_file(path);
            amed_error(
                py,
                "AmedIOError",
                &message,
                &location,
                source.raw_os_error(),
            )
        }
        SimError::Config { location, .. } => {
            amed_error(py, "ConfigError", &message, location, None)
        }
        SimError::Topology { location, .. } => {
            amed_error(py, "TopologyError", &message, location, None)
        }
        SimError::Allocation { location, .. } => {
            amed_error(py, "AllocationError", &message, location, None)
        }
        SimError::Sampler { location, .. } => {
            amed_error(py, "SamplerError", &message, location, None)
        }
        SimError::Resource { location, .. } => {
            amed_error(py, "ResourceLimitError", &message, location, None)
        }
        SimError::Interrupted => PyKeyboardInterrupt::new_err(message),
    }
}

/// An `AmedError` for a failure that is not the caller's input (a bug in amed).
pub fn internal(py: Python<'_>, message: &str) -> PyErr {
    amed_error(py, "AmedError", message, &Location::default(), None)
}

/// Extension for turning `Result<T, SimError>` into `PyResult<T>`.
pub trait IntoPyResult<T> {
    fn into_py_result(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, SimError> {
    fn into_py_result(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, &e))
    }
}

/// Runs Rust code called from Python so that a panic becomes an `AmedError` instead of
/// crossing the FFI boundary as PyO3's `PanicException`.
pub fn guard<T>(py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(internal(py, &panic_message(payload.as_ref()))))
}

/// The panic's message, for the error text.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("internal error in amed's simulator core (please report it): {detail}")
}
