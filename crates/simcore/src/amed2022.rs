//! Reproduction of the latency tables of the released AMED code (2022).
//!
//! This is a reproduction aid, not the project's latency model (that is `cost.rs`). The
//! released code never gave SCALE-Sim a bitwidth. It rewrote the topology instead — for 4, 3
//! and 2 bits `Num Filter ← Num Filter // r + 1` with r = 2, 3, 4; the shipped ResNet-18 2-bit
//! reports come from `Strides ← Strides · 4` instead — ran stock SCALE-Sim on each rewrite, and
//! took per layer
//!
//! ```text
//! Lat_l(b) [ms] = max( 1000·C_l(b)/f ,  1000·8·b·F_l·H_{l+1}·W_{l+1} / (BW_l(b)·f) )
//! ```
//!
//! with C the report's "Total Cycles", BW its "Avg OFMAP DRAM BW", F the original filter
//! count and H, W the next layer's IFMAP size (the layer's own for the last one). The ×8
//! (where bits → bytes would divide by 8) is in the released formula and is kept.

use std::path::Path;

use crate::error::{Location, Result, SimError};
use crate::topology::{ConvShape, LayerKind, Topology};

/// The bitwidths the released code tabulates.
pub const TABLE_BITS: [u32; 4] = [2, 3, 4, 8];

/// The two SCALE-Sim numbers the released formula reads from each report row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportRow {
    pub total_cycles: f64,
    pub avg_ofmap_dram_bw: f64,
}

/// How the 2-bit topology was rewritten. The released code divides the filters by r = 4 like
/// the other widths (the shipped ResNet-50 reports); the shipped ResNet-18 reports come from the
/// commented-out alternative, strides × 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoBitRewrite {
    Filters,
    Stride,
}

/// The topology the released code simulated for `bits`: `Num Filter // r + 1` with r = 2, 3
/// (and 4 for 2 bits with `TwoBitRewrite::Filters`), or strides × 4 for 2 bits with
/// `TwoBitRewrite::Stride`; 8 bits is the topology itself.
pub fn rewrite_topology(
    topology: &Topology,
    bits: u32,
    two_bit: TwoBitRewrite,
) -> Result<Topology> {
    let filters = |r: u64| {
        move |s: ConvShape| ConvShape {
            num_filters: s.num_filters / r + 1,
            ..s
        }
    };
    let rewrite: Box<dyn Fn(ConvShape) -> ConvShape> = match (bits, two_bit) {
        (8, _) => Box::new(|s| s),
        (4, _) => Box::new(filters(2)),
        (3, _) => Box::new(filters(3)),
        (2, TwoBitRewrite::Filters) => Box::new(filters(4)),
        (2, TwoBitRewrite::Stride) => Box::new(|s: ConvShape| ConvShape {
            stride_h: s.stride_h * 4,
            stride_w: s.stride_w * 4,
            ..s
        }),
        (other, _) => {
            return Err(SimError::allocation(
                Location::field("bits"),
                format!("the 2022 latency tables exist for {TABLE_BITS:?} bits, not {other}"),
            ))
        }
    };
    let mut out = topology.clone();
    for layer in &mut out.layers {
        layer.kind = LayerKind::Conv(rewrite(layer.kind.conv_shape()));
    }
    Ok(out)
}

/// One layer's latency in ms at `bits` from its report row (see the module docs).
pub fn layer_latency_ms(
    bits: u32,
    row: &ReportRow,
    topology: &Topology,
    index: usize,
    clock_hz: f64,
) -> f64 {
    let own = topology.layers[index].kind.conv_shape();
    let next = topology
        .layers
        .get(index + 1)
        .map_or(own, |l| l.kind.conv_shape());
    let out_bits = f64::from(bits) * (own.num_filters * next.ifmap_h * next.ifmap_w) as f64;
    let compute_ms = 1000.0 * row.total_cycles / clock_hz;
    let ofmap_dram_ms = 1000.0 * (1.0 / row.avg_ofmap_dram_bw * 8.0) * out_bits / clock_hz;
    compute_ms.max(ofmap_dram_ms)
}

/// The latency table: one row per layer among the first `n_layers` of the original
/// `topology`, one column per entry of `rows_by_bits` (bits, that run's report rows).
pub fn latency_table(
    topology: &Topology,
    n_layers: usize,
    rows_by_bits: &[(u32, Vec<ReportRow>)],
    clock_hz: f64,
) -> Result<Vec<Vec<f64>>> {
    if n_layers > topology.layers.len() {
        return Err(SimError::topology(
            Location::field("n_layers"),
            format!(
                "{n_layers} layers requested, the topology has {}",
                topology.layers.len()
            ),
        ));
    }
    for (bits, rows) in rows_by_bits {
        if rows.len() < n_layers {
            return Err(SimError::allocation(
                Location::field(format!("reports for {bits} bits")),
                format!("{} report rows for {n_layers} layers", rows.len()),
            ));
        }
    }
    Ok((0..n_layers)
        .map(|i| {
            rows_by_bits
                .iter()
                .map(|(bits, rows)| layer_latency_ms(*bits, &rows[i], topology, i, clock_hz))
                .collect()
        })
        .collect())
}

/// Reads "Total Cycles" from a SCALE-Sim COMPUTE_REPORT.csv and "Avg OFMAP DRAM BW" from the
/// BANDWIDTH_REPORT.csv of the same run (v2 or v3 layout; columns are found by name).
pub fn read_report_rows(compute_csv: &Path, bandwidth_csv: &Path) -> Result<Vec<ReportRow>> {
    let cycles = read_column(compute_csv, "Total Cycles")?;
    let bw = read_column(bandwidth_csv, "Avg OFMAP DRAM BW")?;
    if cycles.len() != bw.len() {
        return Err(SimError::topology(
            Location::in_file(bandwidth_csv),
            format!(
                "{} rows, but {} in {}",
                bw.len(),
                cycles.len(),
                compute_csv.display()
            ),
        ));
    }
    Ok(cycles
        .into_iter()
        .zip(bw)
        .map(|(total_cycles, avg_ofmap_dram_bw)| ReportRow {
            total_cycles,
            avg_ofmap_dram_bw,
        })
        .collect())
}

/// One numeric column of a SCALE-Sim report (comma separated, trailing comma, spaces).
fn read_column(path: &Path, column: &str) -> Result<Vec<f64>> {
    let text = crate::file::read_text(path, crate::file::MAX_REPORT_BYTES, "a SCALE-Sim report")?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| SimError::topology(Location::in_file(path), "empty report"))?;
    let index = header
        .split(',')
        .position(|h| h.trim() == column)
        .ok_or_else(|| {
            SimError::topology(
                Location::in_file(path).at_line(1),
                format!("no column '{column}'"),
            )
        })?;
    lines
        .map(|(n, line)| {
            let at = || Location::in_file(path).at_line(n + 1).with_field(column);
            let cell = line
                .split(',')
                .nth(index)
                .ok_or_else(|| SimError::topology(at(), "row too short"))?;
            cell.trim()
                .parse::<f64>()
                .map_err(|_| SimError::topology(at(), format!("'{}' is not a number", cell.trim())))
        })
        .collect()
}
