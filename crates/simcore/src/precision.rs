//! How a layer's bitwidths change what the engine simulates.
//!
//! The engine knows nothing about bits: it counts elements. A layer at weight bits `w`,
//! input-activation bits `a` and output bits `o` is turned into (1) the SRAM capacities and
//! DRAM bandwidths in elements of each operand and (2), when the PE fuses low-bit MACs
//! (Bit Fusion), a convolution whose reduction dimension is packed. Every formula is written
//! out in `docs/precision.md`. With every operand at the config's `word_bits` and no fusion
//! the result is exactly SCALE-Sim's native view.

use serde::{Deserialize, Serialize};

use crate::compat::CompatMode;
use crate::config::HwConfig;
use crate::engine::{self, EngineParams};
use crate::error::{Location, Result, SimError};
use crate::grouped;
use crate::interrupt::Interrupt;
use crate::report::LayerReport;
use crate::topology::{ConvShape, Layer, LayerKind};

/// The widest operand the model accepts.
pub const MAX_BITS: u32 = 32;

/// The bitwidths of one layer's three operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LayerBits {
    /// Weight (filter) bits.
    pub w_bits: u32,
    /// Input activation (ifmap) bits.
    pub a_bits: u32,
    /// Output (ofmap) bits: the consumer layer's activation bits.
    pub out_bits: u32,
}

impl LayerBits {
    /// Every operand at the config's word size: SCALE-Sim's view.
    pub fn native(hw: &HwConfig) -> Self {
        Self {
            w_bits: hw.word_bits,
            a_bits: hw.word_bits,
            out_bits: hw.word_bits,
        }
    }

    /// Checks that each width is in 1..=32. `layer` names the layer in the error.
    pub fn validate(&self, layer: &str) -> Result<()> {
        for (field, bits) in [
            ("w_bits", self.w_bits),
            ("a_bits", self.a_bits),
            ("out_bits", self.out_bits),
        ] {
            check_bits(bits, layer, field)?;
        }
        Ok(())
    }
}

/// A width outside 1..=32 is an allocation error naming the layer and field.
pub fn check_bits(bits: u32, layer: &str, field: &str) -> Result<()> {
    if (1..=MAX_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(SimError::allocation(
            Location::field(format!("{layer}.{field}")),
            format!("{bits} bits is outside the supported range 1..={MAX_BITS}"),
        ))
    }
}

/// What the engine simulates for one layer at given bits: hardware in elements, plus the
/// number of reduction-dimension values packed into one engine element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrecisionView {
    pub params: EngineParams,
    /// MACs one PE performs per cycle on the reduction dimension (1 without Bit Fusion).
    pub pack: u64,
    /// Bits of one engine element of each operand: ifmap and filter elements hold `pack`
    /// values each, ofmap elements one.
    pub ifmap_elem_bits: u64,
    pub filter_elem_bits: u64,
    pub ofmap_elem_bits: u64,
}

/// SRAM bits of an operand buffer. SCALE-Sim stores one word per "byte" of its kB sizes
/// (`word_size = 1`), so a buffer of `kb` holds `kb·1024` words of `word_bits` each.
pub fn sram_bits(kb: u32, word_bits: u32) -> u64 {
    u64::from(kb) * 1024 * u64::from(word_bits)
}

/// DRAM bits per cycle of an operand interface given in words per cycle.
pub fn bw_bits(words_per_cycle: u32, word_bits: u32) -> u64 {
    u64::from(words_per_cycle) * u64::from(word_bits)
}

/// Elements of `elem_bits` bits that fit in `capacity_bits` (floor).
pub fn sram_elems(capacity_bits: u64, elem_bits: u64) -> u64 {
    capacity_bits / elem_bits
}

/// Elements of `elem_bits` bits a `bits_per_cycle` interface moves per cycle: floor, but
/// at least one so that an operand wider than the bus still moves.
pub fn bw_elems(bits_per_cycle: u64, elem_bits: u64) -> u64 {
    (bits_per_cycle / elem_bits).max(1)
}

/// MACs per PE per cycle: Bit Fusion packs ⌊pe/w⌋·⌊pe/a⌋ products into one PE; without it a
/// PE does one MAC per cycle at any width. With fusion on, operands wider than the PE are
/// rejected: the fused PE has no multi-cycle mode in this model.
pub fn pack_factor(hw: &HwConfig, w_bits: u32, a_bits: u32, layer: &str) -> Result<u64> {
    if !hw.bit_fusion {
        return Ok(1);
    }
    for (field, bits) in [("w_bits", w_bits), ("a_bits", a_bits)] {
        if bits > hw.pe_bits {
            return Err(SimError::allocation(
                Location::field(format!("{layer}.{field}")),
                format!(
                    "{bits} bits is wider than the Bit-Fusion PE (pe_bits = {}) of config '{}'",
                    hw.pe_bits, hw.name
                ),
            ));
        }
    }
    Ok(u64::from(hw.pe_bits / w_bits) * u64::from(hw.pe_bits / a_bits))
}

impl PrecisionView {
    /// The engine's view of `hw` for a layer at `bits`.
    pub fn new(hw: &HwConfig, bits: LayerBits, layer: &str) -> Result<Self> {
        bits.validate(layer)?;
        let pack = pack_factor(hw, bits.w_bits, bits.a_bits, layer)?;
        let ifmap_elem_bits = pack * u64::from(bits.a_bits);
        let filter_elem_bits = pack * u64::from(bits.w_bits);
        let ofmap_elem_bits = u64::from(bits.out_bits);
        let wb = hw.word_bits;
        let params = EngineParams {
            array_rows: u64::from(hw.array_rows),
            array_cols: u64::from(hw.array_cols),
            dataflow: hw.dataflow,
            interface: hw.interface,
            ifmap_sram_elems: sram_elems(sram_bits(hw.ifmap_sram_kb, wb), ifmap_elem_bits),
            filter_sram_elems: sram_elems(sram_bits(hw.filter_sram_kb, wb), filter_elem_bits),
            ofmap_sram_elems: sram_elems(sram_bits(hw.ofmap_sram_kb, wb), ofmap_elem_bits),
            ifmap_bw_elems: bw_elems(bw_bits(hw.ifmap_bw, wb), ifmap_elem_bits),
            filter_bw_elems: bw_elems(bw_bits(hw.filter_bw, wb), filter_elem_bits),
            ofmap_bw_elems: bw_elems(bw_bits(hw.ofmap_bw, wb), ofmap_elem_bits),
        };
        Ok(Self {
            params,
            pack,
            ifmap_elem_bits,
            filter_elem_bits,
            ofmap_elem_bits,
        })
    }

    /// The convolution the engine simulates: `pack` channels share one engine element, so
    /// the reduction window R·S·C becomes R·S·⌈C/pack⌉ with the im2col address structure
    /// (and hence SCALE-Sim's SRAM reuse) of a real convolution intact.
    pub fn pack_conv(&self, shape: &ConvShape) -> ConvShape {
        ConvShape {
            channels: shape.channels.div_ceil(self.pack),
            ..*shape
        }
    }

    /// A GEMM M×K·K×N packs its reduction K: SCALE-Sim's conv form of it (H=M, W=K, R=1,
    /// S=K, C=1) becomes H=M, W=S=⌈K/pack⌉.
    pub fn pack_gemm(&self, m: u64, n: u64, k: u64) -> ConvShape {
        ConvShape::of_gemm(m, n, k.div_ceil(self.pack))
    }
}

/// Simulates `layer` at `bits` on `hw`: the engine runs the packed convolution under the
/// precision view; depthwise and grouped layers run as back-to-back groups (`grouped.rs`).
/// The report's counts are engine elements of the widths in the returned view.
pub fn simulate_layer_at(
    layer: &Layer,
    hw: &HwConfig,
    bits: LayerBits,
    compat: CompatMode,
) -> Result<(LayerReport, PrecisionView)> {
    simulate_layer_at_with(layer, hw, bits, compat, &Interrupt::never())
}

/// `simulate_layer_at` that stops with `SimError::Interrupted` once `interrupt` is raised.
pub fn simulate_layer_at_with(
    layer: &Layer,
    hw: &HwConfig,
    bits: LayerBits,
    compat: CompatMode,
    interrupt: &Interrupt,
) -> Result<(LayerReport, PrecisionView)> {
    let view = PrecisionView::new(hw, bits, &layer.name)?;
    let dense = |shape: &ConvShape| {
        engine::simulate_conv_with(&view.pack_conv(shape), &view.params, compat, interrupt)
    };
    let report = match layer.kind {
        LayerKind::Conv(shape) => dense(&shape),
        LayerKind::Gemm { m, n, k } => {
            engine::simulate_conv_with(&view.pack_gemm(m, n, k), &view.params, compat, interrupt)
        }
        LayerKind::Depthwise(_) | LayerKind::Grouped { .. } => grouped::simulate_grouped(
            &layer.kind,
            view.params.array_rows * view.params.array_cols,
            dense,
        ),
    };
    let mut report = report.map_err(|e| engine::in_layer(e, &layer.name))?;
    report.name.clone_from(&layer.name);
    Ok((report, view))
}
