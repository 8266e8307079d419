//! Numbers the real SCALE-Sim printed that the golden cases do not hold: runs too slow for the
//! peer suite (test1 on eyeriss takes minutes in SCALE-Sim) and the scale-sim-v2 HEAD release
//! behind `CompatMode::Fixed` (GitHub only, 22f88b1), recorded from runs of those releases.

use simcore::{
    simulate_conv, CompatMode, ConvShape, Dataflow, EngineParams, Interface, LayerReport,
};

fn conv(h: u64, w: u64, r: u64, s: u64, c: u64, k: u64, stride: u64) -> ConvShape {
    ConvShape {
        ifmap_h: h,
        ifmap_w: w,
        filter_h: r,
        filter_w: s,
        channels: c,
        num_filters: k,
        stride_h: stride,
        stride_w: stride,
    }
}

/// SCALE-Sim's native view of a config: kB·1024 elements, `bw` words per cycle everywhere.
fn params(rows: u64, cols: u64, kb: u64, dataflow: Dataflow) -> EngineParams {
    EngineParams {
        array_rows: rows,
        array_cols: cols,
        dataflow,
        interface: Interface::User,
        ifmap_sram_elems: kb * 1024,
        filter_sram_elems: kb * 1024,
        ofmap_sram_elems: kb * 1024,
        ifmap_bw_elems: 10,
        filter_bw_elems: 10,
        ofmap_bw_elems: 10,
    }
}

fn run(shape: ConvShape, p: EngineParams, compat: CompatMode) -> LayerReport {
    simulate_conv(&shape, &p, compat).expect("simulates")
}

fn test1() -> ConvShape {
    conv(7, 7, 3, 3, 192, 384, 1)
}

#[test]
fn test1_on_scalesim_all_releases() {
    let p = params(32, 32, 64, Dataflow::Os);
    let v3 = run(test1(), p, CompatMode::ScalesimV3);
    assert_eq!((v3.total_cycles, v3.stall_cycles), (67_667, 46_188));
    // Refill counts are timing-free: 11 ifmap and 20 filter refills of 3277 lines.
    assert_eq!(
        (v3.dram_ifmap.count, v3.dram_ifmap.stop_cycle),
        (393_240, 36_057.0)
    );
    assert_eq!(
        (v3.dram_filter.count, v3.dram_filter.stop_cycle),
        (688_170, 65_559.0)
    );
    for compat in [CompatMode::ScalesimV2, CompatMode::Fixed] {
        let r = run(test1(), p, compat);
        assert_eq!(
            (r.total_cycles, r.stall_cycles),
            (65_840, 44_361),
            "{compat:?}"
        );
    }
}

#[test]
fn test1_on_eyeriss() {
    let p = params(12, 14, 108, Dataflow::Ws);
    let v3 = run(test1(), p, CompatMode::ScalesimV3);
    assert_eq!((v3.total_cycles, v3.stall_cycles), (755_101, 509_150));
    let v2 = run(test1(), p, CompatMode::ScalesimV2);
    assert_eq!((v2.total_cycles, v2.stall_cycles), (749_629, 503_678));
}

#[test]
fn small3_conv_a_on_lowmem_fixed() {
    let r = run(
        conv(18, 18, 3, 3, 3, 16, 1),
        params(32, 32, 4, Dataflow::Os),
        CompatMode::Fixed,
    );
    assert_eq!((r.total_cycles, r.stall_cycles), (3_382, 2_671));
}

/// An ofmap-write-bound layer: the three releases differ only in how they count write stalls.
#[test]
fn ostress_write_stalls_per_release() {
    let shape = conv(32, 32, 1, 1, 4, 64, 1);
    let p = params(32, 32, 4, Dataflow::Os);
    let stalls = [
        CompatMode::ScalesimV3,
        CompatMode::ScalesimV2,
        CompatMode::Fixed,
    ]
    .map(|compat| run(shape, p, compat).stall_cycles);
    assert_eq!(stalls, [3_441, 3_299, 3_301]);
}
