//! Hardware description of a systolic-array accelerator.
//!
//! Loaded from the project's TOML files (`configs/*.toml`) or from SCALE-Sim `.cfg` files
//! (v2 and v3 formats, read as SCALE-Sim reads them).

use serde::{Deserialize, Serialize};

/// How operands are held stationary in the PE array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataflow {
    /// Output stationary.
    Os,
    /// Weight stationary.
    Ws,
    /// Input stationary.
    Is,
}

/// SCALE-Sim's `InterfaceBandwidth`: `USER` simulates DRAM stalls at the given bandwidths,
/// `CALC` never stalls reads and reports the bandwidth that would be needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interface {
    User,
    Calc,
}

/// Energy per access, in picojoules, at the config's `word_bits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyTable {
    pub mac_pj: f64,
    pub sram_read_pj: f64,
    pub sram_write_pj: f64,
    pub dram_access_pj: f64,
}

/// One accelerator. Sizes are SCALE-Sim's: SRAM in kB (1 kB = 1024 bytes), DRAM bandwidth in
/// words per cycle for each operand, one word = `word_bits` bits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HwConfig {
    pub name: String,
    pub array_rows: u32,
    pub array_cols: u32,
    pub dataflow: Dataflow,
    pub ifmap_sram_kb: u32,
    pub filter_sram_kb: u32,
    pub ofmap_sram_kb: u32,
    pub ifmap_bw: u32,
    pub filter_bw: u32,
    pub ofmap_bw: u32,
    pub interface: Interface,
    pub clock_ghz: f64,
    pub word_bits: u32,
    pub pe_bits: u32,
    pub bit_fusion: bool,
    pub energy: EnergyTable,
    pub ifmap_offset: u64,
    pub filter_offset: u64,
    pub ofmap_offset: u64,
}
