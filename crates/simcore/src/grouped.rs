//! Depthwise and grouped convolutions on a systolic array.
//!
//! A grouped convolution with G groups is G independent dense convolutions, each over C/G
//! input channels with K/G filters (depthwise: G = C, one input channel, K/C filters). In a
//! systolic array an ifmap value travels along a whole row (os, ws) or a filter value along a
//! whole column (is), so PEs fed by one group cannot at the same time compute another group:
//! two groups share no operand. The groups therefore run back to back, each mapped as the
//! dense convolution it is, and the layer report is the G sub-reports laid end to end. All
//! groups have the same shape, so one simulation serves the whole layer. Each group starts
//! from a fresh memory state, as every SCALE-Sim layer does; its first fill overlaps the
//! previous group, as a layer's first fill is free in SCALE-Sim. See `docs/depthwise.md`.

use crate::error::{Location, Result, SimError};
use crate::report::{Access, LayerReport};
use crate::topology::{ConvShape, LayerKind};

/// The dense convolution each group runs, and the number of groups; `None` for a layer that
/// is not grouped.
pub fn group_shape(kind: &LayerKind) -> Option<(ConvShape, u64)> {
    match *kind {
        LayerKind::Depthwise(s) => Some((
            ConvShape {
                channels: 1,
                num_filters: s.num_filters / s.channels,
                ..s
            },
            s.channels,
        )),
        LayerKind::Grouped { conv, groups } => Some((
            ConvShape {
                channels: conv.channels / groups,
                num_filters: conv.num_filters / groups,
                ..conv
            },
            groups,
        )),
        LayerKind::Conv(_) | LayerKind::Gemm { .. } => None,
    }
}

/// Simulates a depthwise or grouped layer with `simulate_dense` (the dense engine at the
/// layer's precision): one group simulated, then repeated `groups` times back to back.
pub fn simulate_grouped(
    kind: &LayerKind,
    array_pes: u64,
    simulate_dense: impl FnOnce(&ConvShape) -> Result<LayerReport>,
) -> Result<LayerReport> {
    let (shape, groups) = group_shape(kind).ok_or_else(|| {
        SimError::topology(
            Location::field("kind"),
            "only depthwise and grouped layers run as groups",
        )
    })?;
    let one = simulate_dense(&shape)?;
    Ok(back_to_back(&one, groups, array_pes))
}

/// `groups` copies of the report `one` run one after the other on an array of `array_pes`
/// PEs: counts and stalls add, copy g is shifted by g·(Total Cycles + 1), and the rates and
/// the overall utilisation are recomputed from the combined counts. Mapping efficiency and
/// compute utilisation are means over folds, and every group has the same folds, so they
/// are unchanged.
pub fn back_to_back(one: &LayerReport, groups: u64, array_pes: u64) -> LayerReport {
    let g = groups as i64;
    let length = one.total_cycles + 1;
    let shift = ((g - 1) * length) as f64;
    let total_cycles = g * length - 1;
    let spread = |a: &Access| Access {
        start_cycle: a.start_cycle,
        stop_cycle: a.stop_cycle + shift,
        count: a.count * groups,
    };
    let (sram_ifmap, sram_filter, sram_ofmap) = (
        spread(&one.sram_ifmap),
        spread(&one.sram_filter),
        spread(&one.sram_ofmap),
    );
    let (dram_ifmap, dram_filter, dram_ofmap) = (
        spread(&one.dram_ifmap),
        spread(&one.dram_filter),
        spread(&one.dram_ofmap),
    );
    let per_cycle = |a: &Access| a.count as f64 / total_cycles as f64;
    let dram_rate = |a: &Access| a.count as f64 / (a.stop_cycle - a.start_cycle + 1.0);
    let macs = one.macs * groups;
    LayerReport {
        name: one.name.clone(),
        total_cycles_incl_prefetch: one.total_cycles_incl_prefetch.map(|p| p + (g - 1) * length),
        total_cycles,
        stall_cycles: one.stall_cycles * g,
        overall_util: 100.0 * macs as f64 / (total_cycles as f64 * array_pes as f64),
        mapping_efficiency: one.mapping_efficiency,
        compute_util: one.compute_util,
        avg_ifmap_sram_bw: per_cycle(&sram_ifmap),
        avg_filter_sram_bw: per_cycle(&sram_filter),
        avg_ofmap_sram_bw: per_cycle(&sram_ofmap),
        avg_ifmap_dram_bw: dram_rate(&dram_ifmap),
        avg_filter_dram_bw: dram_rate(&dram_filter),
        avg_ofmap_dram_bw: dram_rate(&dram_ofmap),
        sram_ifmap,
        sram_filter,
        sram_ofmap,
        dram_ifmap,
        dram_filter,
        dram_ofmap,
        macs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(start: f64, stop: f64, count: u64) -> Access {
        Access {
            start_cycle: start,
            stop_cycle: stop,
            count,
        }
    }

    fn one_group() -> LayerReport {
        LayerReport {
            name: String::new(),
            total_cycles_incl_prefetch: Some(120),
            total_cycles: 99,
            stall_cycles: 7,
            overall_util: 100.0 * 900.0 / (99.0 * 16.0),
            mapping_efficiency: 50.0,
            compute_util: 40.0,
            avg_ifmap_sram_bw: 3.0,
            avg_filter_sram_bw: 1.0,
            avg_ofmap_sram_bw: 0.5,
            avg_ifmap_dram_bw: 1.0,
            avg_filter_dram_bw: 1.0,
            avg_ofmap_dram_bw: 1.0,
            sram_ifmap: access(1.0, 99.0, 297),
            sram_filter: access(1.0, 98.0, 99),
            sram_ofmap: access(5.0, 99.0, 50),
            dram_ifmap: access(-10.0, -1.0, 10),
            dram_filter: access(-4.0, 30.0, 20),
            dram_ofmap: access(99.0, 110.0, 50),
            macs: 900,
        }
    }

    #[test]
    fn one_group_is_the_dense_report_itself() {
        let one = one_group();
        let same = back_to_back(&one, 1, 16);
        assert_eq!(same.total_cycles, one.total_cycles);
        assert_eq!(same.sram_ofmap, one.sram_ofmap);
        assert!((same.overall_util - one.overall_util).abs() < 1e-12);
        assert!((same.avg_ifmap_sram_bw - 297.0 / 99.0).abs() < 1e-12);
    }

    #[test]
    fn groups_are_laid_end_to_end() {
        let all = back_to_back(&one_group(), 3, 16);
        assert_eq!(all.total_cycles, 299);
        assert_eq!(all.total_cycles_incl_prefetch, Some(320));
        assert_eq!(all.stall_cycles, 21);
        assert_eq!(all.macs, 2700);
        assert_eq!(all.sram_ifmap, access(1.0, 299.0, 891));
        assert_eq!(all.dram_ofmap, access(99.0, 310.0, 150));
        assert!((all.overall_util - 100.0 * 2700.0 / (299.0 * 16.0)).abs() < 1e-12);
        assert!((all.avg_filter_dram_bw - 60.0 / 235.0).abs() < 1e-12);
        assert_eq!(all.mapping_efficiency, 50.0);
    }

    #[test]
    fn depthwise_runs_one_channel_per_group() {
        let s = ConvShape {
            ifmap_h: 9,
            ifmap_w: 9,
            filter_h: 3,
            filter_w: 3,
            channels: 32,
            num_filters: 64,
            stride_h: 2,
            stride_w: 2,
        };
        let (sub, groups) = group_shape(&LayerKind::Depthwise(s)).unwrap();
        assert_eq!((sub.channels, sub.num_filters, groups), (1, 2, 32));
        assert_eq!(sub.macs() * groups, s.ofmap_pixels() * 9 * 64);
        let (sub, groups) = group_shape(&LayerKind::Grouped { conv: s, groups: 4 }).unwrap();
        assert_eq!((sub.channels, sub.num_filters, groups), (8, 16, 4));
        assert_eq!(sub.macs() * groups, s.macs() / 4);
        assert!(group_shape(&LayerKind::Conv(s)).is_none());
    }
}
