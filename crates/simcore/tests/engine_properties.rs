//! Properties of the engine that hold for every shape and hardware: the closed forms where no
//! refill or drain can happen, the cycle identity, memoisation, and typed errors (never a
//! panic) for bad or tiny inputs.

use proptest::prelude::*;
use simcore::{
    simulate, simulate_conv, simulate_layer, CompatMode, ConvShape, Dataflow, EngineParams,
    HwConfig, Interface, Layer, LayerKind, SimError, Topology,
};

fn shape_strategy() -> impl Strategy<Value = ConvShape> {
    (
        1u64..4,
        1u64..4,
        0u64..6,
        0u64..6,
        1u64..6,
        1u64..40,
        1u64..3,
    )
        .prop_map(|(r, s, extra_h, extra_w, c, k, stride)| ConvShape {
            ifmap_h: r + extra_h,
            ifmap_w: s + extra_w,
            filter_h: r,
            filter_w: s,
            channels: c,
            num_filters: k,
            stride_h: stride,
            stride_w: stride,
        })
}

fn dataflow_strategy() -> impl Strategy<Value = Dataflow> {
    prop_oneof![Just(Dataflow::Os), Just(Dataflow::Ws), Just(Dataflow::Is)]
}

fn compat_strategy() -> impl Strategy<Value = CompatMode> {
    prop_oneof![
        Just(CompatMode::ScalesimV3),
        Just(CompatMode::ScalesimV2),
        Just(CompatMode::Fixed)
    ]
}

fn params(rows: u64, cols: u64, dataflow: Dataflow, sram: [u64; 3], bw: [u64; 3]) -> EngineParams {
    EngineParams {
        array_rows: rows,
        array_cols: cols,
        dataflow,
        interface: Interface::User,
        ifmap_sram_elems: sram[0],
        filter_sram_elems: sram[1],
        ofmap_sram_elems: sram[2],
        ifmap_bw_elems: bw[0],
        filter_bw_elems: bw[1],
        ofmap_bw_elems: bw[2],
    }
}

struct Folds {
    folds: i64,
    fold_len: i64,
}

fn folds(shape: &ConvShape, p: &EngineParams) -> Folds {
    let e = (shape.ifmap_h - shape.filter_h).div_ceil(shape.stride_h) + 1;
    let f = (shape.ifmap_w - shape.filter_w).div_ceil(shape.stride_w) + 1;
    let (pix, win, k) = (
        e * f,
        shape.filter_h * shape.filter_w * shape.channels,
        shape.num_filters,
    );
    let (r, c) = (p.array_rows, p.array_cols);
    let (sr, sc, t) = match p.dataflow {
        Dataflow::Os => (pix, k, win),
        Dataflow::Ws => (win, k, pix),
        Dataflow::Is => (win, pix, k),
    };
    let fold_len = match p.dataflow {
        Dataflow::Os => t + r + c - 2,
        _ => 2 * r + c + t - 2,
    };
    Folds {
        folds: (sr.div_ceil(r) * sc.div_ceil(c)) as i64,
        fold_len: fold_len as i64,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// With SRAMs large enough that no refill or drain happens, every field is closed form.
    #[test]
    fn closed_form_without_refills(
        shape in shape_strategy(),
        dataflow in dataflow_strategy(),
        compat in compat_strategy(),
        rows in 1u64..9,
        cols in 1u64..9,
        bw in 1u64..16,
    ) {
        let p = params(rows, cols, dataflow, [1 << 20; 3], [bw; 3]);
        let Ok(r) = simulate_conv(&shape, &p, compat) else {
            // Only a zero-cycle layer (1x1 array, single-cycle folds) is refused.
            prop_assert_eq!(folds(&shape, &p).folds * folds(&shape, &p).fold_len, 1);
            return Ok(());
        };
        let geo = folds(&shape, &p);
        prop_assert_eq!(r.stall_cycles, 0);
        prop_assert_eq!(r.total_cycles, geo.folds * geo.fold_len - 1);
        let active = (1u64 << 20).div_ceil(2);
        for dram in [r.dram_ifmap, r.dram_filter] {
            prop_assert_eq!(dram.stop_cycle, -1.0);
            prop_assert_eq!(dram.count as f64, -dram.start_cycle * bw as f64);
            prop_assert!(dram.count <= active.div_ceil(bw) * bw);
        }
        // The whole ofmap drains in one burst starting at the last cycle.
        prop_assert_eq!(r.dram_ofmap.start_cycle, r.total_cycles as f64);
        let ofmap_elems = match dataflow {
            Dataflow::Os => r.sram_ofmap.count - (geo.folds as u64) * (rows + cols),
            _ => r.sram_ofmap.count,
        };
        prop_assert_eq!(r.dram_ofmap.count, ofmap_elems);
        prop_assert_eq!(r.dram_ofmap.stop_cycle, r.total_cycles as f64 + ofmap_elems.div_ceil(bw) as f64 - 1.0);
        prop_assert!(r.sram_ifmap.start_cycle >= 1.0 && r.sram_ifmap.stop_cycle <= r.total_cycles as f64 + 1.0);
        prop_assert!(r.sram_ofmap.stop_cycle <= r.total_cycles as f64);
        prop_assert!(r.mapping_efficiency > 0.0 && r.mapping_efficiency <= 100.0);
        prop_assert!(r.compute_util > 0.0 && r.compute_util <= r.mapping_efficiency);
        // Not capped at 100: "Total Cycles" is the last cycle index, one short of the count.
        prop_assert!(r.overall_util > 0.0);
        prop_assert_eq!(r.total_cycles_incl_prefetch.is_some(), compat == CompatMode::ScalesimV3);
    }

    /// Any SRAM size, however small, gives a report or a typed error, and Total Cycles lies
    /// between the stall-free count and that count plus the stalls.
    #[test]
    fn tiny_memories_never_panic(
        shape in shape_strategy(),
        dataflow in dataflow_strategy(),
        compat in compat_strategy(),
        rows in 1u64..6,
        cols in 1u64..6,
        sram in proptest::array::uniform3(1u64..300),
        bw in proptest::array::uniform3(1u64..8),
    ) {
        let p = params(rows, cols, dataflow, sram, bw);
        match simulate_conv(&shape, &p, compat) {
            Ok(r) => {
                let geo = folds(&shape, &p);
                prop_assert!(r.stall_cycles >= 0 || compat == CompatMode::ScalesimV2);
                if compat != CompatMode::ScalesimV2 {
                    // Stalls of the last line's reads are counted but do not delay its write,
                    // so they may be missing from Total Cycles.
                    let stall_free = geo.folds * geo.fold_len - 1;
                    prop_assert!(r.total_cycles >= stall_free);
                    prop_assert!(r.total_cycles <= stall_free + r.stall_cycles);
                }
                prop_assert!(r.dram_ifmap.count >= 1 && r.dram_filter.count >= 1);
            }
            Err(SimError::Config { .. } | SimError::Topology { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }
}

fn hw() -> HwConfig {
    HwConfig::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/inputs/v3/scalesim_lowmem.cfg"
    ))
    .expect("config")
}

#[test]
fn network_is_memoised_layer_by_layer() {
    let hw = hw();
    let p = EngineParams::native(&hw);
    let conv = |h, c, k, stride| ConvShape {
        ifmap_h: h,
        ifmap_w: h,
        filter_h: 3,
        filter_w: 3,
        channels: c,
        num_filters: k,
        stride_h: stride,
        stride_w: stride,
    };
    let layers = vec![
        Layer {
            name: "a".into(),
            kind: LayerKind::Conv(conv(12, 8, 16, 1)),
        },
        Layer {
            name: "b".into(),
            kind: LayerKind::Conv(conv(10, 16, 24, 2)),
        },
        Layer {
            name: "a_again".into(),
            kind: LayerKind::Conv(conv(12, 8, 16, 1)),
        },
        Layer {
            name: "g".into(),
            kind: LayerKind::Gemm {
                m: 40,
                n: 20,
                k: 30,
            },
        },
    ];
    let topology = Topology {
        name: "net".into(),
        layers: layers.clone(),
    };
    for compat in [
        CompatMode::ScalesimV3,
        CompatMode::ScalesimV2,
        CompatMode::Fixed,
    ] {
        let network = simulate(&topology, &hw, compat).expect("network");
        assert_eq!(network.layers.len(), layers.len());
        for (layer, report) in layers.iter().zip(&network.layers) {
            assert_eq!(&simulate_layer(layer, &p, compat).expect("layer"), report);
        }
        assert_eq!(
            network.total_cycles(),
            network.layers.iter().map(|l| l.total_cycles).sum::<i64>()
        );
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let p = EngineParams::native(&hw());
    let good = ConvShape {
        ifmap_h: 8,
        ifmap_w: 8,
        filter_h: 3,
        filter_w: 3,
        channels: 2,
        num_filters: 4,
        stride_h: 1,
        stride_w: 1,
    };
    assert!(simulate_conv(&good, &p, CompatMode::default()).is_ok());
    let bad_shapes = [
        ConvShape { ifmap_h: 0, ..good },
        ConvShape {
            channels: 0,
            ..good
        },
        ConvShape {
            num_filters: 0,
            ..good
        },
        ConvShape {
            stride_w: 0,
            ..good
        },
        ConvShape {
            filter_h: 9,
            ..good
        },
        ConvShape {
            filter_w: 9,
            ..good
        },
        ConvShape {
            ifmap_h: 1 << 40,
            ifmap_w: 1 << 40,
            ..good
        },
    ];
    for shape in bad_shapes {
        let err = simulate_conv(&shape, &p, CompatMode::default()).expect_err("bad shape");
        assert!(matches!(err, SimError::Topology { .. }), "{shape:?}: {err}");
    }
    let bad_params = [
        EngineParams { array_rows: 0, ..p },
        EngineParams { array_cols: 0, ..p },
        EngineParams {
            ifmap_sram_elems: 0,
            ..p
        },
        EngineParams {
            ofmap_bw_elems: 0,
            ..p
        },
        EngineParams {
            interface: Interface::Calc,
            ..p
        },
        EngineParams {
            array_rows: 1 << 20,
            ..p
        },
        EngineParams {
            filter_sram_elems: u64::MAX,
            ..p
        },
    ];
    for params in bad_params {
        let err = simulate_conv(&good, &params, CompatMode::default()).expect_err("bad params");
        assert!(matches!(err, SimError::Config { .. }), "{params:?}: {err}");
    }
    let depthwise = Layer {
        name: "dw".into(),
        kind: LayerKind::Gemm { m: 0, n: 1, k: 1 },
    };
    let err = simulate_layer(&depthwise, &p, CompatMode::default()).expect_err("empty gemm");
    assert!(err.to_string().contains("dw"), "{err}");
}
