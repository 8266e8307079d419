//! Simulating layers and networks.

use serde::{Deserialize, Serialize};

/// Which released SCALE-Sim stall arithmetic to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum CompatMode {
    /// PyPI `scalesim==3.0.0`: the positive part of a read stall is counted twice.
    #[default]
    #[serde(rename = "scalesim-v3")]
    ScalesimV3,
    /// PyPI `scalesim==2.0.2`.
    #[serde(rename = "scalesim-v2")]
    ScalesimV2,
    /// scale-sim-v2 after "removing double counting of stall cycles": every stall counted once.
    #[serde(rename = "fixed")]
    Fixed,
}

/// What the engine needs to know about the hardware, in elements: the result of applying a
/// layer's bitwidths to an `HwConfig` (see `precision.rs`). At native precision the SRAM
/// capacities are the SCALE-Sim ones (kB·1024 elements) and the bandwidths are the config's
/// words per cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EngineParams {
    pub array_rows: u64,
    pub array_cols: u64,
    pub dataflow: crate::config::Dataflow,
    pub interface: crate::config::Interface,
    pub ifmap_sram_elems: u64,
    pub filter_sram_elems: u64,
    pub ofmap_sram_elems: u64,
    pub ifmap_bw_elems: u64,
    pub filter_bw_elems: u64,
    pub ofmap_bw_elems: u64,
}
