//! Latency, model size and energy of a simulated layer at its bitwidths.
//!
//! Latency follows the AMED paper (§4.4.3): compute latency = cycles / clock; each operand's
//! memory latency = bits it moves over DRAM / (interface bits per cycle × clock); a layer
//! takes the max of these, and a network the sum over layers. Energy is per-access energy ×
//! access counts, with every access scaled by its width. Formulas: `docs/precision.md`.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::compat::CompatMode;
use crate::config::HwConfig;
use crate::error::{Location, Result, SimError};
use crate::interrupt::Interrupt;
use crate::precision::{bw_bits, simulate_layer_at_with, LayerBits, PrecisionView};
use crate::report::LayerReport;
use crate::topology::{Layer, LayerKind, Topology};

/// Energy of one layer, in picojoules, split by where it is spent.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Energy {
    pub mac_pj: f64,
    pub sram_pj: f64,
    pub dram_pj: f64,
}

impl Energy {
    pub fn total_pj(&self) -> f64 {
        self.mac_pj + self.sram_pj + self.dram_pj
    }
}

/// Everything the cost model reports for one layer at one bit choice.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LayerCost {
    /// "Total Cycles" of the simulation (stalls included).
    pub total_cycles: i64,
    pub stall_cycles: i64,
    pub compute_latency_us: f64,
    /// DRAM time of the ifmap, filter and ofmap streams.
    pub memory_latency_us: [f64; 3],
    /// max(compute, memory) latency.
    pub latency_us: f64,
    /// Bits moved over DRAM by the ifmap, filter and ofmap streams.
    pub dram_bits: [u64; 3],
    /// Weight storage, in bits.
    pub size_bits: u64,
    pub energy: Energy,
}

impl LayerCost {
    pub fn dram_bytes(&self) -> f64 {
        self.dram_bits.iter().sum::<u64>() as f64 / 8.0
    }
}

/// Cost of a layer from its simulation `report` under `view` at `bits`.
pub fn layer_cost(
    hw: &HwConfig,
    layer: &Layer,
    bits: LayerBits,
    view: &PrecisionView,
    report: &LayerReport,
) -> LayerCost {
    let clock_hz = hw.clock_ghz * 1e9;
    let to_us = |cycles: f64| cycles / clock_hz * 1e6;
    let elem_bits = [
        view.ifmap_elem_bits,
        view.filter_elem_bits,
        view.ofmap_elem_bits,
    ];
    let dram_counts = [
        report.dram_ifmap.count,
        report.dram_filter.count,
        report.dram_ofmap.count,
    ];
    let dram_bits: [u64; 3] = std::array::from_fn(|i| dram_counts[i] * elem_bits[i]);
    let wb = hw.word_bits;
    let bus_bits = [
        bw_bits(hw.ifmap_bw, wb),
        bw_bits(hw.filter_bw, wb),
        bw_bits(hw.ofmap_bw, wb),
    ];
    let memory_latency_us: [f64; 3] =
        std::array::from_fn(|i| to_us(dram_bits[i] as f64 / bus_bits[i] as f64));
    let compute_latency_us = to_us(report.total_cycles as f64);
    let latency_us = memory_latency_us
        .iter()
        .fold(compute_latency_us, |m, &x| m.max(x));
    LayerCost {
        total_cycles: report.total_cycles,
        stall_cycles: report.stall_cycles,
        compute_latency_us,
        memory_latency_us,
        latency_us,
        dram_bits,
        size_bits: layer.weights() * u64::from(bits.w_bits),
        energy: layer_energy(hw, layer, bits, &elem_bits, report),
    }
}

/// Per-access energies × counts. A MAC at w×a bits costs `mac_pj·(w·a)/word_bits²` (a
/// multiplier's area and energy grow with the product of its input widths); an SRAM or DRAM
/// access of an `e`-bit element costs the word energy × e/word_bits.
fn layer_energy(
    hw: &HwConfig,
    layer: &Layer,
    bits: LayerBits,
    elem_bits: &[u64; 3],
    report: &LayerReport,
) -> Energy {
    let table = &hw.energy;
    let word = f64::from(hw.word_bits);
    let width = |e: u64| e as f64 / word;
    let mac_scale = f64::from(bits.w_bits) * f64::from(bits.a_bits) / (word * word);
    let sram_reads = [report.sram_ifmap.count, report.sram_filter.count];
    let sram_pj = table.sram_read_pj
        * (sram_reads[0] as f64 * width(elem_bits[0]) + sram_reads[1] as f64 * width(elem_bits[1]))
        + table.sram_write_pj * report.sram_ofmap.count as f64 * width(elem_bits[2]);
    let dram = [
        report.dram_ifmap.count,
        report.dram_filter.count,
        report.dram_ofmap.count,
    ];
    let dram_pj = table.dram_access_pj
        * (0..3)
            .map(|i| dram[i] as f64 * width(elem_bits[i]))
            .sum::<f64>();
    Energy {
        mac_pj: table.mac_pj * mac_scale * layer.macs() as f64,
        sram_pj,
        dram_pj,
    }
}

/// Simulates `layer` at `bits` and prices it.
pub fn simulate_layer_cost(
    layer: &Layer,
    hw: &HwConfig,
    bits: LayerBits,
    compat: CompatMode,
) -> Result<LayerCost> {
    simulate_layer_cost_with(layer, hw, bits, compat, &Interrupt::never())
}

/// `simulate_layer_cost` that stops with `SimError::Interrupted` once `interrupt` is raised.
pub fn simulate_layer_cost_with(
    layer: &Layer,
    hw: &HwConfig,
    bits: LayerBits,
    compat: CompatMode,
    interrupt: &Interrupt,
) -> Result<LayerCost> {
    let (report, view) = simulate_layer_at_with(layer, hw, bits, compat, interrupt)?;
    Ok(layer_cost(hw, layer, bits, &view, &report))
}

/// The bits of every layer for an allocation of (weight bits, activation bits) per layer:
/// each layer's output takes the next layer's activation bits, the last layer's
/// `output_bits` (the network output's width).
pub fn layer_bits(
    topology: &Topology,
    allocation: &[(u32, u32)],
    output_bits: u32,
) -> Result<Vec<LayerBits>> {
    if allocation.len() != topology.layers.len() {
        return Err(SimError::allocation(
            Location::field("allocation"),
            format!(
                "{} layers in the allocation, the topology has {}",
                allocation.len(),
                topology.layers.len()
            ),
        ));
    }
    let outs = allocation
        .iter()
        .skip(1)
        .map(|&(_, a)| a)
        .chain([output_bits]);
    allocation
        .iter()
        .zip(outs)
        .zip(&topology.layers)
        .map(|((&(w_bits, a_bits), out_bits), layer)| {
            let bits = LayerBits {
                w_bits,
                a_bits,
                out_bits,
            };
            bits.validate(&layer.name)?;
            Ok(bits)
        })
        .collect()
}

/// One layer of a mixed-precision run: SCALE-Sim's report (counts in engine elements of the
/// view's widths), the bits and the priced cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixedLayer {
    pub report: LayerReport,
    pub bits: LayerBits,
    pub cost: LayerCost,
}

/// A network simulated at per-layer bits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixedReport {
    pub topology: String,
    pub hw: String,
    pub layers: Vec<MixedLayer>,
}

impl MixedReport {
    pub fn latency_us(&self) -> f64 {
        self.layers.iter().map(|l| l.cost.latency_us).sum()
    }

    pub fn size_bits(&self) -> u64 {
        self.layers.iter().map(|l| l.cost.size_bits).sum()
    }

    pub fn energy_pj(&self) -> f64 {
        self.layers.iter().map(|l| l.cost.energy.total_pj()).sum()
    }

    pub fn total_cycles(&self) -> i64 {
        self.layers.iter().map(|l| l.report.total_cycles).sum()
    }

    pub fn stall_cycles(&self) -> i64 {
        self.layers.iter().map(|l| l.report.stall_cycles).sum()
    }
}

/// Simulates every layer of `topology` at the bits of `allocation` ((w, a) per layer); the
/// network output is `output_bits` wide (`word_bits` when `None`). Each distinct (layer,
/// bits) is simulated once, in parallel; the result equals simulating the layers in order.
pub fn simulate_mixed(
    topology: &Topology,
    hw: &HwConfig,
    allocation: &[(u32, u32)],
    output_bits: Option<u32>,
    compat: CompatMode,
) -> Result<MixedReport> {
    simulate_mixed_with(
        topology,
        hw,
        allocation,
        output_bits,
        compat,
        &Interrupt::never(),
    )
}

/// `simulate_mixed` that stops with `SimError::Interrupted` once `interrupt` is raised.
pub fn simulate_mixed_with(
    topology: &Topology,
    hw: &HwConfig,
    allocation: &[(u32, u32)],
    output_bits: Option<u32>,
    compat: CompatMode,
    interrupt: &Interrupt,
) -> Result<MixedReport> {
    let bits = layer_bits(topology, allocation, output_bits.unwrap_or(hw.word_bits))?;
    let mut distinct: Vec<(&Layer, LayerBits)> = Vec::new();
    let mut index: HashMap<(LayerKind, LayerBits), usize> = HashMap::new();
    let slots: Vec<usize> = topology
        .layers
        .iter()
        .zip(&bits)
        .map(|(layer, &b)| {
            *index.entry((layer.kind, b)).or_insert_with(|| {
                distinct.push((layer, b));
                distinct.len() - 1
            })
        })
        .collect();
    interrupt.add_layers(distinct.len() as u64);
    let runs = distinct
        .par_iter()
        .map(|&(layer, b)| {
            let run = simulate_layer_at_with(layer, hw, b, compat, interrupt)
                .map(|(report, view)| (report, view, b));
            interrupt.layer_done();
            run
        })
        .collect::<Result<Vec<_>>>()?;
    let layers = topology
        .layers
        .iter()
        .zip(slots)
        .map(|(layer, slot)| {
            let (report, view, b) = &runs[slot];
            let mut report = report.clone();
            report.name.clone_from(&layer.name);
            MixedLayer {
                cost: layer_cost(hw, layer, *b, view, &report),
                report,
                bits: *b,
            }
        })
        .collect();
    Ok(MixedReport {
        topology: topology.name.clone(),
        hw: hw.name.clone(),
        layers,
    })
}
