//! Latency, model size and energy of a simulated layer at its bitwidths.
//!
//! Latency follows the AMED paper (§4.4.3): compute latency = cycles / clock; each operand's
//! memory latency = bits it moves over DRAM / (interface bits per cycle × clock); a layer
//! takes the max of these, and a network the sum over layers. Energy is per-access energy ×
//! access counts, with every access scaled by its width. Formulas: `docs/precision.md`.

use serde::{Deserialize, Serialize};

use crate::config::HwConfig;
use crate::precision::{bw_bits, LayerBits, PrecisionView};
use crate::report::LayerReport;
use crate::topology::Layer;

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
    let elem_bits = [view.ifmap_elem_bits, view.filter_elem_bits, view.ofmap_elem_bits];
    let dram_counts = [report.dram_ifmap.count, report.dram_filter.count, report.dram_ofmap.count];
    let dram_bits: [u64; 3] = std::array::from_fn(|i| dram_counts[i] * elem_bits[i]);
    let wb = hw.word_bits;
    let bus_bits = [bw_bits(hw.ifmap_bw, wb), bw_bits(hw.filter_bw, wb), bw_bits(hw.ofmap_bw, wb)];
    let memory_latency_us: [f64; 3] =
        std::array::from_fn(|i| to_us(dram_bits[i] as f64 / bus_bits[i] as f64));
    let compute_latency_us = to_us(report.total_cycles as f64);
    let latency_us = memory_latency_us.iter().fold(compute_latency_us, |m, &x| m.max(x));
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
    let dram = [report.dram_ifmap.count, report.dram_filter.count, report.dram_ofmap.count];
    let dram_pj = table.dram_access_pj * (0..3).map(|i| dram[i] as f64 * width(elem_bits[i])).sum::<f64>();
    Energy { mac_pj: table.mac_pj * mac_scale * layer.macs() as f64, sram_pj, dram_pj }
}
