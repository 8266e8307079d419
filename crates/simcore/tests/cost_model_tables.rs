//! The cost model's tables and queries, with a closed-form stand-in for the layer simulation
//! so that every expected total can be written down by hand.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use simcore::cost::{Energy, LayerCost};
use simcore::cost_model::CostModel;
use simcore::precision::LayerBits;
use simcore::{ConvShape, Layer, SimError, Topology};

fn conv(name: &str, hw: u64, c: u64, k: u64) -> Layer {
    let shape = ConvShape {
        ifmap_h: hw,
        ifmap_w: hw,
        filter_h: 3,
        filter_w: 3,
        channels: c,
        num_filters: k,
        stride_h: 1,
        stride_w: 1,
    };
    Layer::conv(name, shape).unwrap()
}

/// Three layers, the first two of the same shape.
fn topology() -> Topology {
    Topology::new(
        "t",
        vec![
            conv("a", 10, 4, 8),
            conv("b", 10, 4, 8),
            conv("c", 8, 8, 16),
        ],
    )
    .unwrap()
}

/// A cost that grows with every width, distinct per layer shape.
fn cost_of(layer: &Layer, bits: LayerBits) -> LayerCost {
    let macs = layer.macs() as f64;
    let (w, a, o) = (
        f64::from(bits.w_bits),
        f64::from(bits.a_bits),
        f64::from(bits.out_bits),
    );
    LayerCost {
        total_cycles: (macs / 16.0 * (w + a)) as i64,
        stall_cycles: (o * 3.0) as i64,
        compute_latency_us: macs * w,
        memory_latency_us: [a, w, o],
        latency_us: macs * w + 100.0 * a + 10.0 * o,
        dram_bits: [a as u64, w as u64, o as u64],
        size_bits: layer.weights() * u64::from(bits.w_bits),
        energy: Energy {
            mac_pj: w * a,
            sram_pj: o,
            dram_pj: 0.0,
        },
    }
}

const CHOICES: [u32; 4] = [2, 3, 4, 8];

fn model() -> CostModel {
    CostModel::build(&topology(), &CHOICES, 8, |l, b| Ok(cost_of(l, b))).unwrap()
}

#[test]
fn a_query_sums_each_layer_at_the_next_layers_activation_bits() {
    let m = model();
    let t = topology();
    let bits = [(8, 4), (2, 3), (4, 8)];
    let got = m.cost_bits(&bits).unwrap();
    let outs = [3, 8, 8]; // b's activations, c's activations, then word_bits after the last
    let mut latency = 0.0;
    let mut size = 0.0;
    for (l, &(w, a)) in bits.iter().enumerate() {
        let c = cost_of(
            &t.layers[l],
            LayerBits {
                w_bits: w,
                a_bits: a,
                out_bits: outs[l],
            },
        );
        latency += c.latency_us;
        size += c.size_bits as f64 / 8.0;
    }
    assert_eq!(got.latency_us, latency);
    assert_eq!(got.size_bytes, size);
    let by_index = m.cost(&[(3, 2), (0, 1), (2, 3)]).unwrap();
    assert_eq!(by_index, got);
}

#[test]
fn repeated_shapes_are_simulated_once() {
    let calls = AtomicUsize::new(0);
    let m = CostModel::build(&topology(), &CHOICES, 8, |l, b| {
        calls.fetch_add(1, Ordering::Relaxed);
        Ok(cost_of(l, b))
    })
    .unwrap();
    // a and b share a shape: 4·4·4 (w, a, next a) entries; c (last) has 4·4 with out = 8,
    // and the native 8/8/8 points are among those.
    assert_eq!(calls.load(Ordering::Relaxed), 64 + 16);
    assert_eq!(m.simulations(), 80);
}

#[test]
fn the_native_reference_is_every_layer_at_word_bits() {
    let m = model();
    let native = m.cost_bits(&[(8, 8), (8, 8), (8, 8)]).unwrap();
    assert_eq!(m.native(), native);
}

#[test]
fn batches_agree_with_single_queries_in_both_layouts() {
    let m = model();
    let allocs: Vec<[(usize, usize); 3]> = (0..5000)
        .map(|i| {
            [
                (i % 4, (i / 4) % 4),
                ((i / 16) % 4, (i / 64) % 4),
                ((i / 7) % 4, (i / 3) % 4),
            ]
        })
        .collect();
    let flat: Vec<usize> = allocs
        .iter()
        .flat_map(|a| a.iter().flat_map(|&(w, x)| [w, x]))
        .collect();
    let batch = m.cost_batch(&flat, true).unwrap();
    for (a, b) in allocs.iter().zip(&batch) {
        assert_eq!(m.cost(a).unwrap(), *b);
    }
    let same: Vec<usize> = (0..30).map(|i| i % 4).collect();
    let batch = m.cost_batch(&same, false).unwrap();
    assert_eq!(batch.len(), 10);
    assert_eq!(batch[1], m.cost(&[(3, 3), (0, 0), (1, 1)]).unwrap());
}

#[test]
fn the_tables_are_the_monotone_envelope_of_the_simulations() {
    // A layer that is cheaper at 8-bit weights than at 4 (as SCALE-Sim's SRAM windows can be).
    let bumpy = |l: &Layer, b: LayerBits| {
        let mut c = cost_of(l, b);
        if b.w_bits == 4 {
            c.latency_us += 1e9;
            c.energy.mac_pj += 1e9;
        }
        Ok(c)
    };
    let m = CostModel::build(&topology(), &CHOICES, 8, bumpy).unwrap();
    let t = topology();
    let last = t.layers.len() - 1;
    for l in 0..t.layers.len() {
        for (a, &a_bits) in CHOICES.iter().enumerate() {
            let at = |w: usize| m.layer_cost(l, w, a, 2).unwrap();
            // w = 4 (index 2) takes the 8-bit value, and 2, 3 bits never cost more than 4.
            let out = if l == last { 8 } else { 4 };
            let eight = cost_of(
                &t.layers[l],
                LayerBits {
                    w_bits: 8,
                    a_bits,
                    out_bits: out,
                },
            );
            assert_eq!(at(2).latency_us, eight.latency_us);
            assert!(at(0).latency_us <= at(2).latency_us && at(1).latency_us <= at(2).latency_us);
            assert!(at(1).energy_pj <= at(2).energy_pj);
            // The 8-bit entry is the simulation itself.
            assert_eq!(at(3).latency_us, eight.latency_us);
        }
    }
    // An already monotone cost is left as simulated.
    let plain = model();
    let c = plain.layer_cost(0, 1, 2, 0).unwrap();
    let want = cost_of(
        &t.layers[0],
        LayerBits {
            w_bits: 3,
            a_bits: 4,
            out_bits: 2,
        },
    );
    assert_eq!(c.latency_us, want.latency_us);
}

#[test]
fn a_parallel_build_gives_the_same_tables_as_a_serial_one() {
    let serial = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(model);
    let parallel = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(model);
    let all: Vec<usize> = (0..4usize.pow(6))
        .flat_map(|i| (0..6).map(move |d| (i >> (2 * d)) & 3))
        .collect();
    assert_eq!(
        serial.cost_batch(&all, true).unwrap(),
        parallel.cost_batch(&all, true).unwrap()
    );
}

fn allocation_error<T: std::fmt::Debug>(r: Result<T, SimError>) -> String {
    match r {
        Err(e @ SimError::Allocation { .. }) => e.to_string(),
        other => panic!("expected an allocation error, got {other:?}"),
    }
}

#[test]
fn bad_allocations_are_typed_errors_naming_the_layer() {
    let m = model();
    assert!(allocation_error(m.cost(&[(0, 0), (0, 0)]))
        .contains("2 layers in the allocation, the topology has 3"));
    assert!(allocation_error(m.cost(&[(0, 0), (4, 0), (0, 0)])).contains("b.w"));
    assert!(allocation_error(m.cost_bits(&[(8, 8), (8, 0), (8, 8)]))
        .contains("outside the supported range"));
    assert!(allocation_error(m.cost_bits(&[(8, 8), (8, 8), (33, 8)])).contains("c.w_bits"));
    assert!(allocation_error(m.cost_bits(&[(8, 8), (5, 8), (8, 8)]))
        .contains("not one of the model's bit choices"));
    let mut named: HashMap<String, (u32, u32)> = ["a", "b", "c"]
        .iter()
        .map(|n| (n.to_string(), (8, 8)))
        .collect();
    assert_eq!(m.cost_named(&named).unwrap(), m.native());
    named.insert("fc".into(), (8, 8));
    assert!(allocation_error(m.cost_named(&named)).contains("fc"));
    named.remove("fc");
    named.remove("b");
    assert!(allocation_error(m.cost_named(&named)).contains("missing"));
    assert!(m.cost_batch(&[0; 7], true).is_err());
    assert!(allocation_error(m.cost_batch(&[0, 0, 0, 0, 9, 0], true)).contains("c.allocation 0"));
    let err = CostModel::build(&topology(), &[2, 40], 8, |l, b| Ok(cost_of(l, b))).unwrap_err();
    assert!(matches!(err, SimError::Allocation { .. }), "{err}");
}
