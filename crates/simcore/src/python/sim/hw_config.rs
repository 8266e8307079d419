//! `HwConfig`: one accelerator, from a file, a shipped name, TOML/.cfg text or keyword values.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt};

use super::args::{float_arg, int_arg, or, str_arg, Input};
use crate::config::{defaults, Dataflow, EnergyTable, HwConfig, Interface};
use crate::error::{Location, SimError};
use crate::python::errors::{guard, IntoPyResult};

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

    /// Pickles through the TOML form.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let text = slf.get().to_toml(slf.py())?;
        Ok((slf.get_type().getattr("from_toml")?, (text,)))
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
