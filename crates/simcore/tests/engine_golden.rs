//! Every report the real SCALE-Sim wrote for the golden cases (`tests/golden/<release>/
//! <cfg>__<topology>/`, made by `tests/peer/make_golden.sh`) is reproduced cell for cell:
//! integers exactly, floats to 1e-9 relative.

use std::path::{Path, PathBuf};

use simcore::{simulate, write_scalesim_csvs, CompatMode, HwConfig, Topology};

const REPORTS: [&str; 3] = [
    "COMPUTE_REPORT.csv",
    "BANDWIDTH_REPORT.csv",
    "DETAILED_ACCESS_REPORT.csv",
];

fn golden_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn cells_match(ours: &str, theirs: &str) -> bool {
    if ours == theirs {
        return true;
    }
    match (ours.parse::<f64>(), theirs.parse::<f64>()) {
        (Ok(a), Ok(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1e-300),
        _ => false,
    }
}

/// Differences between two report files, one line each.
fn diff_report(ours: &str, theirs: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let (ours, theirs): (Vec<_>, Vec<_>) = (ours.lines().collect(), theirs.lines().collect());
    if ours.len() != theirs.len() {
        problems.push(format!("{} rows, expected {}", ours.len(), theirs.len()));
    }
    let header: Vec<&str> = theirs
        .first()
        .map(|h| h.split(", ").collect())
        .unwrap_or_default();
    for (row, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        if row == 0 {
            if a != b {
                problems.push(format!("header {a:?}, expected {b:?}"));
            }
            continue;
        }
        let (ca, cb): (Vec<_>, Vec<_>) = (a.split(", ").collect(), b.split(", ").collect());
        if ca.len() != cb.len() {
            problems.push(format!("row {row}: {a:?}, expected {b:?}"));
            continue;
        }
        for (i, (x, y)) in ca.iter().zip(&cb).enumerate() {
            if !cells_match(x, y) {
                let column = header.get(i).copied().unwrap_or("?");
                problems.push(format!("row {row} '{column}': {x}, expected {y}"));
            }
        }
    }
    problems
}

fn run_release(release: &str, compat: CompatMode) {
    let root = golden_root();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join(release))
        .expect("golden directory")
        .map(|e| e.expect("entry").path())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no golden cases for {release}");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .expect("case name");
        let (cfg, topo) = name
            .split_once("__")
            .expect("case name is <cfg>__<topology>");
        let hw = HwConfig::from_file(root.join("inputs").join(release).join(format!("{cfg}.cfg")))
            .expect("config");
        let topology = Topology::from_csv(
            root.join("inputs").join(format!("{topo}.csv")),
            topo == "gemm",
        )
        .expect("topology");
        let report = match simulate(&topology, &hw, compat) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{release}/{name}: {e}"));
                continue;
            }
        };
        let out = std::env::temp_dir().join(format!(
            "simcore-golden-{}-{release}-{name}",
            std::process::id()
        ));
        write_scalesim_csvs(&out, &report).expect("write reports");
        for file in REPORTS {
            let ours = std::fs::read_to_string(out.join(file)).expect("our report");
            let theirs = std::fs::read_to_string(case.join(file)).expect("golden report");
            for p in diff_report(&ours, &theirs) {
                failures.push(format!("{release}/{name}/{file}: {p}"));
            }
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn matches_scalesim_3_0_0() {
    run_release("v3", CompatMode::ScalesimV3);
}

#[test]
fn matches_scalesim_2_0_2() {
    run_release("v2", CompatMode::ScalesimV2);
}
