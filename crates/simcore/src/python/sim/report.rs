//! `Report` and `LayerRecord`: a simulated network and its per-layer SCALE-Sim report rows.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::python::errors::{guard, IntoPyResult};
use crate::report::{Access, LayerReport, NetworkReport};

/// One layer's row of SCALE-Sim's three reports; cycles are the array's clock cycles, counts
/// are words (elements), bandwidths are words per cycle and utilisations are percentages.
#[pyclass(name = "LayerRecord", module = "amed._simcore", frozen)]
#[derive(Clone)]
pub struct PyLayerRecord {
    pub inner: LayerReport,
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
    pub inner: NetworkReport,
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
        self.inner.compat.name()
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
