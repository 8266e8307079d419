//! Per-layer and network reports with every column of SCALE-Sim's COMPUTE_REPORT,
//! BANDWIDTH_REPORT and DETAILED_ACCESS_REPORT.

use serde::{Deserialize, Serialize};

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
