//! `rank`, `key_entries` and `key_rank_range` against the walk that defines the stream order.

use super::prefix::Divisor;
use super::*;
use crate::engine::geometry::ConvDims;

fn conv([h, w, r, s, c, k, sh, sw]: [u64; 8]) -> ConvDims {
    ConvDims {
        ifmap_h: h,
        ifmap_w: w,
        filter_h: r,
        filter_w: s,
        channels: c,
        filters: k,
        stride_h: sh,
        stride_w: sw,
        ofmap_h: (h - r).div_ceil(sh) + 1,
        ofmap_w: (w - s).div_ceil(sw) + 1,
    }
}

#[test]
fn divisor_is_exact_for_32_bit_numerators() {
    let max = u64::from(u32::MAX);
    for d in [1, 2, 3, 7, 32, 1000, 9216, (1 << 31) + 1, max - 1, max] {
        let by = Divisor::new(d);
        for n in [0, 1, d - 1, d, d + 1, 12_345_678, max / 2, max - 1, max] {
            let n = n.min(max);
            assert_eq!(by.divide(n), n / d, "{n} / {d}");
        }
    }
}

/// The rank computed from an entry's position equals its count in the walk, for every
/// entry of shapes with and without padding and off-edge windows.
#[test]
fn rank_matches_the_walk() {
    let shapes = [
        conv([7, 7, 3, 3, 2, 5, 2, 2]),
        conv([8, 9, 3, 2, 3, 7, 2, 3]),
        conv([9, 5, 1, 1, 4, 3, 2, 2]),
        conv([6, 6, 2, 2, 1, 1, 3, 3]),
        conv([11, 4, 3, 3, 2, 9, 1, 1]),
        conv([5, 16, 1, 16, 1, 6, 1, 1]),
        conv([10, 10, 3, 3, 3, 4, 4, 3]),
        conv([4, 4, 1, 1, 1, 2, 2, 2]),
    ];
    // Plus a deterministic sweep of small shapes with strides up to 4.
    let mut seed = 0x2545_f491_u64;
    let mut next = |m: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % m
    };
    let mut shapes = shapes.to_vec();
    for _ in 0..40 {
        let (r, s) = (1 + next(4), 1 + next(4));
        let (h, w) = (r + next(9), s + next(9));
        let (c, k) = (1 + next(4), 1 + next(6));
        shapes.push(conv([h, w, r, s, c, k, 1 + next(4), 1 + next(4)]));
    }
    let arrays = [(4, 3), (3, 5), (1, 1), (8, 8), (2, 7)];
    let never = Interrupt::never();
    for dims in &shapes {
        for &(rows, cols) in &arrays {
            for dataflow in [Dataflow::Os, Dataflow::Ws, Dataflow::Is] {
                let mut g = Geometry::plan(dims, dataflow, rows, cols);
                g.build_tables().unwrap();
                for op in [Operand::Ifmap, Operand::Filter] {
                    let mut stream = Stream::new(&g, op);
                    stream.index(&never).unwrap();
                    let mut count = 0u64;
                    // Per key: first and last rank, and number of entries.
                    let mut keys = vec![(u64::MAX, 0, 0); stream.keys() as usize];
                    stream
                        .for_each_valid(&never, |id, key| {
                            assert_eq!(
                                stream.rank(id),
                                count,
                                "{dims:?} {rows}x{cols} {dataflow:?} {op:?} entry {id}"
                            );
                            let k = &mut keys[key as usize];
                            *k = (k.0.min(count), count, k.2 + 1);
                            count += 1;
                        })
                        .unwrap();
                    assert_eq!(stream.valid(), count, "{dims:?} {dataflow:?} {op:?}");
                    for (key, &(first, last, n)) in keys.iter().enumerate() {
                        let key = key as u64;
                        let at = format!("{dims:?} {rows}x{cols} {dataflow:?} {op:?} key {key}");
                        assert_eq!(stream.key_entries(key), n, "{at}");
                        if n > 0 {
                            assert_eq!(stream.key_rank_range(key), (first, last), "{at}");
                        }
                    }
                }
            }
        }
    }
}
