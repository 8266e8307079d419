//! `Layer`: a dense, depthwise or grouped convolution, or a GEMM, built from Python values.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::args::{int_arg, str_arg, Input};
use super::json;
use crate::error::{Location, SimError};
use crate::python::errors::{guard, IntoPyResult};
use crate::topology::{ConvShape, Layer, LayerKind};

/// One layer: a dense, depthwise or grouped convolution, or a GEMM.
#[pyclass(name = "Layer", module = "amed._simcore", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyLayer {
    pub inner: Layer,
}

/// The conv arguments, converted and checked; strides default to 1 and `stride_w` to `stride_h`.
fn conv_shape(
    dims: [&Bound<'_, PyAny>; 6],
    stride_h: Option<&Bound<'_, PyAny>>,
    stride_w: Option<&Bound<'_, PyAny>>,
) -> Result<ConvShape, SimError> {
    let dim = |v: &Bound<'_, PyAny>, field: &str| int_arg(v, field, u64::MAX, Input::Topology);
    let [ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters] = dims;
    let stride_h = stride_h
        .map(|s| dim(s, "stride_h"))
        .transpose()?
        .unwrap_or(1);
    Ok(ConvShape {
        ifmap_h: dim(ifmap_h, "ifmap_h")?,
        ifmap_w: dim(ifmap_w, "ifmap_w")?,
        filter_h: dim(filter_h, "filter_h")?,
        filter_w: dim(filter_w, "filter_w")?,
        channels: dim(channels, "channels")?,
        num_filters: dim(num_filters, "num_filters")?,
        stride_h,
        stride_w: stride_w
            .map(|s| dim(s, "stride_w"))
            .transpose()?
            .unwrap_or(stride_h),
    })
}

/// Converts the layer's name and shape, then validates the layer with `make`.
fn make_layer(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    dims: [&Bound<'_, PyAny>; 6],
    stride_h: Option<&Bound<'_, PyAny>>,
    stride_w: Option<&Bound<'_, PyAny>>,
    make: impl FnOnce(String, ConvShape) -> Result<Layer, SimError>,
) -> PyResult<PyLayer> {
    guard(py, || {
        let build = || {
            let name = str_arg(name, "name", Input::Topology)?;
            make(name, conv_shape(dims, stride_h, stride_w)?)
        };
        Ok(PyLayer {
            inner: build().into_py_result(py)?,
        })
    })
}

#[pymethods]
impl PyLayer {
    /// A dense convolution. Padding is not modelled: give the padded input size.
    #[staticmethod]
    #[pyo3(signature = (name, ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride_h=None, stride_w=None))]
    #[allow(clippy::too_many_arguments)]
    fn conv(
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        ifmap_h: &Bound<'_, PyAny>,
        ifmap_w: &Bound<'_, PyAny>,
        filter_h: &Bound<'_, PyAny>,
        filter_w: &Bound<'_, PyAny>,
        channels: &Bound<'_, PyAny>,
        num_filters: &Bound<'_, PyAny>,
        stride_h: Option<&Bound<'_, PyAny>>,
        stride_w: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let dims = [ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters];
        make_layer(py, name, dims, stride_h, stride_w, Layer::conv)
    }

    /// A depthwise convolution: `num_filters` = channels x multiplier.
    #[staticmethod]
    #[pyo3(signature = (name, ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride_h=None, stride_w=None))]
    #[allow(clippy::too_many_arguments)]
    fn depthwise(
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        ifmap_h: &Bound<'_, PyAny>,
        ifmap_w: &Bound<'_, PyAny>,
        filter_h: &Bound<'_, PyAny>,
        filter_w: &Bound<'_, PyAny>,
        channels: &Bound<'_, PyAny>,
        num_filters: &Bound<'_, PyAny>,
        stride_h: Option<&Bound<'_, PyAny>>,
        stride_w: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let dims = [ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters];
        make_layer(py, name, dims, stride_h, stride_w, Layer::depthwise)
    }

    /// A grouped convolution: channels and num_filters divisible by `groups`.
    #[staticmethod]
    #[pyo3(signature = (name, ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride_h=None, stride_w=None, *, groups))]
    #[allow(clippy::too_many_arguments)]
    fn grouped(
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        ifmap_h: &Bound<'_, PyAny>,
        ifmap_w: &Bound<'_, PyAny>,
        filter_h: &Bound<'_, PyAny>,
        filter_w: &Bound<'_, PyAny>,
        channels: &Bound<'_, PyAny>,
        num_filters: &Bound<'_, PyAny>,
        stride_h: Option<&Bound<'_, PyAny>>,
        stride_w: Option<&Bound<'_, PyAny>>,
        groups: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let dims = [ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters];
        let groups = guard(py, || {
            int_arg(groups, "groups", u64::MAX, Input::Topology).into_py_result(py)
        })?;
        make_layer(py, name, dims, stride_h, stride_w, |name, shape| {
            Layer::grouped(name, shape, groups)
        })
    }

    /// A matrix multiply: ifmap M x K times filter K x N.
    #[staticmethod]
    fn gemm(
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        m: &Bound<'_, PyAny>,
        n: &Bound<'_, PyAny>,
        k: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        guard(py, || {
            let build = || {
                let dim = |v: &Bound<'_, PyAny>, field: &str| {
                    int_arg(v, field, u64::MAX, Input::Topology)
                };
                Layer::gemm(
                    str_arg(name, "name", Input::Topology)?,
                    dim(m, "m")?,
                    dim(n, "n")?,
                    dim(k, "k")?,
                )
            };
            Ok(Self {
                inner: build().into_py_result(py)?,
            })
        })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    /// "conv", "depthwise", "grouped" or "gemm".
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind_name()
    }
    #[getter]
    fn macs(&self) -> u64 {
        self.inner.macs()
    }
    /// Number of weights, R x S x (channels per filter) x num_filters.
    #[getter]
    fn weights(&self) -> u64 {
        self.inner.weights()
    }
    #[getter]
    fn ofmap_h(&self) -> u64 {
        self.inner.ofmap_h()
    }
    #[getter]
    fn ofmap_w(&self) -> u64 {
        self.inner.ofmap_w()
    }
    #[getter]
    fn ifmap_h(&self) -> u64 {
        self.inner.shape().ifmap_h
    }
    #[getter]
    fn ifmap_w(&self) -> u64 {
        self.inner.shape().ifmap_w
    }
    #[getter]
    fn filter_h(&self) -> u64 {
        self.inner.shape().filter_h
    }
    #[getter]
    fn filter_w(&self) -> u64 {
        self.inner.shape().filter_w
    }
    #[getter]
    fn channels(&self) -> u64 {
        self.inner.shape().channels
    }
    #[getter]
    fn num_filters(&self) -> u64 {
        self.inner.shape().num_filters
    }
    #[getter]
    fn stride_h(&self) -> u64 {
        self.inner.shape().stride_h
    }
    #[getter]
    fn stride_w(&self) -> u64 {
        self.inner.shape().stride_w
    }
    /// 1 for conv and GEMM, channels for depthwise, the group count for grouped.
    #[getter]
    fn groups(&self) -> u64 {
        match self.inner.kind {
            LayerKind::Conv(_) | LayerKind::Gemm { .. } => 1,
            LayerKind::Depthwise(shape) => shape.channels,
            LayerKind::Grouped { groups, .. } => groups,
        }
    }
    /// `(m, n, k)` for a GEMM, None otherwise.
    #[getter]
    fn gemm_dims(&self) -> Option<(u64, u64, u64)> {
        match self.inner.kind {
            LayerKind::Gemm { m, n, k } => Some((m, n, k)),
            _ => None,
        }
    }

    /// The layer as JSON; `Layer.from_json` reads it back.
    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        guard(py, || json::to_json(&self.inner).into_py_result(py))
    }

    /// A layer from `to_json` text, validated like every other constructor.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        guard(py, || {
            let read = || {
                let inner: Layer = json::from_json(text, "layer")?;
                inner.validate(&Location::default())?;
                Ok(inner)
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

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("name", self.name())?;
        dict.set_item("kind", self.kind())?;
        if let Some((m, n, k)) = self.gemm_dims() {
            dict.set_item("m", m)?;
            dict.set_item("n", n)?;
            dict.set_item("k", k)?;
        }
        let s = self.inner.shape();
        for (key, value) in [
            ("ifmap_h", s.ifmap_h),
            ("ifmap_w", s.ifmap_w),
            ("filter_h", s.filter_h),
            ("filter_w", s.filter_w),
            ("channels", s.channels),
            ("num_filters", s.num_filters),
            ("stride_h", s.stride_h),
            ("stride_w", s.stride_w),
            ("groups", self.groups()),
            ("ofmap_h", self.ofmap_h()),
            ("ofmap_w", self.ofmap_w()),
            ("macs", self.macs()),
            ("weights", self.weights()),
        ] {
            dict.set_item(key, value)?;
        }
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        let s = self.inner.shape();
        match self.inner.kind {
            LayerKind::Gemm { m, n, k } => {
                format!("Layer.gemm({:?}, m={m}, n={n}, k={k})", self.inner.name)
            }
            _ => format!(
                "Layer.{}({:?}, {}x{}x{}, filter {}x{}, {} filters, stride {}x{}{})",
                self.kind(),
                self.inner.name,
                s.ifmap_h,
                s.ifmap_w,
                s.channels,
                s.filter_h,
                s.filter_w,
                s.num_filters,
                s.stride_h,
                s.stride_w,
                match self.inner.kind {
                    LayerKind::Grouped { groups, .. } => format!(", groups={groups}"),
                    _ => String::new(),
                }
            ),
        }
    }
}
