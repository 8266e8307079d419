//! Per-layer and network reports with every column of SCALE-Sim's COMPUTE_REPORT,
//! BANDWIDTH_REPORT and DETAILED_ACCESS_REPORT.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::compat::CompatMode;
use crate::error::{Result, SimError};

/// Start cycle, stop cycle and element count of one SRAM or DRAM stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Access {
    pub start_cycle: f64,
    pub stop_cycle: f64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    pub name: String,
    /// v3 only: OFMAP DRAM stop minus the earliest read DRAM start.
    pub total_cycles_incl_prefetch: Option<i64>,
    pub total_cycles: i64,
    pub stall_cycles: i64,
    pub overall_util: f64,
    pub mapping_efficiency: f64,
    pub compute_util: f64,
    pub avg_ifmap_sram_bw: f64,
    pub avg_filter_sram_bw: f64,
    pub avg_ofmap_sram_bw: f64,
    pub avg_ifmap_dram_bw: f64,
    pub avg_filter_dram_bw: f64,
    pub avg_ofmap_dram_bw: f64,
    pub sram_ifmap: Access,
    pub sram_filter: Access,
    pub sram_ofmap: Access,
    pub dram_ifmap: Access,
    pub dram_filter: Access,
    pub dram_ofmap: Access,
    pub macs: u64,
}

/// Every layer of one network run, in topology order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkReport {
    pub topology: String,
    pub hw: String,
    pub compat: CompatMode,
    pub layers: Vec<LayerReport>,
}

impl NetworkReport {
    /// Sum of the layers' "Total Cycles" (layers run one after another).
    pub fn total_cycles(&self) -> i64 {
        self.layers.iter().map(|l| l.total_cycles).sum()
    }

    pub fn stall_cycles(&self) -> i64 {
        self.layers.iter().map(|l| l.stall_cycles).sum()
    }

    pub fn macs(&self) -> u64 {
        self.layers.iter().map(|l| l.macs).sum()
    }

    /// DRAM words moved by all layers (ifmap and filter reads plus ofmap writes).
    pub fn dram_words(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| l.dram_ifmap.count + l.dram_filter.count + l.dram_ofmap.count)
            .sum()
    }

    /// SRAM requests of all layers (ifmap and filter reads plus ofmap writes).
    pub fn sram_accesses(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| l.sram_ifmap.count + l.sram_filter.count + l.sram_ofmap.count)
            .sum()
    }
}

/// A value as SCALE-Sim prints it: integers as integers, floats as Python's `repr`.
enum Cell {
    Int(i64),
    Float(f64),
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Int(v) => write!(f, "{v}"),
            Cell::Float(v) => f.write_str(&python_float_repr(*v)),
        }
    }
}

/// Python's `repr(float)` (and numpy's `str(float64)`): the shortest round-trip digits, in
/// positional notation when the decimal exponent is in −4..16, else `d.ddde±XX`.
pub fn python_float_repr(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "1.2345e-5".
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa
        .strip_prefix('-')
        .map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let body = if exp < 0 {
            format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
        } else if exp + 1 >= n {
            format!("{}{}.0", digits, "0".repeat((exp + 1 - n) as usize))
        } else {
            let (int, frac) = digits.split_at((exp + 1) as usize);
            format!("{int}.{frac}")
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{esign}{:02}", exp.abs())
    }
}

fn write_rows(path: &Path, header: &str, rows: Vec<Vec<Cell>>) -> Result<()> {
    let mut text = String::from(header);
    for (lid, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(ToString::to_string).collect();
        text.push_str(&format!("{lid}, {},\n", cells.join(", ")));
    }
    crate::file::write_text(path, &text)
}

/// Writes COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv into `dir`
/// exactly as the compat mode's SCALE-Sim writes them (layer ids are row indices): 3.0.0's
/// layout for `ScalesimV3`, 2.0.2's (no "incl. prefetch" column) for `ScalesimV2` and `Fixed`.
pub fn write_scalesim_csvs(dir: impl AsRef<Path>, report: &NetworkReport) -> Result<()> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| SimError::write(dir, e))?;
    let v3 = report.compat == CompatMode::ScalesimV3;
    let compute_header = if v3 {
        "LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, Overall Util %, \
         Mapping Efficiency %, Compute Util %,\n"
    } else {
        "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, \
         Compute Util %,\n"
    };
    let compute = report
        .layers
        .iter()
        .map(|l| {
            let mut row = Vec::new();
            if v3 {
                row.push(Cell::Int(l.total_cycles_incl_prefetch.unwrap_or(0)));
            }
            row.extend([
                Cell::Int(l.total_cycles),
                Cell::Int(l.stall_cycles),
                Cell::Float(l.overall_util),
                Cell::Float(l.mapping_efficiency),
                Cell::Float(l.compute_util),
            ]);
            row
        })
        .collect();
    write_rows(&dir.join("COMPUTE_REPORT.csv"), compute_header, compute)?;

    let bandwidth = report
        .layers
        .iter()
        .map(|l| {
            [
                l.avg_ifmap_sram_bw,
                l.avg_filter_sram_bw,
                l.avg_ofmap_sram_bw,
                l.avg_ifmap_dram_bw,
                l.avg_filter_dram_bw,
                l.avg_ofmap_dram_bw,
            ]
            .into_iter()
            .map(Cell::Float)
            .collect()
        })
        .collect();
    write_rows(
        &dir.join("BANDWIDTH_REPORT.csv"),
        "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, \
         Avg IFMAP DRAM BW, Avg FILTER DRAM BW, Avg OFMAP DRAM BW,\n",
        bandwidth,
    )?;

    let detail = report
        .layers
        .iter()
        .map(|l| {
            [
                l.sram_ifmap,
                l.sram_filter,
                l.sram_ofmap,
                l.dram_ifmap,
                l.dram_filter,
                l.dram_ofmap,
            ]
            .into_iter()
            .flat_map(|a| {
                [
                    Cell::Float(a.start_cycle),
                    Cell::Float(a.stop_cycle),
                    Cell::Int(a.count as i64),
                ]
            })
            .collect()
        })
        .collect();
    write_rows(
        &dir.join("DETAILED_ACCESS_REPORT.csv"),
        "LayerID, SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, \
         SRAM Filter Start Cycle, SRAM Filter Stop Cycle, SRAM Filter Reads, \
         SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, SRAM OFMAP Writes, \
         DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, \
         DRAM Filter Start Cycle, DRAM Filter Stop Cycle, DRAM Filter Reads, \
         DRAM OFMAP Start Cycle, DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,\n",
        detail,
    )
}
