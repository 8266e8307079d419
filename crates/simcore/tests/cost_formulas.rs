//! Latency, size and energy of a layer from a simulation report, checked against the
//! formulas of docs/precision.md written out by hand.

use simcore::config::{Dataflow, EnergyTable, HwConfig, Interface};
use simcore::cost::layer_cost;
use simcore::precision::{LayerBits, PrecisionView};
use simcore::{Access, ConvShape, Layer, LayerReport};

fn hw(bit_fusion: bool) -> HwConfig {
    HwConfig {
        name: "t".into(),
        array_rows: 4,
        array_cols: 4,
        dataflow: Dataflow::Os,
        ifmap_sram_kb: 2,
        filter_sram_kb: 1,
        ofmap_sram_kb: 1,
        ifmap_bw: 10,
        filter_bw: 4,
        ofmap_bw: 2,
        interface: Interface::User,
        clock_ghz: 0.5,
        word_bits: 8,
        pe_bits: 8,
        bit_fusion,
        energy: EnergyTable {
            mac_pj: 0.2,
            sram_read_pj: 2.0,
            sram_write_pj: 3.0,
            dram_access_pj: 100.0,
        },
        ifmap_offset: 0,
        filter_offset: 10_000_000,
        ofmap_offset: 20_000_000,
    }
}

fn access(count: u64) -> Access {
    Access {
        start_cycle: 0.0,
        stop_cycle: 1.0,
        count,
    }
}

fn report(total_cycles: i64, dram: [u64; 3]) -> LayerReport {
    LayerReport {
        name: String::new(),
        total_cycles_incl_prefetch: None,
        total_cycles,
        stall_cycles: 5,
        overall_util: 0.0,
        mapping_efficiency: 0.0,
        compute_util: 0.0,
        avg_ifmap_sram_bw: 0.0,
        avg_filter_sram_bw: 0.0,
        avg_ofmap_sram_bw: 0.0,
        avg_ifmap_dram_bw: 0.0,
        avg_filter_dram_bw: 0.0,
        avg_ofmap_dram_bw: 0.0,
        sram_ifmap: access(1000),
        sram_filter: access(400),
        sram_ofmap: access(300),
        dram_ifmap: access(dram[0]),
        dram_filter: access(dram[1]),
        dram_ofmap: access(dram[2]),
        macs: 0,
    }
}

/// 6x6 input, 3x3 filter, 4 channels, 8 filters: 16 outputs per filter, 4608 MACs, 288 weights.
fn shape() -> ConvShape {
    ConvShape {
        ifmap_h: 6,
        ifmap_w: 6,
        filter_h: 3,
        filter_w: 3,
        channels: 4,
        num_filters: 8,
        stride_h: 1,
        stride_w: 1,
    }
}

fn layer() -> Layer {
    Layer::conv("l", shape()).unwrap()
}

#[test]
fn the_engine_view_scales_capacities_and_bandwidths_by_element_width() {
    let bits = LayerBits {
        w_bits: 4,
        a_bits: 2,
        out_bits: 3,
    };
    let view = PrecisionView::new(&hw(false), bits, "l").unwrap();
    let p = view.params;
    assert_eq!(
        (p.ifmap_sram_elems, p.filter_sram_elems, p.ofmap_sram_elems),
        (8192, 2048, 2730)
    );
    // 80, 32 and 16 bits per cycle.
    assert_eq!(
        (p.ifmap_bw_elems, p.filter_bw_elems, p.ofmap_bw_elems),
        (40, 8, 5)
    );
    // A 32-bit ofmap on a 16-bit bus still moves one element per cycle.
    let wide = PrecisionView::new(
        &hw(false),
        LayerBits {
            out_bits: 32,
            ..bits
        },
        "l",
    )
    .unwrap();
    assert_eq!(wide.params.ofmap_bw_elems, 1);
}

#[test]
fn bit_fusion_packs_channels_and_widens_the_packed_elements() {
    let bits = LayerBits {
        w_bits: 4,
        a_bits: 2,
        out_bits: 8,
    };
    let view = PrecisionView::new(&hw(true), bits, "l").unwrap();
    assert_eq!(view.pack, 2 * 4);
    assert_eq!(
        (
            view.ifmap_elem_bits,
            view.filter_elem_bits,
            view.ofmap_elem_bits
        ),
        (16, 32, 8)
    );
    assert_eq!(view.params.ifmap_sram_elems, 2 * 1024 * 8 / 16);
    assert_eq!(
        view.pack_conv(&shape()),
        ConvShape {
            channels: 1,
            ..shape()
        }
    );
    assert_eq!(
        view.pack_gemm(5, 7, 100),
        ConvShape {
            ifmap_w: 13,
            filter_w: 13,
            ..view.pack_gemm(5, 7, 13 * 8)
        }
    );
    // Wider than the fused PE: a typed error naming the layer and field.
    let err = PrecisionView::new(&hw(true), LayerBits { w_bits: 16, ..bits }, "conv3").unwrap_err();
    assert!(err.to_string().contains("conv3.w_bits"), "{err}");
}

#[test]
fn bits_outside_1_to_32_are_rejected() {
    for bad in [0, 33] {
        let bits = LayerBits {
            w_bits: 8,
            a_bits: bad,
            out_bits: 8,
        };
        let err = PrecisionView::new(&hw(false), bits, "fc").unwrap_err();
        assert!(err.to_string().contains("fc.a_bits"), "{err}");
    }
}

#[test]
fn latency_is_the_max_of_compute_and_each_operands_dram_time() {
    let bits = LayerBits {
        w_bits: 4,
        a_bits: 2,
        out_bits: 8,
    };
    let hw = hw(false);
    let view = PrecisionView::new(&hw, bits, "l").unwrap();
    // Compute-bound: 1000 cycles at 0.5 GHz = 2 µs.
    let c = layer_cost(&hw, &layer(), bits, &view, &report(1000, [100, 100, 10]));
    assert_eq!(c.compute_latency_us, 2.0);
    // ifmap: 100 · 2 bits over 80 bits/cycle = 2.5 cycles; filter 400/32; ofmap 80/16.
    for (got, cycles) in c.memory_latency_us.iter().zip([2.5, 12.5, 5.0]) {
        assert!((got - cycles / 500.0).abs() < 1e-15, "{got}");
    }
    assert_eq!(c.latency_us, 2.0);
    assert_eq!(c.dram_bits, [200, 400, 80]);
    // Memory-bound on the filter stream: 10 000 · 4 bits / 32 = 1250 cycles = 2.5 µs.
    let c = layer_cost(&hw, &layer(), bits, &view, &report(1000, [100, 10_000, 10]));
    assert_eq!(c.latency_us, 2.5);
    assert_eq!(c.size_bits, 288 * 4);
}

#[test]
fn energy_scales_every_access_by_its_width() {
    let bits = LayerBits {
        w_bits: 4,
        a_bits: 2,
        out_bits: 8,
    };
    let hw = hw(false);
    let view = PrecisionView::new(&hw, bits, "l").unwrap();
    let c = layer_cost(&hw, &layer(), bits, &view, &report(1000, [100, 200, 10]));
    let mac = 0.2 * (4.0 * 2.0) / 64.0 * 4608.0;
    let sram = 2.0 * (1000.0 * 2.0 / 8.0 + 400.0 * 4.0 / 8.0) + 3.0 * 300.0;
    let dram = 100.0 * (100.0 * 2.0 / 8.0 + 200.0 * 4.0 / 8.0 + 10.0);
    assert!((c.energy.mac_pj - mac).abs() < 1e-9);
    assert!((c.energy.sram_pj - sram).abs() < 1e-9);
    assert!((c.energy.dram_pj - dram).abs() < 1e-9);
    assert!((c.energy.total_pj() - (mac + sram + dram)).abs() < 1e-9);
}

#[test]
fn depthwise_and_grouped_size_counts_their_real_weights() {
    let shape = ConvShape {
        ifmap_h: 6,
        ifmap_w: 6,
        filter_h: 3,
        filter_w: 3,
        channels: 8,
        num_filters: 16,
        stride_h: 1,
        stride_w: 1,
    };
    let bits = LayerBits {
        w_bits: 3,
        a_bits: 8,
        out_bits: 8,
    };
    let hw = hw(false);
    let view = PrecisionView::new(&hw, bits, "l").unwrap();
    let r = report(10, [0, 0, 0]);
    let dw = layer_cost(&hw, &Layer::depthwise("d", shape).unwrap(), bits, &view, &r);
    assert_eq!(dw.size_bits, 9 * 16 * 3);
    let g = layer_cost(
        &hw,
        &Layer::grouped("g", shape, 4).unwrap(),
        bits,
        &view,
        &r,
    );
    assert_eq!(g.size_bits, 9 * 2 * 16 * 3);
}
