//! Hardware description of a systolic-array accelerator.
//!
//! Loaded from the project's TOML files (`configs/*.toml`, schema in `toml_file.rs` and
//! `configs/README.md`) or from SCALE-Sim `.cfg` files (v2 and v3 formats, read as SCALE-Sim
//! reads them, see `scalesim_cfg.rs`).

mod scalesim_cfg;
mod toml_file;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Location, Result, SimError};

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

impl Dataflow {
    /// The SCALE-Sim spelling: `os`, `ws` or `is`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Os => "os",
            Self::Ws => "ws",
            Self::Is => "is",
        }
    }

    /// Parses SCALE-Sim's spelling exactly (it compares case-sensitively).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "os" => Some(Self::Os),
            "ws" => Some(Self::Ws),
            "is" => Some(Self::Is),
            _ => None,
        }
    }
}

/// SCALE-Sim's `InterfaceBandwidth`: `USER` simulates DRAM stalls at the given bandwidths,
/// `CALC` never stalls reads and reports the bandwidth that would be needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interface {
    User,
    Calc,
}

impl Interface {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Calc => "calc",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(Self::User),
            "calc" => Some(Self::Calc),
            _ => None,
        }
    }
}

/// Energy per access, in picojoules, at the config's `word_bits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyTable {
    pub mac_pj: f64,
    pub sram_read_pj: f64,
    pub sram_write_pj: f64,
    pub dram_access_pj: f64,
}

impl EnergyTable {
    /// Defaults from Horowitz, "Computing's energy problem", ISSCC 2014 (45 nm, 0.9 V), for
    /// one access of `word_bits` bits to an SRAM of `sram_kb` kB.
    ///
    /// * MAC: 8-bit multiply 0.2 pJ + 8-bit add 0.03 pJ; the multiply scales with the square
    ///   of the width and the add linearly.
    /// * SRAM: a 64-bit access costs 10 pJ at 8 kB and 20 pJ at 32 kB (100 pJ at 1 MB), i.e.
    ///   2.5 pJ per byte at 32 kB scaled by sqrt(size / 32 kB), which reproduces all three
    ///   published points within 15 %. Reads and writes cost the same.
    /// * DRAM: 1.3–2.6 nJ per 64-bit access; the midpoint, 243.75 pJ per byte.
    pub fn horowitz_45nm(sram_kb: u32, word_bits: u32) -> Self {
        let bytes = f64::from(word_bits) / 8.0;
        let sram_pj = 2.5 * (f64::from(sram_kb) / 32.0).sqrt() * bytes;
        Self {
            mac_pj: 0.2 * bytes * bytes + 0.03 * bytes,
            sram_read_pj: sram_pj,
            sram_write_pj: sram_pj,
            dram_access_pj: 243.75 * bytes,
        }
    }
}

/// Defaults for what a SCALE-Sim `.cfg` cannot say (documented in `configs/README.md`).
pub mod defaults {
    /// 200 MHz, the clock of the Eyeriss chip the shipped configs describe.
    pub const CLOCK_GHZ: f64 = 0.2;
    /// SCALE-Sim's hard-coded one-byte word.
    pub const WORD_BITS: u32 = 8;
    pub const IFMAP_OFFSET: u64 = 0;
    pub const FILTER_OFFSET: u64 = 10_000_000;
    pub const OFMAP_OFFSET: u64 = 20_000_000;
}

/// Ranges a config must stay in: beyond them a derived quantity (a latency, an energy, an
/// address) would overflow or the array would not fit in memory.
pub mod limits {
    /// Most rows or columns of the PE array.
    pub const MAX_ARRAY_DIM: u32 = 1 << 16;
    /// Clock range in GHz (1 kHz to 1 THz): cycles / clock stays a finite number of µs.
    pub const MIN_CLOCK_GHZ: f64 = 1e-6;
    pub const MAX_CLOCK_GHZ: f64 = 1e3;
    /// Largest energy of one access or MAC, in pJ (1 mJ): energy totals stay finite.
    pub const MAX_ENERGY_PJ: f64 = 1e9;
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

impl HwConfig {
    /// Reads a `.toml` (the project's schema) or a `.cfg` (SCALE-Sim v2 or v3) file; the
    /// extension decides which.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text =
            crate::file::read_text(path, crate::file::MAX_CONFIG_BYTES, "a hardware config")?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Self::from_toml_str(&text, Some(path)),
            Some("cfg") => Self::from_scalesim_cfg_str(&text, Some(path)),
            _ => Err(SimError::config(
                Location::in_file(path),
                "unknown config format: expected a .toml file or a SCALE-Sim .cfg file",
            )),
        }
    }

    /// Parses the project's TOML schema. `file` only labels error messages; without it the
    /// name defaults to "custom".
    pub fn from_toml_str(text: &str, file: Option<&Path>) -> Result<Self> {
        toml_file::parse(text, file)
    }

    /// Parses a SCALE-Sim `.cfg` (v3 when it has any v3-only section or key, else v2).
    pub fn from_scalesim_cfg_str(text: &str, file: Option<&Path>) -> Result<Self> {
        scalesim_cfg::parse(text, file)
    }

    /// The config in the project's TOML schema; reading it back gives an equal config.
    pub fn to_toml_string(&self) -> Result<String> {
        toml_file::render(self)
    }

    /// Checks every value's range; `file` labels the error.
    pub fn validate(&self, file: Option<&Path>) -> Result<()> {
        let at = |field: &str| Location::in_optional_file(file).with_field(field);
        let positive = [
            ("array_rows", self.array_rows),
            ("array_cols", self.array_cols),
            ("ifmap_sram_kb", self.ifmap_sram_kb),
            ("filter_sram_kb", self.filter_sram_kb),
            ("ofmap_sram_kb", self.ofmap_sram_kb),
            ("ifmap_bw", self.ifmap_bw),
            ("filter_bw", self.filter_bw),
            ("ofmap_bw", self.ofmap_bw),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(SimError::config(
                    at(field),
                    "must be a positive integer, found 0",
                ));
            }
        }
        for (field, value) in [
            ("array_rows", self.array_rows),
            ("array_cols", self.array_cols),
        ] {
            if value > limits::MAX_ARRAY_DIM {
                return Err(SimError::config(
                    at(field),
                    format!(
                        "{value} exceeds the limit of {} PEs per array side",
                        limits::MAX_ARRAY_DIM
                    ),
                ));
            }
        }
        for (field, bits) in [("word_bits", self.word_bits), ("pe_bits", self.pe_bits)] {
            if !(1..=64).contains(&bits) {
                return Err(SimError::config(
                    at(field),
                    format!("must be 1..=64 bits, found {bits}"),
                ));
            }
        }
        if !(limits::MIN_CLOCK_GHZ..=limits::MAX_CLOCK_GHZ).contains(&self.clock_ghz) {
            return Err(SimError::config(
                at("clock_ghz"),
                format!(
                    "must be a positive number of GHz from {:e} to {:e}, found {:e}",
                    limits::MIN_CLOCK_GHZ,
                    limits::MAX_CLOCK_GHZ,
                    self.clock_ghz
                ),
            ));
        }
        let energies = [
            ("mac_pj", self.energy.mac_pj),
            ("sram_read_pj", self.energy.sram_read_pj),
            ("sram_write_pj", self.energy.sram_write_pj),
            ("dram_access_pj", self.energy.dram_access_pj),
        ];
        for (field, pj) in energies {
            if !(0.0..=limits::MAX_ENERGY_PJ).contains(&pj) {
                return Err(SimError::config(
                    at(&format!("energy.{field}")),
                    format!(
                        "must be a finite, non-negative number of pJ up to {:e}, found {pj:e}",
                        limits::MAX_ENERGY_PJ
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Default energy table for this config's SRAM size and word width.
    pub fn default_energy(
        ifmap_kb: u32,
        filter_kb: u32,
        ofmap_kb: u32,
        word_bits: u32,
    ) -> EnergyTable {
        EnergyTable::horowitz_45nm(ifmap_kb.max(filter_kb).max(ofmap_kb), word_bits)
    }
}

/// Byte offset to 1-based line number, for error messages.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
