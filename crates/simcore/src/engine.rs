//! Simulating layers and networks, reproducing SCALE-Sim's USER-interface numbers exactly.
//!
//! A layer is independent of every other (SCALE-Sim gives each a fresh memory system at cycle
//! 0), so a network is simulated once per distinct layer shape, in parallel, and the rows are
//! reassembled in topology order. Inside a layer the stall-free parts are closed form and the
//! memory system is replayed event by event (`replay`).

mod closed_form;
mod demand;
mod geometry;
pub mod memory;
mod read_buffer;
mod replay;
mod stream;
mod write_buffer;

use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::compat::CompatMode;
use crate::config::{HwConfig, Interface};
use crate::error::{Location, Result, SimError};
use crate::grouped;
use crate::interrupt::Interrupt;
use crate::report::{Access, LayerReport, NetworkReport};
use crate::topology::{ConvShape, Layer, LayerKind, Topology};
use geometry::{ConvDims, Geometry};

/// What the engine needs to know about the hardware, in elements: the result of applying a
/// layer's bitwidths to an `HwConfig` (see `precision.rs`). At native precision the SRAM
/// capacities are the SCALE-Sim ones (kB·1024 elements) and the bandwidths are the config's
/// words per cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EngineParams {
    pub array_rows: u64,
    pub array_cols: u64,
    pub dataflow: crate::config::Dataflow,
    pub interface: crate::config::Interface,
    pub ifmap_sram_elems: u64,
    pub filter_sram_elems: u64,
    pub ofmap_sram_elems: u64,
    pub ifmap_bw_elems: u64,
    pub filter_bw_elems: u64,
    pub ofmap_bw_elems: u64,
}

impl EngineParams {
    /// SCALE-Sim's own view of a config: one-byte words, so an SRAM of `kB` holds `kB·1024`
    /// elements, and bandwidths are the config's words per cycle.
    pub fn native(hw: &HwConfig) -> Self {
        Self {
            array_rows: u64::from(hw.array_rows),
            array_cols: u64::from(hw.array_cols),
            dataflow: hw.dataflow,
            interface: hw.interface,
            ifmap_sram_elems: u64::from(hw.ifmap_sram_kb) * 1024,
            filter_sram_elems: u64::from(hw.filter_sram_kb) * 1024,
            ofmap_sram_elems: u64::from(hw.ofmap_sram_kb) * 1024,
            ifmap_bw_elems: u64::from(hw.ifmap_bw),
            filter_bw_elems: u64::from(hw.filter_bw),
            ofmap_bw_elems: u64::from(hw.ofmap_bw),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.interface == Interface::Calc {
            return Err(SimError::config(
                Location::field("interface"),
                "the CALC interface is not supported; use USER",
            ));
        }
        let checks = [
            ("array_rows", self.array_rows),
            ("array_cols", self.array_cols),
            ("ifmap_sram", self.ifmap_sram_elems),
            ("filter_sram", self.filter_sram_elems),
            ("ofmap_sram", self.ofmap_sram_elems),
            ("ifmap_bw", self.ifmap_bw_elems),
            ("filter_bw", self.filter_bw_elems),
            ("ofmap_bw", self.ofmap_bw_elems),
        ];
        // Upper bounds keep every cycle and address computation inside 64-bit integers.
        for (field, value) in checks {
            let max = match field {
                "array_rows" | "array_cols" => 1 << 16,
                "ifmap_sram" | "filter_sram" | "ofmap_sram" => 1 << 48,
                _ => 1 << 32,
            };
            if value == 0 || value > max {
                return Err(SimError::config(
                    Location::field(field),
                    format!("must be between 1 and {max}, found {value}"),
                ));
            }
        }
        Ok(())
    }
}

fn shape_error(field: &str, message: impl Into<String>) -> SimError {
    SimError::topology(Location::field(field), message)
}

/// Checks a shape and derives SCALE-Sim's ofmap size `ceil((H − R + s)/s)` (padding is not
/// modelled, and this rounds up where the usual formula rounds down).
fn conv_dims(shape: &ConvShape) -> Result<ConvDims> {
    let fields = [
        ("ifmap_h", shape.ifmap_h),
        ("ifmap_w", shape.ifmap_w),
        ("filter_h", shape.filter_h),
        ("filter_w", shape.filter_w),
        ("channels", shape.channels),
        ("num_filters", shape.num_filters),
        ("stride_h", shape.stride_h),
        ("stride_w", shape.stride_w),
    ];
    for (field, value) in fields {
        if value == 0 {
            return Err(shape_error(field, "must be at least 1"));
        }
    }
    if shape.filter_h > shape.ifmap_h {
        return Err(shape_error(
            "filter_h",
            format!(
                "filter height {} exceeds ifmap height {}",
                shape.filter_h, shape.ifmap_h
            ),
        ));
    }
    if shape.filter_w > shape.ifmap_w {
        return Err(shape_error(
            "filter_w",
            format!(
                "filter width {} exceeds ifmap width {}",
                shape.filter_w, shape.ifmap_w
            ),
        ));
    }
    let ofmap_h = (shape.ifmap_h - shape.filter_h).div_ceil(shape.stride_h) + 1;
    let ofmap_w = (shape.ifmap_w - shape.filter_w).div_ceil(shape.stride_w) + 1;
    // Operand entries are named by u32 ids.
    let too_big = || {
        shape_error(
            "shape",
            "layer too large to simulate (operand over 2^32 entries)",
        )
    };
    let fits = |v: Option<u64>| v.filter(|&x| x <= u64::from(u32::MAX)).ok_or_else(too_big);
    let window = fits(
        shape
            .filter_h
            .checked_mul(shape.filter_w)
            .and_then(|x| x.checked_mul(shape.channels)),
    )?;
    fits(window.checked_mul(shape.num_filters))?;
    let pixels = fits(ofmap_h.checked_mul(ofmap_w))?;
    fits(pixels.checked_mul(window))?;
    // MACs, times 100 for the utilisation column, must stay exact.
    pixels
        .checked_mul(shape.num_filters)
        .and_then(|x| x.checked_mul(window))
        .and_then(|x| x.checked_mul(100))
        .filter(|&x| x < 1 << 53)
        .ok_or_else(|| shape_error("shape", "layer too large to simulate (MAC count over 2^46)"))?;
    Ok(ConvDims {
        ifmap_h: shape.ifmap_h,
        ifmap_w: shape.ifmap_w,
        filter_h: shape.filter_h,
        filter_w: shape.filter_w,
        channels: shape.channels,
        filters: shape.num_filters,
        stride_h: shape.stride_h,
        stride_w: shape.stride_w,
        ofmap_h,
        ofmap_w,
    })
}

/// Simulates one dense convolution; the report's name is left empty.
pub fn simulate_conv(
    shape: &ConvShape,
    params: &EngineParams,
    compat: CompatMode,
) -> Result<LayerReport> {
    simulate_conv_with(shape, params, compat, &Interrupt::never())
}

/// `simulate_conv` that stops with `SimError::Interrupted` once `interrupt` is raised. Its
/// working memory is reserved against `memory::MEMORY_LIMIT_BYTES` first.
pub fn simulate_conv_with(
    shape: &ConvShape,
    params: &EngineParams,
    compat: CompatMode,
    interrupt: &Interrupt,
) -> Result<LayerReport> {
    params.validate()?;
    let dims = conv_dims(shape)?;
    let mut g = Geometry::plan(&dims, params.dataflow, params.array_rows, params.array_cols);
    let bytes = g.table_bytes().saturating_add(replay::table_bytes(&g));
    let _reservation = memory::reserve(bytes, interrupt)?;
    g.build_tables()?;
    let mut progress = interrupt.running_layer(g.folds());
    let run = replay::replay(&g, params, compat, interrupt, &mut progress)?;
    if run.total_cycles <= 0 {
        return Err(shape_error(
            "shape",
            "layer finishes in zero cycles on this array; SCALE-Sim divides by its cycle count",
        ));
    }
    let (ifmap_reads, filter_reads, ofmap_writes) = closed_form::sram_requests(&g);
    let (mapping_efficiency, compute_util) = closed_form::utilisation(&g);
    let macs = g.p * g.k * g.w;
    let total = run.total_cycles;
    let per_cycle = |count: u64| count as f64 / total as f64;
    let dram_bw = |d: &replay::DramSpan| d.words as f64 / (d.stop - d.start + 1) as f64;
    let sram = |s: &replay::SramSpan, count: u64| Access {
        start_cycle: s.start.unwrap_or(0) as f64,
        stop_cycle: s.stop as f64,
        count,
    };
    let dram = |d: &replay::DramSpan| Access {
        start_cycle: d.start as f64,
        stop_cycle: d.stop as f64,
        count: d.words,
    };
    let incl_prefetch = run.dram_ofmap.stop - run.dram_ifmap.start.min(run.dram_filter.start);
    Ok(LayerReport {
        name: String::new(),
        total_cycles_incl_prefetch: (compat == CompatMode::ScalesimV3).then_some(incl_prefetch),
        total_cycles: total,
        stall_cycles: run.stall_cycles,
        overall_util: (macs * 100) as f64
            / (u128::from(total as u64) * u128::from(params.array_rows * params.array_cols)) as f64,
        mapping_efficiency,
        compute_util,
        avg_ifmap_sram_bw: per_cycle(ifmap_reads),
        avg_filter_sram_bw: per_cycle(filter_reads),
        avg_ofmap_sram_bw: per_cycle(ofmap_writes),
        avg_ifmap_dram_bw: dram_bw(&run.dram_ifmap),
        avg_filter_dram_bw: dram_bw(&run.dram_filter),
        avg_ofmap_dram_bw: dram_bw(&run.dram_ofmap),
        sram_ifmap: sram(&run.sram_ifmap, ifmap_reads),
        sram_filter: sram(&run.sram_filter, filter_reads),
        sram_ofmap: sram(&run.sram_ofmap, ofmap_writes),
        dram_ifmap: dram(&run.dram_ifmap),
        dram_filter: dram(&run.dram_filter),
        dram_ofmap: dram(&run.dram_ofmap),
        macs,
    })
}

/// Simulates one layer; the report carries the layer's name.
pub fn simulate_layer(
    layer: &Layer,
    params: &EngineParams,
    compat: CompatMode,
) -> Result<LayerReport> {
    let mut report = simulate_kind(&layer.kind, params, compat, &Interrupt::never())
        .map_err(|e| in_layer(e, &layer.name))?;
    report.name.clone_from(&layer.name);
    Ok(report)
}

/// Depthwise and grouped layers run as back-to-back dense groups (`grouped.rs`); the other
/// kinds are their dense convolution.
fn simulate_kind(
    kind: &LayerKind,
    params: &EngineParams,
    compat: CompatMode,
    interrupt: &Interrupt,
) -> Result<LayerReport> {
    match kind {
        LayerKind::Depthwise(_) | LayerKind::Grouped { .. } => {
            grouped::simulate_grouped(kind, params.array_rows * params.array_cols, |shape| {
                simulate_conv_with(shape, params, compat, interrupt)
            })
        }
        LayerKind::Conv(_) | LayerKind::Gemm { .. } => {
            simulate_conv_with(&kind.conv_shape(), params, compat, interrupt)
        }
    }
}

/// Prefixes a shape or resource error with the layer it came from.
pub(crate) fn in_layer(error: SimError, name: &str) -> SimError {
    match error {
        SimError::Topology { location, message } => SimError::Topology {
            location,
            message: format!("layer '{name}': {message}"),
        },
        SimError::Resource { location, message } => SimError::Resource {
            location,
            message: format!("layer '{name}': {message}"),
        },
        other => other,
    }
}

/// Simulates a whole network at native precision. Each distinct layer (kind and shape) is simulated
/// once (in parallel); the result is identical to simulating every layer in order.
pub fn simulate(topology: &Topology, hw: &HwConfig, compat: CompatMode) -> Result<NetworkReport> {
    simulate_with(topology, hw, compat, &Interrupt::never())
}

/// `simulate` that stops with `SimError::Interrupted` once `interrupt` is raised.
pub fn simulate_with(
    topology: &Topology,
    hw: &HwConfig,
    compat: CompatMode,
    interrupt: &Interrupt,
) -> Result<NetworkReport> {
    let params = EngineParams::native(hw);
    params.validate()?;
    let shapes: Vec<LayerKind> = topology.layers.iter().map(|layer| layer.kind).collect();
    let mut distinct: Vec<LayerKind> = Vec::new();
    let mut index: HashMap<LayerKind, usize> = HashMap::new();
    for shape in &shapes {
        index.entry(*shape).or_insert_with(|| {
            distinct.push(*shape);
            distinct.len() - 1
        });
    }
    interrupt.add_layers(distinct.len() as u64);
    let mut reports = distinct
        .par_iter()
        .map(|kind| {
            let report = simulate_kind(kind, &params, compat, interrupt);
            interrupt.layer_done();
            report
        })
        .collect::<Vec<_>>();
    interrupt.check()?;
    // Report the first failing layer in topology order.
    if let Some((layer, shape)) = topology
        .layers
        .iter()
        .zip(&shapes)
        .find(|(_, shape)| reports[index[shape]].is_err())
    {
        if let Err(e) = reports.swap_remove(index[shape]) {
            return Err(in_layer(e, &layer.name));
        }
    }
    let mut layers = Vec::with_capacity(shapes.len());
    for (layer, shape) in topology.layers.iter().zip(&shapes) {
        if let Ok(report) = &reports[index[shape]] {
            let mut report = report.clone();
            report.name.clone_from(&layer.name);
            layers.push(report);
        }
    }
    Ok(NetworkReport {
        topology: topology.name.clone(),
        hw: hw.name.clone(),
        compat,
        layers,
    })
}
