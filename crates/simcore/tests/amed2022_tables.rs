//! The released AMED latency table for ResNet-18 (`Latency_table_resnet18.csv`) recomputed
//! from the stock SCALE-Sim reports shipped beside it, with the released formula.

use std::path::{Path, PathBuf};

use simcore::amed2022::{
    latency_table, read_report_rows, rewrite_topology, ReportRow, TwoBitRewrite, TABLE_BITS,
};
use simcore::{ConvShape, Layer, LayerKind, Topology};

fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/amed2022")
}

/// SCALE-Sim's `topologies/conv_nets/Resnet18.csv` (MIT), the topology the released code ran.
pub fn resnet18_scalesim() -> Topology {
    let rows: [(&str, u64, u64, u64, u64, u64); 21] = [
        ("Conv1", 224, 7, 3, 64, 2),
        ("Conv2_1a", 56, 3, 64, 64, 1),
        ("Conv2_1b", 56, 3, 64, 64, 1),
        ("Conv2_2a", 56, 3, 64, 64, 1),
        ("Conv2_2b", 56, 3, 64, 64, 1),
        ("Conv3_1a", 56, 3, 64, 128, 2),
        ("Conv3_1b", 28, 3, 128, 128, 1),
        ("Conv3_s", 56, 1, 64, 128, 2),
        ("Conv3_2a", 28, 3, 128, 128, 1),
        ("Conv3_2b", 28, 3, 128, 128, 1),
        ("Conv4_1a", 28, 3, 128, 256, 2),
        ("Conv4_1b", 14, 3, 256, 256, 1),
        ("Conv4_s", 28, 1, 128, 256, 2),
        ("Conv4_2a", 14, 3, 256, 256, 1),
        ("Conv4_2b", 14, 3, 256, 256, 1),
        ("Conv5_1a", 14, 3, 256, 512, 2),
        ("Conv5_1b", 7, 3, 512, 512, 1),
        ("Conv5_s", 14, 1, 256, 512, 2),
        ("Conv5_2a", 7, 3, 512, 512, 1),
        ("Conv5_2b", 7, 3, 512, 512, 1),
        ("FC", 1, 1, 512, 1000, 1),
    ];
    let layers = rows
        .iter()
        .map(|&(name, hw, rs, c, k, s)| Layer {
            name: name.to_string(),
            kind: LayerKind::Conv(ConvShape {
                ifmap_h: hw,
                ifmap_w: hw,
                filter_h: rs,
                filter_w: rs,
                channels: c,
                num_filters: k,
                stride_h: s,
                stride_w: s,
            }),
        })
        .collect();
    Topology {
        name: "Resnet18".into(),
        layers,
    }
}

fn shipped_rows(bits: u32) -> Vec<ReportRow> {
    shipped_model_rows("resnet18", bits)
}

fn shipped_model_rows(model: &str, bits: u32) -> Vec<ReportRow> {
    let suffix = if bits == 8 {
        String::new()
    } else {
        format!("_{bits}")
    };
    let run = reference_dir().join(format!(
        "simulator_analitics_{model}{suffix}/scale_32_32_os"
    ));
    read_report_rows(
        &run.join("COMPUTE_REPORT.csv"),
        &run.join("BANDWIDTH_REPORT.csv"),
    )
    .unwrap()
}

/// (layer name, latency at 2, 3, 4, 8 bits as printed) from the shipped table.
fn shipped_table() -> Vec<(String, Vec<String>)> {
    shipped_model_table("resnet18")
}

fn shipped_model_table(model: &str) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(reference_dir().join(format!("Latency_table_{model}.csv")))
        .unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        ",latency_2,latency_3,latency_4,latency_8"
    );
    lines
        .map(|line| {
            let mut cells = line.split(',');
            let name = cells.next().unwrap().to_string();
            (name, cells.map(str::to_string).collect())
        })
        .collect()
}

/// Every entry agrees with the printed table to half a unit in its last printed digit (the
/// ResNet-18 CSV was saved rounded to 11 characters, the ResNet-50 one at full precision), or
/// to a few ulps: pandas' default CSV float parser, which read the reports for the released
/// code, is not correctly rounded.
fn assert_matches_printed(expected: &[(String, Vec<String>)], ours: &[Vec<f64>]) {
    assert_eq!(expected.len(), ours.len());
    for ((name, want), got) in expected.iter().zip(ours) {
        for (w, g) in want.iter().zip(got) {
            let decimals = w.split_once('.').map_or(0, |(_, d)| d.len());
            let printed: f64 = w.parse().unwrap();
            let half_unit = 0.5 * 10f64.powi(-(decimals as i32));
            let tolerance = half_unit.max(4.0 * f64::EPSILON * g.abs());
            assert!(
                (printed - g).abs() <= tolerance * (1.0 + 1e-9),
                "{name}: table {w}, recomputed {g}"
            );
        }
    }
}

#[test]
fn the_released_formula_reproduces_the_resnet18_table_from_the_shipped_reports() {
    let topology = resnet18_scalesim();
    let rows_by_bits: Vec<_> = TABLE_BITS.iter().map(|&b| (b, shipped_rows(b))).collect();
    let expected = shipped_table();
    // The table covers the 20 quantised convolutions; the FC row is simulated but not tabulated.
    let ours = latency_table(&topology, expected.len(), &rows_by_bits, 2e8).unwrap();
    assert_eq!(ours.len(), 20);
    assert_matches_printed(&expected, &ours);
    // §5.4: the paper's Table 2 is the table sum / 10: 34.98 ms at 8 bits, 24.47 at 4.
    let sum = |col: usize| ours.iter().map(|r| r[col]).sum::<f64>();
    assert!((sum(3) / 10.0 - 34.98).abs() < 0.005, "{}", sum(3));
    assert!((sum(2) / 10.0 - 24.47).abs() < 0.005, "{}", sum(2));
}

#[test]
fn the_topology_rewrites_match_the_shipped_reports_compute_cycles() {
    // Stall-free os cycles: ceil(P/R)·ceil(K/C)·(W + R + C − 2) − 1 on the 32×32 array,
    // P with SCALE-Sim's ceil((H − R + s)/s) rule. The shipped reports have no stalls.
    let os_cycles = |s: &ConvShape| {
        let e = (s.ifmap_h - s.filter_h + s.stride_h).div_ceil(s.stride_h);
        let f = (s.ifmap_w - s.filter_w + s.stride_w).div_ceil(s.stride_w);
        let window = s.filter_h * s.filter_w * s.channels;
        ((e * f).div_ceil(32) * s.num_filters.div_ceil(32) * (window + 62) - 1) as f64
    };
    for bits in TABLE_BITS {
        let rewritten =
            rewrite_topology(&resnet18_scalesim(), bits, TwoBitRewrite::Stride).unwrap();
        let rows = shipped_rows(bits);
        for (layer, row) in rewritten.layers.iter().zip(&rows) {
            let LayerKind::Conv(shape) = &layer.kind else {
                unreachable!()
            };
            assert_eq!(
                os_cycles(shape),
                row.total_cycles,
                "{} at {bits} bits",
                layer.name
            );
        }
    }
}

#[test]
fn bits_without_a_released_rewrite_are_rejected() {
    let err = rewrite_topology(&resnet18_scalesim(), 5, TwoBitRewrite::Filters).unwrap_err();
    assert!(err.to_string().contains("bits"), "{err}");
}

/// The shipped reports are CALC-mode runs (no stalls; the OFMAP drains at ArrayWidth = 32
/// words/cycle) on a 32×32 os array with 64 kB SRAMs. The engine has no CALC mode; USER mode
/// with read bandwidths too high to ever stall and a 32-word OFMAP port is the same run, under
/// the `fixed` stall rule (v2.0.2's USER read rule can count negative stalls, which CALC, whose
/// reads never wait, does not have).
#[test]
fn the_engine_reproduces_the_shipped_reports_cycles_and_ofmap_bandwidth() {
    let hw = simcore::HwConfig {
        ifmap_bw: 1 << 20,
        filter_bw: 1 << 20,
        ofmap_bw: 32,
        ..simcore::HwConfig::from_file(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/scalesim.toml"),
        )
        .unwrap()
    };
    let mut exact_bw = 0;
    let mut worst_bw = 0.0f64;
    let mut rows_by_bits = Vec::new();
    for bits in TABLE_BITS {
        let topology = rewrite_topology(&resnet18_scalesim(), bits, TwoBitRewrite::Stride).unwrap();
        let ours = simcore::engine::simulate(&topology, &hw, simcore::CompatMode::Fixed).unwrap();
        for ((layer, got), want) in topology
            .layers
            .iter()
            .zip(&ours.layers)
            .zip(shipped_rows(bits))
        {
            assert_eq!(
                got.total_cycles as f64, want.total_cycles,
                "{} at {bits} bits",
                layer.name
            );
            assert_eq!(got.stall_cycles, 0);
            let rel =
                (got.avg_ofmap_dram_bw - want.avg_ofmap_dram_bw).abs() / want.avg_ofmap_dram_bw;
            worst_bw = worst_bw.max(rel);
            exact_bw += usize::from(rel < 1e-12);
        }
        let rows = ours.layers.iter().map(|r| ReportRow {
            total_cycles: r.total_cycles as f64,
            avg_ofmap_dram_bw: r.avg_ofmap_dram_bw,
        });
        rows_by_bits.push((bits, rows.collect()));
    }
    println!("Avg OFMAP DRAM BW: {exact_bw}/84 rows exact, worst relative error {worst_bw:e}");
    assert_eq!(exact_bw, 84, "worst relative error {worst_bw:e}");
    // So the whole released table follows from the engine alone.
    let table = latency_table(&resnet18_scalesim(), 20, &rows_by_bits, 2e8).unwrap();
    let shipped = latency_table(
        &resnet18_scalesim(),
        20,
        &TABLE_BITS.map(|b| (b, shipped_rows(b))),
        2e8,
    )
    .unwrap();
    assert_eq!(table, shipped);
}

/// mlperf ResNet-50 as shipped in `topologies/`, with every stride 1: the released code's CSV
/// had no trailing comma, so SCALE-Sim dropped its stride column (SCALE-Sim drops every row's last field).
fn resnet50_as_run() -> Topology {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../topologies/Resnet50.csv");
    let mut topology = Topology::from_csv(&path, false).unwrap();
    for layer in &mut topology.layers {
        if let LayerKind::Conv(shape) = &mut layer.kind {
            (shape.stride_h, shape.stride_w) = (1, 1);
        }
    }
    topology
}

#[test]
fn the_released_formula_reproduces_the_resnet50_table_from_the_shipped_reports() {
    let rows_by_bits: Vec<_> = TABLE_BITS
        .iter()
        .map(|&b| (b, shipped_model_rows("resnet50", b)))
        .collect();
    let expected = shipped_model_table("resnet50");
    let ours = latency_table(&resnet50_as_run(), expected.len(), &rows_by_bits, 2e8).unwrap();
    assert_eq!(ours.len(), 53);
    assert_matches_printed(&expected, &ours);
    // §5.4: the paper's Table 2: 101.4 ms at 8 bits, 55.84 at 4, 25.44 at 3.
    let sum = |col: usize| ours.iter().map(|r| r[col]).sum::<f64>() / 10.0;
    assert!(
        (sum(3) - 101.44).abs() < 0.005
            && (sum(2) - 55.85).abs() < 0.005
            && (sum(1) - 25.44).abs() < 0.005
    );
}

#[test]
fn the_engine_reproduces_every_shipped_resnet50_report_row() {
    let hw = simcore::HwConfig {
        ifmap_bw: 1 << 20,
        filter_bw: 1 << 20,
        ofmap_bw: 32,
        ..simcore::HwConfig::from_file(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/scalesim.toml"),
        )
        .unwrap()
    };
    for bits in TABLE_BITS {
        let topology = rewrite_topology(&resnet50_as_run(), bits, TwoBitRewrite::Filters).unwrap();
        let ours = simcore::engine::simulate(&topology, &hw, simcore::CompatMode::Fixed).unwrap();
        let shipped = shipped_model_rows("resnet50", bits);
        assert_eq!(ours.layers.len(), shipped.len());
        for ((layer, got), want) in topology.layers.iter().zip(&ours.layers).zip(shipped) {
            assert_eq!(
                got.total_cycles as f64, want.total_cycles,
                "{} at {bits} bits",
                layer.name
            );
            let rel =
                (got.avg_ofmap_dram_bw - want.avg_ofmap_dram_bw).abs() / want.avg_ofmap_dram_bw;
            assert!(
                rel < 1e-12,
                "{} at {bits} bits: {} vs {}",
                layer.name,
                got.avg_ofmap_dram_bw,
                want.avg_ofmap_dram_bw
            );
        }
    }
}
