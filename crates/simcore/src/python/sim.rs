//! Python classes for the simulator's inputs and outputs (`HwConfig`, `Layer`, `Topology`,
//! `Report`, `LayerRecord`) and `simulate`, which runs with the GIL released.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt};

use super::errors::{guard, IntoPyResult};
use crate::config::{defaults, Dataflow, EnergyTable, HwConfig, Interface};
use crate::engine::{self, CompatMode};
use crate::error::{Location, SimError};
use crate::report::{Access, LayerReport, NetworkReport};
use crate::topology::{ConvShape, Layer, LayerKind, Topology};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyHwConfig>()?;
    m.add_class::<PyLayer>()?;
    m.add_class::<PyTopology>()?;
    m.add_class::<PyLayerRecord>()?;
    m.add_class::<PyReport>()?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    Ok(())
}

/// Which error class a bad argument raises.
#[derive(Clone, Copy)]
enum Input {
    Config,
    Topology,
}

fn bad_argument(input: Input, field: &str, message: String) -> SimError {
    match input {
        Input::Config => SimError::config(Location::field(field), message),
        Input::Topology => SimError::topology(Location::field(field), message),
    }
}

/// A Python integer (anything with `__index__`, so numpy and torch integers too) in
/// `0..=max`, or a typed error naming the argument.
fn int_arg(value: &Bound<'_, PyAny>, field: &str, max: u64, input: Input) -> Result<u64, SimError> {
    if !value.hasattr("__index__").unwrap_or(false) {
        let type_name = value
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        let message = format!("expected an integer, found {type_name} {value}");
        return Err(bad_argument(input, field, message));
    }
    let negative = value.lt(0).unwrap_or(false);
    match value.extract::<i64>() {
        Ok(v) if !negative && v.unsigned_abs() <= max => Ok(v.unsigned_abs()),
        _ if negative => Err(bad_argument(
            input,
            field,
            format!("must not be negative, found {value}"),
        )),
        _ => Err(bad_argument(
            input,
            field,
            format!("{value} is larger than the limit of {max}"),
        )),
    }
}

fn float_arg(value: &Bound<'_, PyAny>, field: &str) -> Result<f64, SimError> {
    value.extract::<f64>().map_err(|_| {
        SimError::config(
            Location::field(field),
            format!("expected a number, found {value}"),
        )
    })
}

fn str_arg(value: &Bound<'_, PyAny>, field: &str, input: Input) -> Result<String, SimError> {
    value
        .extract::<String>()
        .map_err(|_| bad_argument(input, field, format!("expected a string, found {value}")))
}

// ------------------------------------------------------------------------------------------
// HwConfig

/// One systolic-array accelerator: array, SRAM, DRAM bandwidth, clock, precision, energy.
#[pyclass(name = "HwConfig", module = "amed._simcore", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyHwConfig {
    pub inner: HwConfig,
}

impl PyHwConfig {
    #[allow(clippy::too_many_arguments)]
    fn build(
        name: &Bound<'_, PyAny>,
        array_rows: &Bound<'_, PyAny>,
        array_cols: &Bound<'_, PyAny>,
        dataflow: &Bound<'_, PyAny>,
        sram_kb: [&Bound<'_, PyAny>; 3],
        bandwidth: Option<&Bound<'_, PyAny>>,
        per_operand_bw: [Option<&Bound<'_, PyAny>>; 3],
        interface: &Bound<'_, PyAny>,
        clock_ghz: &Bound<'_, PyAny>,
        precision: (
            &Bound<'_, PyAny>,
            Option<&Bound<'_, PyAny>>,
            &Bound<'_, PyAny>,
        ),
        energy: Option<&Bound<'_, PyAny>>,
        offsets: [&Bound<'_, PyAny>; 3],
    ) -> Result<HwConfig, SimError> {
        let u32_arg = |v: &Bound<'_, PyAny>, field: &str| {
            int_arg(v, field, u64::from(u32::MAX), Input::Config).map(|n| n as u32)
        };
        let dataflow_text = str_arg(dataflow, "dataflow", Input::Config)?;
        let dataflow = Dataflow::parse(&dataflow_text).ok_or_else(|| {
            SimError::config(
                Location::field("dataflow"),
                format!("unknown dataflow '{dataflow_text}': expected os, ws or is"),
            )
        })?;
        let interface_text = str_arg(interface, "interface", Input::Config)?;
        let interface = Interface::parse(&interface_text).ok_or_else(|| {
            SimError::config(
                Location::field("interface"),
                format!("expected 'user' or 'calc', found '{interface_text}'"),
            )
        })?;
        let shorthand = bandwidth.map(|b| u32_arg(b, "bandwidth")).transpose()?;
        let mut bws = [0u32; 3];
        for ((slot, given), field) in
            bws.iter_mut()
                .zip(per_operand_bw)
                .zip(["ifmap_bw", "filter_bw", "ofmap_bw"])
        {
            *slot = match given {
                Some(v) => u32_arg(v, field)?,
                None => shorthand.ok_or_else(|| {
                    SimError::config(
                        Location::field(field),
                        format!("missing: pass bandwidth= (all operands) or {field}="),
                    )
                })?,
            };
        }
        let mut kbs = [0u32; 3];
        for ((slot, value), field) in
            kbs.iter_mut()
                .zip(sram_kb)
                .zip(["ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb"])
        {
            *slot = u32_arg(value, field)?;
        }
        let (word_bits, pe_bits, bit_fusion) = precision;
        let word_bits = u32_arg(word_bits, "word_bits")?;
        let pe_bits = pe_bits
            .map(|p| u32_arg(p, "pe_bits"))
            .transpose()?
            .unwrap_or(word_bits);
        let bit_fusion = bit_fusion.extract::<bool>().map_err(|_| {
            SimError::config(
                Location::field("bit_fusion"),
                format!("expected True or False, found {bit_fusion}"),
            )
        })?;
        let energy = match energy {
            None => HwConfig::default_energy(kbs[0], kbs[1], kbs[2], word_bits),
            Some(table) => energy_from(table)?,
        };
        let mut offs = [0u64; 3];
        for ((slot, value), field) in
            offs.iter_mut()
                .zip(offsets)
                .zip(["ifmap_offset", "filter_offset", "ofmap_offset"])
        {
            *slot = int_arg(value, field, u64::from(u32::MAX), Input::Config)?;
        }
        let config = HwConfig {
            name: str_arg(name, "name", Input::Config)?,
            array_rows: u32_arg(array_rows, "array_rows")?,
            array_cols: u32_arg(array_cols, "array_cols")?,
            dataflow,
            ifmap_sram_kb: kbs[0],
            filter_sram_kb: kbs[1],
            ofmap_sram_kb: kbs[2],
            ifmap_bw: bws[0],
            filter_bw: bws[1],
            ofmap_bw: bws[2],
            interface,
            clock_ghz: float_arg(clock_ghz, "clock_ghz")?,
            word_bits,
            pe_bits,
            bit_fusion,
            energy,
            ifmap_offset: offs[0],
            filter_offset: offs[1],
            ofmap_offset: offs[2],
        };
        config.validate(None)?;
        Ok(config)
    }
}

/// `value` when the caller passed one, else `default`.
fn or<'py>(value: Option<&Bound<'py, PyAny>>, default: Bound<'py, PyAny>) -> Bound<'py, PyAny> {
    value.cloned().unwrap_or(default)
}

/// An energy table from a dict with exactly the four `*_pj` keys.
fn energy_from(table: &Bound<'_, PyAny>) -> Result<EnergyTable, SimError> {
    let dict = table.cast::<PyDict>().map_err(|_| {
        SimError::config(
            Location::field("energy"),
            "expected a dict of the four *_pj energies".to_owned(),
        )
    })?;
    let keys = ["mac_pj", "sram_read_pj", "sram_write_pj", "dram_access_pj"];
    for key in dict.keys() {
        let key = key.to_string();
        if !keys.contains(&key.as_str()) {
            return Err(SimError::config(
                Location::field(format!("energy.{key}")),
                format!("unknown energy '{key}': expected {}", keys.join(", ")),
            ));
        }
    }
    let mut values = [0.0; 4];
    for (slot, key) in values.iter_mut().zip(keys) {
        let field = format!("energy.{key}");
        let item = dict
            .get_item(key)
            .ok()
            .flatten()
            .ok_or_else(|| SimError::config(Location::field(&field), "missing"))?;
        *slot = float_arg(&item, &field)?;
    }
    Ok(EnergyTable {
        mac_pj: values[0],
        sram_read_pj: values[1],
        sram_write_pj: values[2],
        dram_access_pj: values[3],
    })
}

#[pymethods]
impl PyHwConfig {
    /// Build a config from values; `bandwidth` sets all three DRAM bandwidths (words/cycle)
    /// unless `ifmap_bw`/`filter_bw`/`ofmap_bw` override it. Units as in configs/README.md.
    #[new]
    #[pyo3(signature = (
        *, array_rows, array_cols, dataflow, ifmap_sram_kb, filter_sram_kb, ofmap_sram_kb,
        bandwidth=None, ifmap_bw=None, filter_bw=None, ofmap_bw=None, name=None, interface=None,
        clock_ghz=None, word_bits=None, pe_bits=None, bit_fusion=None, energy=None,
        ifmap_offset=None, filter_offset=None, ofmap_offset=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        array_rows: &Bound<'_, PyAny>,
        array_cols: &Bound<'_, PyAny>,
        dataflow: &Bound<'_, PyAny>,
        ifmap_sram_kb: &Bound<'_, PyAny>,
        filter_sram_kb: &Bound<'_, PyAny>,
        ofmap_sram_kb: &Bound<'_, PyAny>,
        bandwidth: Option<&Bound<'_, PyAny>>,
        ifmap_bw: Option<&Bound<'_, PyAny>>,
        filter_bw: Option<&Bound<'_, PyAny>>,
        ofmap_bw: Option<&Bound<'_, PyAny>>,
        name: Option<&Bound<'_, PyAny>>,
        interface: Option<&Bound<'_, PyAny>>,
        clock_ghz: Option<&Bound<'_, PyAny>>,
        word_bits: Option<&Bound<'_, PyAny>>,
        pe_bits: Option<&Bound<'_, PyAny>>,
        bit_fusion: Option<&Bound<'_, PyAny>>,
        energy: Option<&Bound<'_, PyAny>>,
        ifmap_offset: Option<&Bound<'_, PyAny>>,
        filter_offset: Option<&Bound<'_, PyAny>>,
        ofmap_offset: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        guard(py, || {
            let int = |v: u64| PyInt::new(py, v).into_any();
            let name = or(name, "custom".into_pyobject(py)?.into_any());
            let interface = or(interface, "user".into_pyobject(py)?.into_any());
            let clock = or(clock_ghz, defaults::CLOCK_GHZ.into_pyobject(py)?.into_any());
            let word_bits = or(word_bits, int(u64::from(defaults::WORD_BITS)));
            let bit_fusion = or(bit_fusion, false.into_pyobject(py)?.to_owned().into_any());
            let offsets = [
                or(ifmap_offset, int(defaults::IFMAP_OFFSET)),
                or(filter_offset, int(defaults::FILTER_OFFSET)),
                or(ofmap_offset, int(defaults::OFMAP_OFFSET)),
            ];
            let inner = Self::build(
                &name,
                array_rows,
                array_cols,
                dataflow,
                [ifmap_sram_kb, filter_sram_kb, ofmap_sram_kb],
                bandwidth,
                [ifmap_bw, filter_bw, ofmap_bw],
                &interface,
                &clock,
                (&word_bits, pe_bits, &bit_fusion),
                energy,
                [&offsets[0], &offsets[1], &offsets[2]],
            )
            .into_py_result(py)?;
            Ok(Self { inner })
        })
    }

    /// Load a `.toml` (amed schema) or `.cfg` (SCALE-Sim v2/v3) file.
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        guard(py, || {
            Ok(Self {
                inner: HwConfig::from_file(&path).into_py_result(py)?,
            })
        })
    }

    /// Load a shipped config (`amed hw` lists them) by name, e.g. "scalesim".
    #[staticmethod]
    fn from_name(py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<Self> {
        let path: PathBuf = py
            .import("amed.hw")?
            .getattr("config_path")?
            .call1((name,))?
            .extract()?;
        Self::from_file(py, path)
    }

    /// Parse TOML text in the amed schema.
    #[staticmethod]
    fn from_toml(py: Python<'_>, text: &str) -> PyResult<Self> {
        guard(py, || {
            Ok(Self {
                inner: HwConfig::from_toml_str(text, None).into_py_result(py)?,
            })
        })
    }

    /// Parse the text of a SCALE-Sim `.cfg` file.
    #[staticmethod]
    fn from_cfg(py: Python<'_>, text: &str) -> PyResult<Self> {
        guard(py, || {
            Ok(Self {
                inner: HwConfig::from_scalesim_cfg_str(text, None).into_py_result(py)?,
            })
        })
    }

    /// The config as TOML text in the amed schema.
    fn to_toml(&self, py: Python<'_>) -> PyResult<String> {
        guard(py, || self.inner.to_toml_string().into_py_result(py))
    }

    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    #[getter]
    fn array_rows(&self) -> u32 {
        self.inner.array_rows
    }
    #[getter]
    fn array_cols(&self) -> u32 {
        self.inner.array_cols
    }
    #[getter]
    fn dataflow(&self) -> &'static str {
        self.inner.dataflow.as_str()
    }
    #[getter]
    fn ifmap_sram_kb(&self) -> u32 {
        self.inner.ifmap_sram_kb
    }
    #[getter]
    fn filter_sram_kb(&self) -> u32 {
        self.inner.filter_sram_kb
    }
    #[getter]
    fn ofmap_sram_kb(&self) -> u32 {
        self.inner.ofmap_sram_kb
    }
    #[getter]
    fn ifmap_bw(&self) -> u32 {
        self.inner.ifmap_bw
    }
    #[getter]
    fn filter_bw(&self) -> u32 {
        self.inner.filter_bw
    }
    #[getter]
    fn ofmap_bw(&self) -> u32 {
        self.inner.ofmap_bw
    }
    #[getter]
    fn interface(&self) -> &'static str {
        self.inner.interface.as_str()
    }
    #[getter]
    fn clock_ghz(&self) -> f64 {
        self.inner.clock_ghz
    }
    #[getter]
    fn word_bits(&self) -> u32 {
        self.inner.word_bits
    }
    #[getter]
    fn pe_bits(&self) -> u32 {
        self.inner.pe_bits
    }
    #[getter]
    fn bit_fusion(&self) -> bool {
        self.inner.bit_fusion
    }
    #[getter]
    fn ifmap_offset(&self) -> u64 {
        self.inner.ifmap_offset
    }
    #[getter]
    fn filter_offset(&self) -> u64 {
        self.inner.filter_offset
    }
    #[getter]
    fn ofmap_offset(&self) -> u64 {
        self.inner.ofmap_offset
    }
    /// Energy per access in pJ: `{"mac_pj", "sram_read_pj", "sram_write_pj", "dram_access_pj"}`.
    #[getter]
    fn energy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let e = &self.inner.energy;
        let dict = PyDict::new(py);
        dict.set_item("mac_pj", e.mac_pj)?;
        dict.set_item("sram_read_pj", e.sram_read_pj)?;
        dict.set_item("sram_write_pj", e.sram_write_pj)?;
        dict.set_item("dram_access_pj", e.dram_access_pj)?;
        Ok(dict)
    }

    /// Every field; `HwConfig(**d)` rebuilds an equal config.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = &self.inner;
        let dict = PyDict::new(py);
        dict.set_item("name", &c.name)?;
        dict.set_item("array_rows", c.array_rows)?;
        dict.set_item("array_cols", c.array_cols)?;
        dict.set_item("dataflow", c.dataflow.as_str())?;
        dict.set_item("ifmap_sram_kb", c.ifmap_sram_kb)?;
        dict.set_item("filter_sram_kb", c.filter_sram_kb)?;
        dict.set_item("ofmap_sram_kb", c.ofmap_sram_kb)?;
        dict.set_item("ifmap_bw", c.ifmap_bw)?;
        dict.set_item("filter_bw", c.filter_bw)?;
        dict.set_item("ofmap_bw", c.ofmap_bw)?;
        dict.set_item("interface", c.interface.as_str())?;
        dict.set_item("clock_ghz", c.clock_ghz)?;
        dict.set_item("word_bits", c.word_bits)?;
        dict.set_item("pe_bits", c.pe_bits)?;
        dict.set_item("bit_fusion", c.bit_fusion)?;
        dict.set_item("energy", self.energy(py)?)?;
        dict.set_item("ifmap_offset", c.ifmap_offset)?;
        dict.set_item("filter_offset", c.filter_offset)?;
        dict.set_item("ofmap_offset", c.ofmap_offset)?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        let c = &self.inner;
        format!(
            "HwConfig(name={:?}, array={}x{}, dataflow={}, sram_kb={}/{}/{}, bw={}/{}/{}, clock_ghz={})",
            c.name,
            c.array_rows,
            c.array_cols,
            c.dataflow.as_str(),
            c.ifmap_sram_kb,
            c.filter_sram_kb,
            c.ofmap_sram_kb,
            c.ifmap_bw,
            c.filter_bw,
            c.ofmap_bw,
            c.clock_ghz
        )
    }
}

// ------------------------------------------------------------------------------------------
// Layer

/// One layer: a dense, depthwise or grouped convolution, or a GEMM.
#[pyclass(name = "Layer", module = "amed._simcore", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyLayer {
    pub inner: Layer,
}

/// The eight conv arguments, converted and checked.
#[allow(clippy::too_many_arguments)]
fn conv_shape(
    ifmap_h: &Bound<'_, PyAny>,
    ifmap_w: &Bound<'_, PyAny>,
    filter_h: &Bound<'_, PyAny>,
    filter_w: &Bound<'_, PyAny>,
    channels: &Bound<'_, PyAny>,
    num_filters: &Bound<'_, PyAny>,
    stride_h: &Bound<'_, PyAny>,
    stride_w: Option<&Bound<'_, PyAny>>,
) -> Result<ConvShape, SimError> {
    let dim = |v: &Bound<'_, PyAny>, field: &str| int_arg(v, field, u64::MAX, Input::Topology);
    let stride_h = dim(stride_h, "stride_h")?;
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
#[allow(clippy::too_many_arguments)]
fn make_layer(
    py: Python<'_>,
    name: &Bound<'_, PyAny>,
    dims: [&Bound<'_, PyAny>; 7],
    stride_w: Option<&Bound<'_, PyAny>>,
    make: impl FnOnce(String, ConvShape) -> Result<Layer, SimError>,
) -> PyResult<PyLayer> {
    guard(py, || {
        let build = || {
            let name = str_arg(name, "name", Input::Topology)?;
            let [h, w, r, s, c, k, stride] = dims;
            make(name, conv_shape(h, w, r, s, c, k, stride, stride_w)?)
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
        let one = PyInt::new(py, 1).into_any();
        let stride_h = stride_h.unwrap_or(&one);
        let dims = [
            ifmap_h,
            ifmap_w,
            filter_h,
            filter_w,
            channels,
            num_filters,
            stride_h,
        ];
        make_layer(py, name, dims, stride_w, Layer::conv)
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
        let one = PyInt::new(py, 1).into_any();
        let stride_h = stride_h.unwrap_or(&one);
        let dims = [
            ifmap_h,
            ifmap_w,
            filter_h,
            filter_w,
            channels,
            num_filters,
            stride_h,
        ];
        make_layer(py, name, dims, stride_w, Layer::depthwise)
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
        let one = PyInt::new(py, 1).into_any();
        let stride_h = stride_h.unwrap_or(&one);
        let dims = [
            ifmap_h,
            ifmap_w,
            filter_h,
            filter_w,
            channels,
            num_filters,
            stride_h,
        ];
        let groups = guard(py, || {
            int_arg(groups, "groups", u64::MAX, Input::Topology).into_py_result(py)
        })?;
        make_layer(py, name, dims, stride_w, |name, shape| {
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

// ------------------------------------------------------------------------------------------
// Topology

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
            super::errors::to_py(py, &error)
        };
        for (index, item) in layers.try_iter().map_err(not_a_list)?.enumerate() {
            let item = item?;
            let layer = item.cast::<PyLayer>().map_err(|_| {
                let message = format!("expected a Layer, found {item}");
                super::errors::to_py(
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

// ------------------------------------------------------------------------------------------
// Reports and simulate

/// One layer's row of SCALE-Sim's three reports; cycles are the array's clock cycles, counts
/// are words (elements), bandwidths are words per cycle and utilisations are percentages.
#[pyclass(name = "LayerRecord", module = "amed._simcore", frozen)]
#[derive(Clone)]
pub struct PyLayerRecord {
    inner: LayerReport,
}

/// The `(name, value)` pairs of a record, in SCALE-Sim's column order.
fn record_fields(r: &LayerReport) -> Vec<(&'static str, Option<f64>)> {
    let count = |a: &Access| Some(a.count as f64);
    vec![
        (
            "total_cycles_incl_prefetch",
            r.total_cycles_incl_prefetch.map(|v| v as f64),
        ),
        ("total_cycles", Some(r.total_cycles as f64)),
        ("stall_cycles", Some(r.stall_cycles as f64)),
        ("overall_util", Some(r.overall_util)),
        ("mapping_efficiency", Some(r.mapping_efficiency)),
        ("compute_util", Some(r.compute_util)),
        ("avg_ifmap_sram_bw", Some(r.avg_ifmap_sram_bw)),
        ("avg_filter_sram_bw", Some(r.avg_filter_sram_bw)),
        ("avg_ofmap_sram_bw", Some(r.avg_ofmap_sram_bw)),
        ("avg_ifmap_dram_bw", Some(r.avg_ifmap_dram_bw)),
        ("avg_filter_dram_bw", Some(r.avg_filter_dram_bw)),
        ("avg_ofmap_dram_bw", Some(r.avg_ofmap_dram_bw)),
        ("sram_ifmap_start_cycle", Some(r.sram_ifmap.start_cycle)),
        ("sram_ifmap_stop_cycle", Some(r.sram_ifmap.stop_cycle)),
        ("sram_ifmap_reads", count(&r.sram_ifmap)),
        ("sram_filter_start_cycle", Some(r.sram_filter.start_cycle)),
        ("sram_filter_stop_cycle", Some(r.sram_filter.stop_cycle)),
        ("sram_filter_reads", count(&r.sram_filter)),
        ("sram_ofmap_start_cycle", Some(r.sram_ofmap.start_cycle)),
        ("sram_ofmap_stop_cycle", Some(r.sram_ofmap.stop_cycle)),
        ("sram_ofmap_writes", count(&r.sram_ofmap)),
        ("dram_ifmap_start_cycle", Some(r.dram_ifmap.start_cycle)),
        ("dram_ifmap_stop_cycle", Some(r.dram_ifmap.stop_cycle)),
        ("dram_ifmap_reads", count(&r.dram_ifmap)),
        ("dram_filter_start_cycle", Some(r.dram_filter.start_cycle)),
        ("dram_filter_stop_cycle", Some(r.dram_filter.stop_cycle)),
        ("dram_filter_reads", count(&r.dram_filter)),
        ("dram_ofmap_start_cycle", Some(r.dram_ofmap.start_cycle)),
        ("dram_ofmap_stop_cycle", Some(r.dram_ofmap.stop_cycle)),
        ("dram_ofmap_writes", count(&r.dram_ofmap)),
        ("macs", Some(r.macs as f64)),
    ]
}

#[pymethods]
impl PyLayerRecord {
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    /// SCALE-Sim v3's "Total Cycles (incl. prefetch)"; None in the scalesim-v2 mode.
    #[getter]
    fn total_cycles_incl_prefetch(&self) -> Option<i64> {
        self.inner.total_cycles_incl_prefetch
    }
    #[getter]
    fn total_cycles(&self) -> i64 {
        self.inner.total_cycles
    }
    #[getter]
    fn stall_cycles(&self) -> i64 {
        self.inner.stall_cycles
    }
    /// Percent.
    #[getter]
    fn overall_util(&self) -> f64 {
        self.inner.overall_util
    }
    /// Percent.
    #[getter]
    fn mapping_efficiency(&self) -> f64 {
        self.inner.mapping_efficiency
    }
    /// Percent.
    #[getter]
    fn compute_util(&self) -> f64 {
        self.inner.compute_util
    }
    #[getter]
    fn avg_ifmap_sram_bw(&self) -> f64 {
        self.inner.avg_ifmap_sram_bw
    }
    #[getter]
    fn avg_filter_sram_bw(&self) -> f64 {
        self.inner.avg_filter_sram_bw
    }
    #[getter]
    fn avg_ofmap_sram_bw(&self) -> f64 {
        self.inner.avg_ofmap_sram_bw
    }
    #[getter]
    fn avg_ifmap_dram_bw(&self) -> f64 {
        self.inner.avg_ifmap_dram_bw
    }
    #[getter]
    fn avg_filter_dram_bw(&self) -> f64 {
        self.inner.avg_filter_dram_bw
    }
    #[getter]
    fn avg_ofmap_dram_bw(&self) -> f64 {
        self.inner.avg_ofmap_dram_bw
    }
    #[getter]
    fn sram_ifmap_start_cycle(&self) -> f64 {
        self.inner.sram_ifmap.start_cycle
    }
    #[getter]
    fn sram_ifmap_stop_cycle(&self) -> f64 {
        self.inner.sram_ifmap.stop_cycle
    }
    #[getter]
    fn sram_ifmap_reads(&self) -> u64 {
        self.inner.sram_ifmap.count
    }
    #[getter]
    fn sram_filter_start_cycle(&self) -> f64 {
        self.inner.sram_filter.start_cycle
    }
    #[getter]
    fn sram_filter_stop_cycle(&self) -> f64 {
        self.inner.sram_filter.stop_cycle
    }
    #[getter]
    fn sram_filter_reads(&self) -> u64 {
        self.inner.sram_filter.count
    }
    #[getter]
    fn sram_ofmap_start_cycle(&self) -> f64 {
        self.inner.sram_ofmap.start_cycle
    }
    #[getter]
    fn sram_ofmap_stop_cycle(&self) -> f64 {
        self.inner.sram_ofmap.stop_cycle
    }
    #[getter]
    fn sram_ofmap_writes(&self) -> u64 {
        self.inner.sram_ofmap.count
    }
    #[getter]
    fn dram_ifmap_start_cycle(&self) -> f64 {
        self.inner.dram_ifmap.start_cycle
    }
    #[getter]
    fn dram_ifmap_stop_cycle(&self) -> f64 {
        self.inner.dram_ifmap.stop_cycle
    }
    #[getter]
    fn dram_ifmap_reads(&self) -> u64 {
        self.inner.dram_ifmap.count
    }
    #[getter]
    fn dram_filter_start_cycle(&self) -> f64 {
        self.inner.dram_filter.start_cycle
    }
    #[getter]
    fn dram_filter_stop_cycle(&self) -> f64 {
        self.inner.dram_filter.stop_cycle
    }
    #[getter]
    fn dram_filter_reads(&self) -> u64 {
        self.inner.dram_filter.count
    }
    #[getter]
    fn dram_ofmap_start_cycle(&self) -> f64 {
        self.inner.dram_ofmap.start_cycle
    }
    #[getter]
    fn dram_ofmap_stop_cycle(&self) -> f64 {
        self.inner.dram_ofmap.stop_cycle
    }
    #[getter]
    fn dram_ofmap_writes(&self) -> u64 {
        self.inner.dram_ofmap.count
    }
    #[getter]
    fn macs(&self) -> u64 {
        self.inner.macs
    }
    /// DRAM words this layer moves (ifmap and filter reads plus ofmap writes).
    #[getter]
    fn dram_words(&self) -> u64 {
        self.inner.dram_ifmap.count + self.inner.dram_filter.count + self.inner.dram_ofmap.count
    }

    /// Every field by name (counts and cycles as int, the rest as float).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("name", &self.inner.name)?;
        for (key, value) in record_fields(&self.inner) {
            let is_count = key.ends_with("reads")
                || key.ends_with("writes")
                || key.ends_with("_cycles")
                || matches!(key, "macs" | "total_cycles_incl_prefetch");
            match value {
                None => dict.set_item(key, py.None())?,
                Some(v) if is_count => dict.set_item(key, v as i64)?,
                Some(v) => dict.set_item(key, v)?,
            }
        }
        dict.set_item("dram_words", self.dram_words())?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        let r = &self.inner;
        format!(
            "LayerRecord({:?}, total_cycles={}, stall_cycles={}, overall_util={:.2})",
            r.name, r.total_cycles, r.stall_cycles, r.overall_util
        )
    }
}

/// A simulated network: one `LayerRecord` per layer and the network totals.
#[pyclass(name = "Report", module = "amed._simcore", frozen, sequence)]
pub struct PyReport {
    inner: NetworkReport,
}

#[pymethods]
impl PyReport {
    #[getter]
    fn topology(&self) -> &str {
        &self.inner.topology
    }
    #[getter]
    fn hw(&self) -> &str {
        &self.inner.hw
    }
    #[getter]
    fn compat(&self) -> &'static str {
        compat_name(self.inner.compat)
    }
    #[getter]
    fn layers(&self) -> Vec<PyLayerRecord> {
        self.inner
            .layers
            .iter()
            .map(|l| PyLayerRecord { inner: l.clone() })
            .collect()
    }
    /// Sum of the layers' Total Cycles (layers run one after another).
    #[getter]
    fn total_cycles(&self) -> i64 {
        self.inner.total_cycles()
    }
    #[getter]
    fn stall_cycles(&self) -> i64 {
        self.inner.stall_cycles()
    }
    #[getter]
    fn macs(&self) -> u64 {
        self.inner.macs()
    }
    /// DRAM words moved by all layers.
    #[getter]
    fn dram_words(&self) -> u64 {
        self.inner.dram_words()
    }
    /// SRAM requests of all layers.
    #[getter]
    fn sram_accesses(&self) -> u64 {
        self.inner.sram_accesses()
    }

    /// Network totals as a dict.
    fn totals<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("layers", self.inner.layers.len())?;
        dict.set_item("total_cycles", self.total_cycles())?;
        dict.set_item("stall_cycles", self.stall_cycles())?;
        dict.set_item("macs", self.macs())?;
        dict.set_item("dram_words", self.dram_words())?;
        dict.set_item("sram_accesses", self.sram_accesses())?;
        Ok(dict)
    }

    /// Write COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv into
    /// `dir` (created if missing), in the compat mode's SCALE-Sim format.
    fn to_csv(&self, py: Python<'_>, dir: PathBuf) -> PyResult<()> {
        guard(py, || {
            crate::report::write_scalesim_csvs(&dir, &self.inner).into_py_result(py)
        })
    }

    /// `{"topology", "hw", "compat", "totals", "layers": [record dicts]}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("topology", self.topology())?;
        dict.set_item("hw", self.hw())?;
        dict.set_item("compat", self.compat())?;
        dict.set_item("totals", self.totals(py)?)?;
        let layers = self
            .layers()
            .iter()
            .map(|l| l.to_dict(py))
            .collect::<PyResult<Vec<_>>>()?;
        dict.set_item("layers", layers)?;
        Ok(dict)
    }

    fn __len__(&self) -> usize {
        self.inner.layers.len()
    }

    fn __getitem__(&self, index: isize) -> PyResult<PyLayerRecord> {
        let len = self.inner.layers.len() as isize;
        let i = if index < 0 { index + len } else { index };
        if !(0..len).contains(&i) {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "layer index {index} out of range"
            )));
        }
        Ok(PyLayerRecord {
            inner: self.inner.layers[i as usize].clone(),
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "Report({:?} on {:?}, {}, {} layers, total_cycles={})",
            self.inner.topology,
            self.inner.hw,
            self.compat(),
            self.inner.layers.len(),
            self.total_cycles()
        )
    }
}

fn compat_name(compat: CompatMode) -> &'static str {
    match compat {
        CompatMode::ScalesimV3 => "scalesim-v3",
        CompatMode::ScalesimV2 => "scalesim-v2",
        CompatMode::Fixed => "fixed",
    }
}

fn parse_compat(text: &str) -> Result<CompatMode, SimError> {
    [
        CompatMode::ScalesimV3,
        CompatMode::ScalesimV2,
        CompatMode::Fixed,
    ]
    .into_iter()
    .find(|mode| compat_name(*mode) == text)
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
            .map_err(|p| super::errors::panic_message(p.as_ref()))
    });
    match outcome {
        Ok(result) => Ok(PyReport {
            inner: result.into_py_result(py)?,
        }),
        Err(message) => Err(super::errors::internal(py, &message)),
    }
}
