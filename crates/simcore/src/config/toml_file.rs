//! The project's TOML schema for a hardware config (documented field by field in
//! `configs/README.md`). Unknown keys are rejected so that typos never pass silently.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{defaults, line_of, Dataflow, EnergyTable, HwConfig, Interface};
use crate::error::{Location, Result, SimError};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    array: Array,
    sram: Sram,
    dram: Dram,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    clock: Option<Clock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    precision: Option<Precision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    energy: Option<EnergyTable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    addresses: Option<Addresses>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Array {
    rows: u32,
    cols: u32,
    dataflow: Dataflow,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sram {
    ifmap_kb: u32,
    filter_kb: u32,
    ofmap_kb: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Dram {
    /// Shorthand: the same words/cycle for all three operands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bandwidth: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ifmap_bw: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filter_bw: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ofmap_bw: Option<u32>,
    #[serde(default = "user")]
    interface: Interface,
}

fn user() -> Interface {
    Interface::User
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Clock {
    ghz: f64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Precision {
    #[serde(default = "word_bits")]
    word_bits: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pe_bits: Option<u32>,
    #[serde(default)]
    bit_fusion: bool,
}

fn word_bits() -> u32 {
    defaults::WORD_BITS
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Addresses {
    #[serde(default = "ifmap_offset")]
    ifmap_offset: u64,
    #[serde(default = "filter_offset")]
    filter_offset: u64,
    #[serde(default = "ofmap_offset")]
    ofmap_offset: u64,
}

fn ifmap_offset() -> u64 {
    defaults::IFMAP_OFFSET
}

fn filter_offset() -> u64 {
    defaults::FILTER_OFFSET
}

fn ofmap_offset() -> u64 {
    defaults::OFMAP_OFFSET
}

pub(super) fn parse(text: &str, file: Option<&Path>) -> Result<HwConfig> {
    let parsed: File = toml::from_str(text).map_err(|e| toml_error(&e, text, file))?;
    let location = |field: &str| Location::in_optional_file(file).with_field(field);
    let bandwidth = |field: &str, specific: Option<u32>| {
        specific.or(parsed.dram.bandwidth).ok_or_else(|| {
            SimError::config(
                location(&format!("dram.{field}")),
                format!("missing: give [dram] bandwidth (all operands) or {field}"),
            )
        })
    };
    let ifmap_bw = bandwidth("ifmap_bw", parsed.dram.ifmap_bw)?;
    let filter_bw = bandwidth("filter_bw", parsed.dram.filter_bw)?;
    let ofmap_bw = bandwidth("ofmap_bw", parsed.dram.ofmap_bw)?;
    let precision = parsed.precision.unwrap_or(Precision {
        word_bits: defaults::WORD_BITS,
        pe_bits: None,
        bit_fusion: false,
    });
    let sram = &parsed.sram;
    let energy = parsed.energy.unwrap_or_else(|| {
        HwConfig::default_energy(
            sram.ifmap_kb,
            sram.filter_kb,
            sram.ofmap_kb,
            precision.word_bits,
        )
    });
    let addresses = parsed.addresses.unwrap_or(Addresses {
        ifmap_offset: defaults::IFMAP_OFFSET,
        filter_offset: defaults::FILTER_OFFSET,
        ofmap_offset: defaults::OFMAP_OFFSET,
    });
    let name = parsed.name.unwrap_or_else(|| {
        file.and_then(Path::file_stem).map_or_else(
            || "custom".to_owned(),
            |stem| stem.to_string_lossy().into_owned(),
        )
    });
    let config = HwConfig {
        name,
        array_rows: parsed.array.rows,
        array_cols: parsed.array.cols,
        dataflow: parsed.array.dataflow,
        ifmap_sram_kb: sram.ifmap_kb,
        filter_sram_kb: sram.filter_kb,
        ofmap_sram_kb: sram.ofmap_kb,
        ifmap_bw,
        filter_bw,
        ofmap_bw,
        interface: parsed.dram.interface,
        clock_ghz: parsed.clock.map_or(defaults::CLOCK_GHZ, |c| c.ghz),
        word_bits: precision.word_bits,
        pe_bits: precision.pe_bits.unwrap_or(precision.word_bits),
        bit_fusion: precision.bit_fusion,
        energy,
        ifmap_offset: addresses.ifmap_offset,
        filter_offset: addresses.filter_offset,
        ofmap_offset: addresses.ofmap_offset,
    };
    config.validate(file)?;
    Ok(config)
}

/// Turns a toml/serde error into a config error with the line and, where the message names
/// one, the field.
fn toml_error(error: &toml::de::Error, text: &str, file: Option<&Path>) -> SimError {
    let message = error.message().trim().to_owned();
    let location = Location {
        file: file.map(Path::to_path_buf),
        line: error.span().map(|span| line_of(text, span.start)),
        field: quoted_field(&message),
    };
    SimError::config(location, message)
}

/// serde names the offending key in backticks: "unknown field `rwos`, expected ...".
fn quoted_field(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next().map(str::to_owned)
}

pub(super) fn render(config: &HwConfig) -> Result<String> {
    let same_bw = config.ifmap_bw == config.filter_bw && config.filter_bw == config.ofmap_bw;
    let file = File {
        name: Some(config.name.clone()),
        array: Array {
            rows: config.array_rows,
            cols: config.array_cols,
            dataflow: config.dataflow,
        },
        sram: Sram {
            ifmap_kb: config.ifmap_sram_kb,
            filter_kb: config.filter_sram_kb,
            ofmap_kb: config.ofmap_sram_kb,
        },
        dram: Dram {
            bandwidth: same_bw.then_some(config.ofmap_bw),
            ifmap_bw: (!same_bw).then_some(config.ifmap_bw),
            filter_bw: (!same_bw).then_some(config.filter_bw),
            ofmap_bw: (!same_bw).then_some(config.ofmap_bw),
            interface: config.interface,
        },
        clock: Some(Clock {
            ghz: config.clock_ghz,
        }),
        precision: Some(Precision {
            word_bits: config.word_bits,
            pe_bits: Some(config.pe_bits),
            bit_fusion: config.bit_fusion,
        }),
        energy: Some(config.energy.clone()),
        addresses: Some(Addresses {
            ifmap_offset: config.ifmap_offset,
            filter_offset: config.filter_offset,
            ofmap_offset: config.ofmap_offset,
        }),
    };
    toml::to_string(&file).map_err(|e| SimError::config(Location::default(), e.to_string()))
}
