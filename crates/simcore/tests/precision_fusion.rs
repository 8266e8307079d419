//! Bit Fusion packs the reduction dimension: on a stall-free layer the cycles follow SCALE-Sim's
//! closed forms with the window R·S·C replaced by R·S·ceil(C/P), P = floor(pe/w)·floor(pe/a).

use simcore::config::{Dataflow, EnergyTable, HwConfig, Interface};
use simcore::precision::{simulate_layer_at, LayerBits};
use simcore::{CompatMode, ConvShape, Layer};

fn hw(dataflow: Dataflow) -> HwConfig {
    HwConfig {
        name: "fused".into(),
        array_rows: 8,
        array_cols: 8,
        dataflow,
        // Large enough that nothing is ever refilled: the runs are stall-free.
        ifmap_sram_kb: 4096,
        filter_sram_kb: 4096,
        ofmap_sram_kb: 4096,
        ifmap_bw: 64,
        filter_bw: 64,
        ofmap_bw: 64,
        interface: Interface::User,
        clock_ghz: 1.0,
        word_bits: 8,
        pe_bits: 8,
        bit_fusion: true,
        energy: EnergyTable {
            mac_pj: 0.23,
            sram_read_pj: 3.5,
            sram_write_pj: 3.5,
            dram_access_pj: 243.75,
        },
        ifmap_offset: 0,
        filter_offset: 10_000_000,
        ofmap_offset: 20_000_000,
    }
}

/// Stall-free Total Cycles (SCALE-Sim's closed form) for an 8×8 array.
fn closed_form(dataflow: Dataflow, pixels: u64, window: u64, filters: u64) -> i64 {
    let (r, c) = (8, 8);
    let cycles = match dataflow {
        Dataflow::Os => pixels.div_ceil(r) * filters.div_ceil(c) * (window + r + c - 2),
        Dataflow::Ws => window.div_ceil(r) * filters.div_ceil(c) * (2 * r + c + pixels - 2),
        Dataflow::Is => window.div_ceil(r) * pixels.div_ceil(c) * (2 * r + c + filters - 2),
    };
    cycles as i64 - 1
}

#[test]
fn fused_cycles_are_the_closed_form_of_the_packed_window() {
    let shape = ConvShape {
        ifmap_h: 10,
        ifmap_w: 10,
        filter_h: 3,
        filter_w: 3,
        channels: 30,
        num_filters: 24,
        stride_h: 1,
        stride_w: 1,
    };
    let layer = Layer::conv("c", shape).unwrap();
    for dataflow in [Dataflow::Os, Dataflow::Ws, Dataflow::Is] {
        let hw = hw(dataflow);
        for (w, a, pack) in [
            (8, 8, 1),
            (4, 8, 2),
            (4, 4, 4),
            (2, 4, 8),
            (2, 2, 16),
            (3, 2, 8),
        ] {
            let bits = LayerBits {
                w_bits: w,
                a_bits: a,
                out_bits: 8,
            };
            let (report, view) =
                simulate_layer_at(&layer, &hw, bits, CompatMode::ScalesimV3).unwrap();
            assert_eq!(view.pack, pack);
            assert_eq!(report.stall_cycles, 0, "{dataflow:?} {w}/{a}");
            let window = 9 * 30u64.div_ceil(pack);
            assert_eq!(
                report.total_cycles,
                closed_form(dataflow, 64, window, 24),
                "{dataflow:?} {w}/{a}"
            );
        }
    }
}

#[test]
fn without_fusion_bits_do_not_change_a_stall_free_layers_cycles() {
    let shape = ConvShape {
        ifmap_h: 10,
        ifmap_w: 10,
        filter_h: 3,
        filter_w: 3,
        channels: 30,
        num_filters: 24,
        stride_h: 1,
        stride_w: 1,
    };
    let layer = Layer::conv("c", shape).unwrap();
    let hw = HwConfig {
        bit_fusion: false,
        ..hw(Dataflow::Os)
    };
    for b in [2, 4, 8] {
        let bits = LayerBits {
            w_bits: b,
            a_bits: b,
            out_bits: b,
        };
        let (report, _) = simulate_layer_at(&layer, &hw, bits, CompatMode::ScalesimV3).unwrap();
        assert_eq!(report.total_cycles, closed_form(Dataflow::Os, 64, 270, 24));
    }
}
