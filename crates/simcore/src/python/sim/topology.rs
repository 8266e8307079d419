//! `Topology`: an ordered list of layers, from layers or a SCALE-Sim CSV.

use std::path::PathBuf;

use pyo3::prelude::*;

use super::args::{str_arg, Input};
use super::json;
use super::layer::PyLayer;
use crate::error::{Location, SimError};
use crate::python::errors::{guard, to_py, IntoPyResult};
use crate::topology::Topology;

/// An ordered list of named layers.
#[pyclass(name = "Topology", module = "amed._simcore", frozen, eq, sequence)]
#[derive(Clone, PartialEq)]
pub struct PyTopology {
    pub inner: Topology,
}

#[pymethods]
impl PyTopology {
    #[new]
    fn new(py: Python<'_>, name: &Bound<'_, PyAny>, layers: &Bound<'_, PyAny>) -> PyResult<Self> {
        let name = guard(py, || {
            str_arg(name, "name", Input::Topology).into_py_result(py)
        })?;
        let mut items = Vec::new();
        let not_a_list = |_| {
            let message = format!("expected a list of Layer, found {layers}");
            let error = SimError::topology(Location::field("layers"), message);
            to_py(py, &error)
        };
        for (index, item) in layers.try_iter().map_err(not_a_list)?.enumerate() {
            let item = item?;
            let layer = item.cast::<PyLayer>().map_err(|_| {
                let message = format!("expected a Layer, found {item}");
                to_py(
                    py,
                    &SimError::topology(Location::field(format!("layers[{index}]")), message),
                )
            })?;
            items.push(layer.get().inner.clone());
        }
        guard(py, || {
            Ok(Self {
                inner: Topology::new(name, items).into_py_result(py)?,
            })
        })
    }

    /// Read a SCALE-Sim topology CSV (`gemm=True` for the `name, M, N, K,` form).
    #[staticmethod]
    #[pyo3(signature = (path, gemm=false))]
    fn from_csv(py: Python<'_>, path: PathBuf, gemm: bool) -> PyResult<Self> {
        guard(py, || {
            Ok(Self {
                inner: Topology::from_csv(&path, gemm).into_py_result(py)?,
            })
        })
    }

    /// Parse CSV text as `from_csv` would read it from a file.
    #[staticmethod]
    #[pyo3(signature = (text, gemm=false, name="topology"))]
    fn from_csv_text(py: Python<'_>, text: &str, gemm: bool, name: &str) -> PyResult<Self> {
        guard(py, || {
            let mut inner = Topology::from_csv_str(text, None, gemm).into_py_result(py)?;
            inner.name = name.to_owned();
            Ok(Self { inner })
        })
    }

    /// The topology as JSON; `Topology.from_json` reads it back.
    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        guard(py, || json::to_json(&self.inner).into_py_result(py))
    }

    /// A topology from `to_json` text, validated like every other constructor.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        guard(py, || {
            let read = || {
                let parsed: Topology = json::from_json(text, "topology")?;
                Topology::new(parsed.name, parsed.layers)
            };
            Ok(Self {
                inner: read().into_py_result(py)?,
            })
        })
    }

    /// Pickles through the JSON form.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let text = slf.get().to_json(slf.py())?;
        Ok((slf.get_type().getattr("from_json")?, (text,)))
    }

    /// Write the topology as CSV (GEMM-only topologies in the GEMM form).
    fn to_csv(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        guard(py, || self.inner.to_csv(&path).into_py_result(py))
    }

    /// The CSV text `to_csv` writes.
    fn to_csv_text(&self, py: Python<'_>) -> PyResult<String> {
        guard(py, || self.inner.to_csv_string().into_py_result(py))
    }

    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    #[getter]
    fn layers(&self) -> Vec<PyLayer> {
        self.inner
            .layers
            .iter()
            .map(|l| PyLayer { inner: l.clone() })
            .collect()
    }
    #[getter]
    fn names(&self) -> Vec<String> {
        self.inner.layers.iter().map(|l| l.name.clone()).collect()
    }
    #[getter]
    fn total_macs(&self) -> u64 {
        self.inner.total_macs()
    }
    /// True when every layer is a GEMM (`to_csv` then writes the GEMM form).
    #[getter]
    fn is_gemm(&self) -> bool {
        self.inner.is_gemm()
    }

    fn __len__(&self) -> usize {
        self.inner.layers.len()
    }

    fn __getitem__(&self, index: isize) -> PyResult<PyLayer> {
        let len = self.inner.layers.len() as isize;
        let i = if index < 0 { index + len } else { index };
        if !(0..len).contains(&i) {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "layer index {index} out of range"
            )));
        }
        Ok(PyLayer {
            inner: self.inner.layers[i as usize].clone(),
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "Topology({:?}, {} layers)",
            self.inner.name,
            self.inner.layers.len()
        )
    }
}
