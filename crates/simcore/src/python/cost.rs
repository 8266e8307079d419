//! Python bindings of the cost model (`CostModel`, `Cost`) and of mixed-precision simulation
//! (`simulate_mixed`, `MixedReport`). Long Rust work runs with the GIL released.

use std::collections::HashMap;
use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyTuple};

use super::errors::{guard, internal, panic_message, IntoPyResult};
use super::run::{interruptible, interruptible_with_progress};
use super::sim::{PyHwConfig, PyTopology};
use crate::compat::CompatMode;
use crate::cost::{simulate_mixed_with as run_mixed, MixedReport};
use crate::cost_model::{Cost, CostModel};
use crate::error::{Location, Result, SimError};
use crate::report::NetworkReport;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCostModel>()?;
    m.add_class::<PyCost>()?;
    m.add_class::<PyMixedReport>()?;
    m.add_function(wrap_pyfunction!(simulate_mixed, m)?)?;
    Ok(())
}

/// Runs `work` without the GIL; a panic becomes an `AmedError`.
fn detached<T: Send>(py: Python<'_>, work: impl FnOnce() -> Result<T> + Send) -> PyResult<T> {
    let outcome = py.detach(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .map_err(|p| panic_message(p.as_ref()))
    });
    match outcome {
        Ok(result) => result.into_py_result(py),
        Err(message) => Err(internal(py, &message)),
    }
}

fn allocation_error(field: &str, message: String) -> SimError {
    SimError::allocation(Location::field(field), message)
}

/// A width given from Python: an int in 1..=32 (not a bool, which Python counts as an int).
fn bits_arg(value: &Bound<'_, PyAny>, field: &str) -> Result<u32> {
    if value.is_instance_of::<PyBool>() {
        return Err(allocation_error(
            field,
            format!("expected an integer number of bits, found the bool {value}"),
        ));
    }
    let bits: i64 = value.extract().map_err(|_| {
        allocation_error(
            field,
            format!("expected an integer number of bits, found {value}"),
        )
    })?;
    u32::try_from(bits)
        .ok()
        .filter(|b| (1..=crate::precision::MAX_BITS).contains(b))
        .ok_or_else(|| {
            allocation_error(
                field,
                format!(
                    "{bits} bits is outside the supported range 1..={}",
                    crate::precision::MAX_BITS
                ),
            )
        })
}

/// A choice or layer index from Python: a non-negative int, not a bool.
fn index_arg(value: &Bound<'_, PyAny>, field: &str) -> Result<usize> {
    let found = || {
        allocation_error(
            field,
            format!("expected a non-negative integer index, found {value}"),
        )
    };
    if value.is_instance_of::<PyBool>() || !value.hasattr("__index__").unwrap_or(false) {
        return Err(found());
    }
    let index: i128 = value.extract().map_err(|_| found())?;
    usize::try_from(index).map_err(|_| found())
}

/// `value` as `len` pairs of plain Python ints (a list or tuple of 2-item lists or tuples),
/// or `None` for anything else. This is the fast path of `cost` and `cost_indices`: it
/// builds no field names and no errors, and whatever it declines (bools, numpy scalars,
/// other lengths) goes through the checked path, which names the offending item.
fn plain_int_pairs(value: &Bound<'_, PyAny>, len: usize) -> Option<Vec<[i64; 2]>> {
    // Exact ints only: a bool is an int subclass and must be refused by the checked path.
    let int = |v: Bound<'_, PyAny>| {
        v.is_exact_instance_of::<PyInt>()
            .then(|| v.extract::<i64>().ok())
            .flatten()
    };
    let pair = |item: Bound<'_, PyAny>| -> Option<[i64; 2]> {
        if let Ok(t) = item.cast::<PyTuple>() {
            (t.len() == 2).then_some(())?;
            Some([int(t.get_item(0).ok()?)?, int(t.get_item(1).ok()?)?])
        } else if let Ok(l) = item.cast::<PyList>() {
            (l.len() == 2).then_some(())?;
            Some([int(l.get_item(0).ok()?)?, int(l.get_item(1).ok()?)?])
        } else {
            None
        }
    };
    if let Ok(list) = value.cast::<PyList>() {
        (list.len() == len).then_some(())?;
        list.iter().map(pair).collect()
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        (tuple.len() == len).then_some(())?;
        tuple.iter().map(pair).collect()
    } else {
        None
    }
}

/// A (w_bits, a_bits) pair from a 2-item sequence.
fn pair_arg(value: &Bound<'_, PyAny>, field: &str) -> Result<(u32, u32)> {
    let items: Vec<Bound<'_, PyAny>> = value
        .extract()
        .ok()
        .filter(|v: &Vec<Bound<'_, PyAny>>| v.len() == 2)
        .ok_or_else(|| {
            allocation_error(
                field,
                format!("expected a [w_bits, a_bits] pair, found {value}"),
            )
        })?;
    Ok((
        bits_arg(&items[0], &format!("{field}.w_bits"))?,
        bits_arg(&items[1], &format!("{field}.a_bits"))?,
    ))
}

/// An allocation in bits, per layer of `names`: an int (every layer, w = a), a list of
/// (w, a) pairs in layer order, or a dict {layer name: (w, a)} covering every layer.
fn allocation_arg(value: &Bound<'_, PyAny>, names: &[String]) -> Result<Vec<(u32, u32)>> {
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut by_name = HashMap::new();
        for (key, pair) in dict.iter() {
            let name: String = key.extract().map_err(|_| {
                allocation_error(
                    "allocation",
                    format!("layer names must be strings, found {key}"),
                )
            })?;
            if !names.contains(&name) {
                return Err(allocation_error(
                    &name,
                    "no layer of this name in the topology".into(),
                ));
            }
            by_name.insert(name.clone(), pair_arg(&pair, &name)?);
        }
        return names
            .iter()
            .map(|n| {
                by_name
                    .get(n)
                    .copied()
                    .ok_or_else(|| allocation_error(n, "layer missing from the allocation".into()))
            })
            .collect();
    }
    if value.extract::<i64>().is_ok() {
        let bits = bits_arg(value, "allocation")?;
        return Ok(vec![(bits, bits); names.len()]);
    }
    let items: Vec<Bound<'_, PyAny>> = value.extract().map_err(|_| {
        allocation_error(
            "allocation",
            format!("expected bits per layer: an int, a list of [w_bits, a_bits] pairs or a dict by layer name; found {value}"),
        )
    })?;
    if items.len() != names.len() {
        return Err(allocation_error(
            "allocation",
            format!(
                "{} layers in the allocation, the topology has {}",
                items.len(),
                names.len()
            ),
        ));
    }
    items
        .iter()
        .zip(names)
        .map(|(item, name)| pair_arg(item, name))
        .collect()
}

/// Totals of one allocation: latency, weight size, energy and cycles.
#[pyclass(name = "Cost", module = "amed._simcore", frozen)]
#[derive(Clone)]
pub struct PyCost {
    inner: Cost,
}

#[pymethods]
impl PyCost {
    #[getter]
    fn latency_us(&self) -> f64 {
        self.inner.latency_us
    }
    #[getter]
    fn latency_ms(&self) -> f64 {
        self.inner.latency_us / 1000.0
    }
    /// Weight storage in bytes.
    #[getter]
    fn size_bytes(&self) -> f64 {
        self.inner.size_bytes
    }
    #[getter]
    fn energy_pj(&self) -> f64 {
        self.inner.energy_pj
    }
    #[getter]
    fn total_cycles(&self) -> f64 {
        self.inner.total_cycles
    }
    #[getter]
    fn stall_cycles(&self) -> f64 {
        self.inner.stall_cycles
    }
    #[getter]
    fn dram_bytes(&self) -> f64 {
        self.inner.dram_bytes
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (key, value) in cost_fields(&self.inner) {
            d.set_item(key, value)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let c = &self.inner;
        format!(
            "Cost(latency_ms={:.6}, size_bytes={}, energy_pj={:.1}, total_cycles={})",
            c.latency_us / 1000.0,
            c.size_bytes,
            c.energy_pj,
            c.total_cycles
        )
    }
}

const COST_FIELDS: [&str; 7] = [
    "latency_us",
    "latency_ms",
    "size_bytes",
    "energy_pj",
    "total_cycles",
    "stall_cycles",
    "dram_bytes",
];

fn cost_fields(c: &Cost) -> [(&'static str, f64); 7] {
    let values = [
        c.latency_us,
        c.latency_us / 1000.0,
        c.size_bytes,
        c.energy_pj,
        c.total_cycles,
        c.stall_cycles,
        c.dram_bytes,
    ];
    std::array::from_fn(|i| (COST_FIELDS[i], values[i]))
}

/// The AMED paper's bit choices.
const DEFAULT_CHOICES: [u32; 4] = [2, 3, 4, 8];

/// Memoised latency, size and energy of any bit allocation of one topology on one config.
#[pyclass(name = "CostModel", module = "amed._simcore", frozen, subclass)]
pub struct PyCostModel {
    inner: CostModel,
}

impl PyCostModel {
    /// Allocations in `array` (nested lists or a numpy array of choice indices, N×L×2 or
    /// N×L) as flat one-byte indices, whether they are (w, a) pairs, and whether the input
    /// was numpy.
    fn batch_indices(
        &self,
        py: Python<'_>,
        array: &Bound<'_, PyAny>,
    ) -> PyResult<(Vec<u8>, bool, bool)> {
        let layers = self.inner.names().len();
        let choices = self.inner.choices().len();
        let bad_shape = |shape: String| {
            allocation_error(
                "allocations",
                format!(
                    "expected an array of choice indices of shape (N, {layers}, 2) or (N, {layers}), found {shape}"
                ),
            )
        };
        let out_of_range = |value: i64| {
            allocation_error(
                "allocations",
                format!(
                    "choice index {value} is out of range for the {choices} bit choices {:?}",
                    self.inner.choices()
                ),
            )
        };
        if array.hasattr("__array_interface__")? {
            let numpy = py.import("numpy")?;
            let values = numpy.call_method1("asarray", (array,))?;
            let shape: Vec<usize> = values.getattr("shape")?.extract()?;
            let paired = match shape.as_slice() {
                [_, l, 2] if *l == layers => true,
                [_, l] if *l == layers => false,
                _ => return Err(bad_shape(format!("{shape:?}"))).into_py_result(py),
            };
            // Only integer dtypes ('i', 'u'): floats would be truncated and bools read as 0/1.
            let dtype = values.getattr("dtype")?;
            let kind: String = dtype.getattr("kind")?.extract()?;
            if kind != "i" && kind != "u" {
                return Err(allocation_error(
                    "allocations",
                    format!("expected an integer array of choice indices, found dtype {dtype}"),
                ))
                .into_py_result(py);
            }
            if shape[0] > 0 {
                // Range-check in numpy, then pass one byte per index.
                let low: i64 = values.call_method0("min")?.extract()?;
                let high: i64 = values.call_method0("max")?.extract()?;
                if low < 0 {
                    return Err(out_of_range(low)).into_py_result(py);
                }
                if high >= choices as i64 {
                    return Err(out_of_range(high)).into_py_result(py);
                }
            }
            let bytes = numpy
                .call_method1("ascontiguousarray", (values, "uint8"))?
                .call_method0("tobytes")?;
            let indices = bytes.cast::<PyBytes>()?.as_bytes().to_vec();
            return Ok((indices, paired, true));
        }
        let narrow = |values: Vec<usize>| {
            values
                .into_iter()
                .map(|v| {
                    u8::try_from(v)
                        .ok()
                        .filter(|&b| usize::from(b) < choices)
                        .ok_or_else(|| out_of_range(v as i64))
                })
                .collect::<Result<Vec<u8>>>()
        };
        if let Ok(pairs) = array.extract::<Vec<Vec<[usize; 2]>>>() {
            if pairs.iter().any(|a| a.len() != layers) {
                return Err(bad_shape("allocations of another length".into())).into_py_result(py);
            }
            let flat =
                narrow(pairs.into_iter().flatten().flatten().collect()).into_py_result(py)?;
            return Ok((flat, true, false));
        }
        if let Ok(same) = array.extract::<Vec<Vec<usize>>>() {
            if same.iter().any(|a| a.len() != layers) {
                return Err(bad_shape("allocations of another length".into())).into_py_result(py);
            }
            let flat = narrow(same.into_iter().flatten().collect()).into_py_result(py)?;
            return Ok((flat, false, false));
        }
        let kind = array
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        Err(bad_shape(format!(
            "a {kind} that is not nested lists of ints"
        )))
        .into_py_result(py)
    }
}

#[pymethods]
impl PyCostModel {
    /// Simulates every distinct (layer, w, a, next layer's a) over the bit choices `bits` once
    /// (in parallel, GIL released) and keeps per-layer tables; queries are then lookups.
    #[new]
    #[pyo3(signature = (topology, hw, bits=None, compat="scalesim-v3"))]
    fn new(
        py: Python<'_>,
        topology: &PyTopology,
        hw: &PyHwConfig,
        bits: Option<Vec<Bound<'_, PyAny>>>,
        compat: &str,
    ) -> PyResult<Self> {
        let choices = match bits {
            None => DEFAULT_CHOICES.to_vec(),
            Some(bits) => guard(py, || {
                let parsed = bits
                    .iter()
                    .enumerate()
                    .map(|(i, b)| bits_arg(b, &format!("bits[{i}]")));
                parsed.collect::<Result<Vec<_>>>().into_py_result(py)
            })?,
        };
        let compat = CompatMode::parse(compat).into_py_result(py)?;
        let (topology, hw) = (&topology.inner, &hw.inner);
        let inner = interruptible(py, |interrupt| {
            CostModel::new_with(topology, hw, &choices, compat, interrupt)
        })?;
        Ok(Self { inner })
    }

    /// The bit choices; index allocations refer to positions in this list.
    #[getter]
    fn bits(&self) -> Vec<u32> {
        self.inner.choices().to_vec()
    }

    #[getter]
    fn names(&self) -> Vec<String> {
        self.inner.names().to_vec()
    }

    /// Distinct layer simulations the tables were built from.
    #[getter]
    fn simulations(&self) -> usize {
        self.inner.simulations()
    }

    /// The whole network at the config's word size (8 bits on the shipped configs).
    #[getter]
    fn native(&self) -> PyCost {
        PyCost {
            inner: self.inner.native(),
        }
    }

    /// Latency in ms of every layer at the config's word size: the reference of the AMED
    /// objective's latency ratio.
    #[getter]
    fn latency_8bit(&self) -> f64 {
        self.inner.native().latency_us / 1000.0
    }

    /// Cost of an allocation in bits: a list of (w_bits, a_bits) per layer, a dict
    /// {layer name: (w_bits, a_bits)} or an int for every layer. Every width must be one of
    /// `bits`.
    fn cost(&self, py: Python<'_>, allocation: &Bound<'_, PyAny>) -> PyResult<PyCost> {
        guard(py, || {
            let in_range = |b: i64| {
                u32::try_from(b)
                    .ok()
                    .filter(|b| (1..=crate::precision::MAX_BITS).contains(b))
            };
            let fast = plain_int_pairs(allocation, self.inner.names().len()).and_then(|pairs| {
                pairs
                    .iter()
                    .map(|&[w, a]| Some((in_range(w)?, in_range(a)?)))
                    .collect::<Option<Vec<_>>>()
            });
            let bits = match fast {
                Some(bits) => bits,
                None => allocation_arg(allocation, self.inner.names()).into_py_result(py)?,
            };
            Ok(PyCost {
                inner: self.inner.cost_bits(&bits).into_py_result(py)?,
            })
        })
    }

    /// Cost of an allocation of choice indices: a list of (w, a) index pairs per layer.
    fn cost_indices(&self, py: Python<'_>, allocation: &Bound<'_, PyAny>) -> PyResult<PyCost> {
        guard(py, || {
            let fast = plain_int_pairs(allocation, self.inner.names().len()).and_then(|pairs| {
                pairs
                    .iter()
                    .map(|&[w, a]| Some((usize::try_from(w).ok()?, usize::try_from(a).ok()?)))
                    .collect::<Option<Vec<_>>>()
            });
            if let Some(allocation) = fast {
                return Ok(PyCost {
                    inner: self.inner.cost(&allocation).into_py_result(py)?,
                });
            }
            let parse = || -> Result<Vec<(usize, usize)>> {
                let pairs: Vec<Bound<'_, PyAny>> = allocation.extract().map_err(|_| {
                    allocation_error(
                        "allocation",
                        format!("expected a list of (w, a) choice index pairs, found {allocation}"),
                    )
                })?;
                pairs
                    .iter()
                    .enumerate()
                    .map(|(l, pair)| {
                        let field = format!("allocation[{l}]");
                        let items: Vec<Bound<'_, PyAny>> = pair
                            .extract()
                            .ok()
                            .filter(|v: &Vec<Bound<'_, PyAny>>| v.len() == 2)
                            .ok_or_else(|| {
                                allocation_error(
                                    &field,
                                    format!(
                                        "expected a (w, a) pair of choice indices, found {pair}"
                                    ),
                                )
                            })?;
                        Ok((
                            index_arg(&items[0], &format!("{field}.w"))?,
                            index_arg(&items[1], &format!("{field}.a"))?,
                        ))
                    })
                    .collect()
            };
            let allocation = parse().into_py_result(py)?;
            Ok(PyCost {
                inner: self.inner.cost(&allocation).into_py_result(py)?,
            })
        })
    }

    /// Costs of N allocations of choice indices, shape (N, L, 2) for (w, a) pairs or (N, L)
    /// for w = a: nested lists or a numpy array. Returns a dict of columns (latency_us,
    /// latency_ms, size_bytes, energy_pj, total_cycles, stall_cycles, dram_bytes): numpy
    /// float64 arrays for numpy input, lists otherwise.
    fn cost_batch<'py>(
        &self,
        py: Python<'py>,
        allocations: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (indices, paired, numpy) = self.batch_indices(py, allocations)?;
        let inner = &self.inner;
        let costs = detached(py, || inner.cost_batch(&indices, paired))?;
        let out = PyDict::new(py);
        for (i, key) in COST_FIELDS.iter().enumerate() {
            let column: Vec<f64> = costs.iter().map(|c| cost_fields(c)[i].1).collect();
            if numpy {
                let bytes: Vec<u8> = column.iter().flat_map(|v| v.to_ne_bytes()).collect();
                let array = py
                    .import("numpy")?
                    .call_method1("frombuffer", (PyBytes::new(py, &bytes), "float64"))?;
                out.set_item(key, array)?;
            } else {
                out.set_item(key, PyList::new(py, column)?)?;
            }
        }
        Ok(out)
    }

    /// The tabulated cost of layer `layer` (index) at choice indices (w, a) with the next
    /// layer's activations at choice `next_a` (ignored for the last layer).
    #[pyo3(signature = (layer, w, a, next_a=None))]
    fn layer_cost(
        &self,
        py: Python<'_>,
        layer: &Bound<'_, PyAny>,
        w: &Bound<'_, PyAny>,
        a: &Bound<'_, PyAny>,
        next_a: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyCost> {
        guard(py, || {
            let cost = || -> Result<Cost> {
                let next_a = next_a.map(|v| index_arg(v, "next_a")).transpose()?;
                self.inner.layer_cost(
                    index_arg(layer, "layer")?,
                    index_arg(w, "w")?,
                    index_arg(a, "a")?,
                    next_a.unwrap_or(0),
                )
            };
            Ok(PyCost {
                inner: cost().into_py_result(py)?,
            })
        })
    }

    /// One quantity ("latency_us", "size_bytes", "energy_pj", "total_cycles", ...) of every
    /// layer as nested lists `[layer][w][a][next_a]` over the choice indices.
    fn table(&self, py: Python<'_>, quantity: &str) -> PyResult<Vec<Vec<Vec<Vec<f64>>>>> {
        let field = COST_FIELDS
            .iter()
            .position(|f| *f == quantity)
            .ok_or_else(|| {
                let message = format!(
                    "unknown quantity '{quantity}': expected one of {}",
                    COST_FIELDS.join(", ")
                );
                allocation_error("quantity", message)
            });
        let field = field.into_py_result(py)?;
        let n = self.inner.choices().len();
        (0..self.inner.names().len())
            .map(|l| {
                (0..n)
                    .map(|w| {
                        (0..n)
                            .map(|a| {
                                (0..n)
                                    .map(|o| {
                                        Ok(cost_fields(&self.inner.layer_cost(l, w, a, o)?)[field]
                                            .1)
                                    })
                                    .collect::<Result<Vec<_>>>()
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect::<Result<_>>()
            .into_py_result(py)
    }

    fn __len__(&self) -> usize {
        self.inner.names().len()
    }

    fn __repr__(&self) -> String {
        format!(
            "CostModel({} layers, bits={:?}, {} simulations, latency_8bit={:.6} ms)",
            self.inner.names().len(),
            self.inner.choices(),
            self.inner.simulations(),
            self.latency_8bit()
        )
    }
}

/// A network simulated at per-layer bits: totals and one record per layer.
#[pyclass(name = "MixedReport", module = "amed._simcore", frozen, sequence)]
pub struct PyMixedReport {
    inner: MixedReport,
}

fn layer_dict<'py>(py: Python<'py>, l: &crate::cost::MixedLayer) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let (r, c) = (&l.report, &l.cost);
    d.set_item("name", &r.name)?;
    d.set_item("w_bits", l.bits.w_bits)?;
    d.set_item("a_bits", l.bits.a_bits)?;
    d.set_item("out_bits", l.bits.out_bits)?;
    d.set_item("total_cycles", r.total_cycles)?;
    d.set_item("stall_cycles", r.stall_cycles)?;
    d.set_item("macs", r.macs)?;
    d.set_item("overall_util", r.overall_util)?;
    d.set_item("mapping_efficiency", r.mapping_efficiency)?;
    d.set_item("compute_util", r.compute_util)?;
    d.set_item("latency_ms", c.latency_us / 1000.0)?;
    d.set_item("compute_ms", c.compute_latency_us / 1000.0)?;
    d.set_item(
        "memory_ms",
        c.memory_latency_us.map(|m| m / 1000.0).to_vec(),
    )?;
    d.set_item("dram_bytes", c.dram_bytes())?;
    d.set_item("size_bytes", c.size_bits as f64 / 8.0)?;
    d.set_item("energy_pj", c.energy.total_pj())?;
    d.set_item("energy_mac_pj", c.energy.mac_pj)?;
    d.set_item("energy_sram_pj", c.energy.sram_pj)?;
    d.set_item("energy_dram_pj", c.energy.dram_pj)?;
    Ok(d)
}

#[pymethods]
impl PyMixedReport {
    #[getter]
    fn topology(&self) -> &str {
        &self.inner.topology
    }
    #[getter]
    fn hw(&self) -> &str {
        &self.inner.hw
    }
    /// Sum over layers of max(compute, memory) latency, in ms.
    #[getter]
    fn latency_ms(&self) -> f64 {
        self.inner.latency_us() / 1000.0
    }
    /// Weight storage at each layer's weight bits, in bytes.
    #[getter]
    fn size_bytes(&self) -> f64 {
        self.inner.size_bits() as f64 / 8.0
    }
    #[getter]
    fn energy_pj(&self) -> f64 {
        self.inner.energy_pj()
    }
    #[getter]
    fn total_cycles(&self) -> i64 {
        self.inner.total_cycles()
    }
    #[getter]
    fn stall_cycles(&self) -> i64 {
        self.inner.stall_cycles()
    }
    /// One dict per layer: bits, cycles, latency (compute, memory per operand), size, energy.
    #[getter]
    fn layers<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner
            .layers
            .iter()
            .map(|l| layer_dict(py, l))
            .collect()
    }

    /// `{"latency_ms", "size_bytes", "energy_pj", "total_cycles", "stall_cycles", "layers"}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("topology", self.topology())?;
        d.set_item("hw", self.hw())?;
        d.set_item("latency_ms", self.latency_ms())?;
        d.set_item("size_bytes", self.size_bytes())?;
        d.set_item("energy_pj", self.energy_pj())?;
        d.set_item("total_cycles", self.total_cycles())?;
        d.set_item("stall_cycles", self.stall_cycles())?;
        d.set_item("layers", self.layers(py)?)?;
        Ok(d)
    }

    /// SCALE-Sim's three report CSVs for the run (counts in elements of each layer's widths).
    #[pyo3(signature = (dir, compat="scalesim-v3"))]
    fn to_csv(&self, py: Python<'_>, dir: PathBuf, compat: &str) -> PyResult<()> {
        let compat = CompatMode::parse(compat).into_py_result(py)?;
        let network = NetworkReport {
            topology: self.inner.topology.clone(),
            hw: self.inner.hw.clone(),
            compat,
            layers: self.inner.layers.iter().map(|l| l.report.clone()).collect(),
        };
        guard(py, || {
            crate::report::write_scalesim_csvs(&dir, &network).into_py_result(py)
        })
    }

    fn __len__(&self) -> usize {
        self.inner.layers.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "MixedReport({:?} on {:?}, {} layers, latency_ms={:.6}, size_bytes={}, energy_pj={:.1})",
            self.inner.topology,
            self.inner.hw,
            self.inner.layers.len(),
            self.latency_ms(),
            self.size_bytes(),
            self.energy_pj()
        )
    }
}

/// Simulate `topology` on `hw` at per-layer bits: `allocation` is an int (every layer), a
/// list of (w_bits, a_bits) per layer or a dict {layer name: (w_bits, a_bits)}. Each layer's
/// output takes the next layer's activation bits, the last layer's `output_bits` (default:
/// the config's `word_bits`). GIL released while simulating; `progress` as in `simulate`.
#[pyfunction]
#[pyo3(signature = (topology, hw, allocation, compat="scalesim-v3", output_bits=None, progress=None))]
fn simulate_mixed(
    py: Python<'_>,
    topology: &PyTopology,
    hw: &PyHwConfig,
    allocation: &Bound<'_, PyAny>,
    compat: &str,
    output_bits: Option<Bound<'_, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyMixedReport> {
    let names: Vec<String> = topology
        .inner
        .layers
        .iter()
        .map(|l| l.name.clone())
        .collect();
    let bits = guard(py, || allocation_arg(allocation, &names).into_py_result(py))?;
    let output_bits = output_bits
        .map(|b| bits_arg(&b, "output_bits"))
        .transpose()
        .into_py_result(py)?;
    let compat = CompatMode::parse(compat).into_py_result(py)?;
    let (topology, hw) = (&topology.inner, &hw.inner);
    let inner = interruptible_with_progress(py, progress, |interrupt| {
        run_mixed(topology, hw, &bits, output_bits, compat, interrupt)
    })?;
    Ok(PyMixedReport { inner })
}
