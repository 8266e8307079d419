//! At native precision the precision model is SCALE-Sim itself, and a uniform b-bit layer
//! without Bit Fusion is SCALE-Sim on a config whose SRAM sizes and bandwidths are scaled by
//! word_bits/b.

use proptest::prelude::*;
use simcore::config::{Dataflow, EnergyTable, HwConfig, Interface};
use simcore::cost::simulate_mixed;
use simcore::precision::{simulate_layer_at, LayerBits, PrecisionView};
use simcore::{engine, CompatMode, ConvShape, EngineParams, Layer, Topology};

fn hw(dataflow: Dataflow, rows: u32, cols: u32, kb: [u32; 3], bw: [u32; 3]) -> HwConfig {
    HwConfig {
        name: "small".into(),
        array_rows: rows,
        array_cols: cols,
        dataflow,
        ifmap_sram_kb: kb[0],
        filter_sram_kb: kb[1],
        ofmap_sram_kb: kb[2],
        ifmap_bw: bw[0],
        filter_bw: bw[1],
        ofmap_bw: bw[2],
        interface: Interface::User,
        clock_ghz: 0.2,
        word_bits: 8,
        pe_bits: 8,
        bit_fusion: false,
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

fn arb_hw() -> impl Strategy<Value = HwConfig> {
    (
        prop_oneof![Just(Dataflow::Os), Just(Dataflow::Ws), Just(Dataflow::Is)],
        2u32..9,
        2u32..9,
        prop::array::uniform3(1u32..3),
        prop::array::uniform3(1u32..11),
    )
        .prop_map(|(df, rows, cols, kb, bw)| hw(df, rows, cols, kb, bw))
}

fn arb_layer() -> impl Strategy<Value = Layer> {
    (3u64..14, 1u64..4, 1u64..24, 1u64..40, 1u64..3, 0u8..4).prop_map(|(h, r, c, k, s, kind)| {
        let shape = ConvShape {
            ifmap_h: h.max(r),
            ifmap_w: (h + 1).max(r),
            filter_h: r,
            filter_w: r,
            channels: c,
            num_filters: k,
            stride_h: s,
            stride_w: s,
        };
        match kind {
            0 => Layer::gemm("g", h * 3, k, c * 5).unwrap(),
            1 => Layer::depthwise(
                "d",
                ConvShape {
                    num_filters: c * (1 + k % 2),
                    ..shape
                },
            )
            .unwrap(),
            2 => Layer::grouped(
                "gr",
                ConvShape {
                    channels: 2 * c,
                    num_filters: 2 * k,
                    ..shape
                },
                2,
            )
            .unwrap(),
            _ => Layer::conv("c", shape).unwrap(),
        }
    })
}

fn compat() -> impl Strategy<Value = CompatMode> {
    prop_oneof![
        Just(CompatMode::ScalesimV3),
        Just(CompatMode::ScalesimV2),
        Just(CompatMode::Fixed)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn native_bits_give_exactly_the_engines_report(
        hw in arb_hw(), layer in arb_layer(), compat in compat(), fusion in any::<bool>(),
    ) {
        // With pe_bits = word_bits a fused PE packs ⌊8/8⌋·⌊8/8⌋ = 1 MAC: fusion is a no-op here
        // (the shipped configs fuse, and must stay SCALE-Sim at native precision).
        let hw = HwConfig { bit_fusion: fusion, ..hw };
        let native = LayerBits::native(&hw);
        let view = PrecisionView::new(&hw, native, &layer.name).unwrap();
        prop_assert_eq!(view.params, EngineParams::native(&hw));
        let (ours, _) = simulate_layer_at(&layer, &hw, native, compat).unwrap();
        let engine = engine::simulate_layer(&layer, &EngineParams::native(&hw), compat).unwrap();
        prop_assert_eq!(ours, engine);
    }

    #[test]
    fn uniform_b_bits_is_the_engine_on_a_scaled_config(
        hw in arb_hw(), layer in arb_layer(), compat in compat(), b in prop_oneof![Just(1u32), Just(2), Just(4)],
        wide_words in any::<bool>(),
    ) {
        // Words of 8 or 16 bits: the scale is word_bits / b either way.
        let hw = HwConfig { word_bits: if wide_words { 16 } else { 8 }, ..hw };
        let scale = hw.word_bits / b;
        let scaled = HwConfig {
            ifmap_sram_kb: hw.ifmap_sram_kb * scale,
            filter_sram_kb: hw.filter_sram_kb * scale,
            ofmap_sram_kb: hw.ofmap_sram_kb * scale,
            ifmap_bw: hw.ifmap_bw * scale,
            filter_bw: hw.filter_bw * scale,
            ofmap_bw: hw.ofmap_bw * scale,
            ..hw.clone()
        };
        let bits = LayerBits { w_bits: b, a_bits: b, out_bits: b };
        let (ours, _) = simulate_layer_at(&layer, &hw, bits, compat).unwrap();
        let engine = engine::simulate_layer(&layer, &EngineParams::native(&scaled), compat).unwrap();
        prop_assert_eq!(ours, engine);
    }
}

#[test]
fn a_native_network_run_equals_the_engines_network_run() {
    let hw = hw(Dataflow::Os, 8, 8, [1, 1, 1], [4, 4, 4]);
    let conv = |name: &str, h: u64, c: u64, k: u64| {
        let shape = ConvShape {
            ifmap_h: h,
            ifmap_w: h,
            filter_h: 3,
            filter_w: 3,
            channels: c,
            num_filters: k,
            stride_h: 1,
            stride_w: 1,
        };
        Layer::conv(name, shape).unwrap()
    };
    let t = Topology::new(
        "t",
        vec![
            conv("a", 12, 3, 16),
            conv("b", 10, 16, 16),
            conv("c", 10, 16, 16),
        ],
    )
    .unwrap();
    let engine = engine::simulate(&t, &hw, CompatMode::ScalesimV3).unwrap();
    for fusion in [false, true] {
        let hw = HwConfig {
            bit_fusion: fusion,
            ..hw.clone()
        };
        let mixed = simulate_mixed(&t, &hw, &[(8, 8); 3], None, CompatMode::ScalesimV3).unwrap();
        let reports: Vec<_> = mixed.layers.iter().map(|l| l.report.clone()).collect();
        assert_eq!(reports, engine.layers, "bit_fusion = {fusion}");
        assert_eq!(mixed.total_cycles(), engine.total_cycles());
    }
}

/// The shipped configs fuse low-bit MACs (8-bit PEs); at 8 bits every layer of SCALE-Sim's
/// ResNet-18 on them is still exactly the compatibility-mode engine, i.e. SCALE-Sim.
#[test]
fn the_shipped_fused_configs_are_the_engine_at_native_bits() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let t = Topology::from_csv(root.join("topologies/Resnet18.csv"), false).unwrap();
    for name in ["scalesim", "scalesim_lowmem", "eyeriss"] {
        let hw = HwConfig::from_file(root.join(format!("configs/{name}.toml"))).unwrap();
        assert!(
            hw.bit_fusion && hw.pe_bits == 8 && hw.word_bits == 8,
            "{name}"
        );
        let bits = vec![(8, 8); t.layers.len()];
        let mixed = simulate_mixed(&t, &hw, &bits, None, CompatMode::ScalesimV3).unwrap();
        let engine = engine::simulate(&t, &hw, CompatMode::ScalesimV3).unwrap();
        let reports: Vec<_> = mixed.layers.iter().map(|l| l.report.clone()).collect();
        assert_eq!(reports, engine.layers, "{name}");
    }
}
