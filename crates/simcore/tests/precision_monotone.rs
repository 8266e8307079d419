//! Fewer bits never cost more: the cost model's latency, cycles, stalls, DRAM bytes, energy
//! and size never increase when any layer's weight or activation bits drop, on random small
//! layers, configs and allocations. The raw simulation is not monotone (SCALE-Sim's windowed
//! SRAM model is not monotone in capacity); the last test pins down one such case, which is why
//! the cost model tabulates the monotone envelope (docs/precision.md §8).

use proptest::prelude::*;
use simcore::config::{Dataflow, EnergyTable, HwConfig, Interface};
use simcore::cost::simulate_layer_cost;
use simcore::cost_model::{Cost, CostModel};
use simcore::precision::LayerBits;
use simcore::{CompatMode, ConvShape, Layer, Topology};

const CHOICES: [u32; 4] = [2, 3, 4, 8];

fn hw(dataflow: Dataflow, kb: u32, bw: u32, bit_fusion: bool) -> HwConfig {
    HwConfig {
        name: "small".into(),
        array_rows: 4,
        array_cols: 4,
        dataflow,
        ifmap_sram_kb: kb,
        filter_sram_kb: kb,
        ofmap_sram_kb: kb,
        ifmap_bw: bw,
        filter_bw: bw,
        ofmap_bw: bw,
        interface: Interface::User,
        clock_ghz: 0.2,
        word_bits: 8,
        pe_bits: 8,
        bit_fusion,
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

fn conv(name: &str, h: u64, r: u64, c: u64, k: u64, s: u64) -> Layer {
    let shape = ConvShape {
        ifmap_h: h.max(r),
        ifmap_w: h.max(r),
        filter_h: r,
        filter_w: r,
        channels: c,
        num_filters: k,
        stride_h: s,
        stride_w: s,
    };
    Layer::conv(name, shape).unwrap()
}

fn arb_topology() -> impl Strategy<Value = Topology> {
    prop::collection::vec((4u64..10, 1u64..4, 1u64..12, 1u64..20, 1u64..3), 2..4).prop_map(
        |shapes| {
            let layers = shapes
                .iter()
                .enumerate()
                .map(|(i, &(h, r, c, k, s))| conv(&format!("l{i}"), h, r, c, k, s))
                .collect();
            Topology::new("random", layers).unwrap()
        },
    )
}

fn arb_hw() -> impl Strategy<Value = HwConfig> {
    (
        prop_oneof![Just(Dataflow::Os), Just(Dataflow::Ws), Just(Dataflow::Is)],
        1u32..3,
        1u32..6,
        any::<bool>(),
    )
        .prop_map(|(df, kb, bw, fusion)| hw(df, kb, bw, fusion))
}

fn no_more(lower: &Cost, higher: &Cost) -> bool {
    lower.latency_us <= higher.latency_us
        && lower.total_cycles <= higher.total_cycles
        && lower.stall_cycles <= higher.stall_cycles
        && lower.dram_bytes <= higher.dram_bytes
        && lower.energy_pj <= higher.energy_pj
        && lower.size_bytes <= higher.size_bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn dropping_any_bitwidth_never_costs_more(
        topology in arb_topology(),
        hw in arb_hw(),
        compat in prop_oneof![Just(CompatMode::ScalesimV3), Just(CompatMode::ScalesimV2), Just(CompatMode::Fixed)],
        seeds in prop::collection::vec((0usize..4, 0usize..4), 3),
    ) {
        let model = CostModel::new(&topology, &hw, &CHOICES, compat).unwrap();
        let n = topology.layers.len();
        let start: Vec<(usize, usize)> = (0..n).map(|l| seeds[l % seeds.len()]).collect();
        let base = model.cost(&start).unwrap();
        // Every single-step drop of every bitwidth from this allocation.
        for l in 0..n {
            for operand in 0..2 {
                let current = if operand == 0 { start[l].0 } else { start[l].1 };
                for (drop, bits) in CHOICES.iter().enumerate().take(current) {
                    let mut lower = start.clone();
                    if operand == 0 { lower[l].0 = drop } else { lower[l].1 = drop }
                    let c = model.cost(&lower).unwrap();
                    prop_assert!(no_more(&c, &base), "layer {} operand {} to {} bits: {:?} vs {:?}", l, operand, bits, c, base);
                }
            }
        }
    }
}

#[test]
fn the_raw_simulation_is_not_monotone_in_capacity() {
    // 12x12x64 1x1 conv, 64 filters, on an 8x8 os array with 1 kB SRAMs and 1 word/cycle:
    // at 14 bits the ifmap and filter SRAMs hold 585 elements, at 13 bits 630, and the bus
    // moves one element per cycle either way, yet the 13-bit run has more stall cycles.
    let hw = HwConfig {
        array_rows: 8,
        array_cols: 8,
        ..hw(Dataflow::Os, 1, 1, false)
    };
    let layer = conv("pw", 12, 1, 64, 64, 1);
    let at = |b: u32| {
        simulate_layer_cost(
            &layer,
            &hw,
            LayerBits {
                w_bits: b,
                a_bits: b,
                out_bits: 8,
            },
            CompatMode::ScalesimV3,
        )
        .unwrap()
    };
    assert!(
        at(13).stall_cycles > at(14).stall_cycles,
        "{} vs {}",
        at(13).stall_cycles,
        at(14).stall_cycles
    );
    // The cost model over {13, 14} bits (the output is the last layer's, at word_bits)
    // reports no more stalls at 13 bits than at 14.
    let t = Topology::new("one", vec![layer.clone()]).unwrap();
    let model = CostModel::new(&t, &hw, &[13, 14], CompatMode::ScalesimV3).unwrap();
    let thirteen = model.cost_bits(&[(13, 13)]).unwrap();
    assert!(thirteen.stall_cycles <= at(14).stall_cycles as f64);
    assert!(thirteen.stall_cycles < at(13).stall_cycles as f64);
}
