//! SCALE-Sim `.cfg` files, read with the semantics of Python's `configparser` as SCALE-Sim
//! uses it: `[section]` names are case-sensitive, keys are not, `=` and `:` both separate a
//! key from its value, `#` and `;` start comment lines, indented lines continue a value, and
//! `[DEFAULT]` supplies fallbacks. Every key SCALE-Sim requires for the file's version is
//! required here; a file is v3 when it has any v3-only section or key.

use std::collections::HashMap;
use std::path::Path;

use super::{defaults, Dataflow, HwConfig, Interface};
use crate::error::{Location, Result, SimError};

/// The ifmap and filter bandwidth SCALE-Sim hard-codes in CALC mode.
const CALC_READ_BW: u32 = 10;

/// One parsed file: section -> lowercased key -> (value, line).
struct Ini {
    sections: HashMap<String, HashMap<String, (String, usize)>>,
}

struct Reader<'a> {
    ini: Ini,
    file: Option<&'a Path>,
}

pub(super) fn parse(text: &str, file: Option<&Path>) -> Result<HwConfig> {
    let reader = Reader {
        ini: Ini::parse(text, file)?,
        file,
    };
    reader.config()
}

impl Ini {
    fn parse(text: &str, file: Option<&Path>) -> Result<Self> {
        let error = |line: usize, message: String| {
            SimError::config(Location::in_optional_file(file).at_line(line), message)
        };
        let mut sections: HashMap<String, HashMap<String, (String, usize)>> = HashMap::new();
        let mut current: Option<String> = None;
        // The option a continuation line extends, and the indent of its first line.
        let mut last_option: Option<(String, usize)> = None;
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let stripped = raw.trim();
            if stripped.is_empty() || stripped.starts_with('#') || stripped.starts_with(';') {
                continue;
            }
            let indent = raw.len() - raw.trim_start().len();
            if let (Some(section), Some((option, option_indent))) = (&current, &last_option) {
                if indent > *option_indent {
                    let entry = sections.get_mut(section).and_then(|s| s.get_mut(option));
                    if let Some((value, _)) = entry {
                        value.push('\n');
                        value.push_str(stripped);
                    }
                    continue;
                }
            }
            if let Some(header) = stripped
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
            {
                if header.is_empty() {
                    return Err(error(line_no, "empty section name '[]'".into()));
                }
                if sections.contains_key(header) {
                    return Err(error(line_no, format!("section '{header}' appears twice")));
                }
                sections.insert(header.to_owned(), HashMap::new());
                current = Some(header.to_owned());
                last_option = None;
                continue;
            }
            let Some(section) = &current else {
                return Err(error(
                    line_no,
                    "a key before the first [section] header".into(),
                ));
            };
            let Some(split) = stripped.find(['=', ':']) else {
                return Err(error(
                    line_no,
                    format!("expected 'key = value' or 'key: value', found '{stripped}'"),
                ));
            };
            let key = stripped[..split].trim_end().to_lowercase();
            let value = stripped[split + 1..].trim().to_owned();
            if key.is_empty() {
                return Err(error(
                    line_no,
                    format!("a value without a key: '{stripped}'"),
                ));
            }
            let keys = sections.entry(section.clone()).or_default();
            if keys.contains_key(&key) {
                return Err(error(
                    line_no,
                    format!("key '{key}' appears twice in section [{section}]"),
                ));
            }
            keys.insert(key.clone(), (value, line_no));
            last_option = Some((key, indent));
        }
        Ok(Self { sections })
    }

    fn has_section(&self, section: &str) -> bool {
        self.sections.contains_key(section)
    }

    /// configparser's `get`: the section must exist; the key falls back to `[DEFAULT]`.
    fn get(&self, section: &str, key: &str) -> Option<&(String, usize)> {
        let key = key.to_lowercase();
        let found = self.sections.get(section)?.get(&key);
        found.or_else(|| self.sections.get("DEFAULT").and_then(|d| d.get(&key)))
    }
}

impl Reader<'_> {
    fn location(&self, section: &str, key: &str, line: Option<usize>) -> Location {
        Location {
            file: self.file.map(Path::to_path_buf),
            line,
            field: Some(format!("[{section}] {key}")),
        }
    }

    fn string(&self, section: &str, key: &str) -> Result<(&str, usize)> {
        if !self.ini.has_section(section) {
            return Err(SimError::config(
                self.location(section, key, None),
                format!("missing section [{section}], which SCALE-Sim requires"),
            ));
        }
        match self.ini.get(section, key) {
            Some((value, line)) => Ok((value.as_str(), *line)),
            None => Err(SimError::config(
                self.location(section, key, None),
                format!("missing key {key} in section [{section}], which SCALE-Sim requires"),
            )),
        }
    }

    fn integer(&self, section: &str, key: &str) -> Result<(i64, usize)> {
        let (value, line) = self.string(section, key)?;
        parse_python_int(value).map(|n| (n, line)).ok_or_else(|| {
            SimError::config(
                self.location(section, key, Some(line)),
                format!("expected an integer, found '{value}'"),
            )
        })
    }

    fn positive(&self, section: &str, key: &str) -> Result<u32> {
        let (value, line) = self.integer(section, key)?;
        u32::try_from(value).ok().filter(|&v| v > 0).ok_or_else(|| {
            SimError::config(
                self.location(section, key, Some(line)),
                format!("must be a positive integer below 2^32, found {value}"),
            )
        })
    }

    fn offset(&self, section: &str, key: &str) -> Result<u64> {
        let (value, line) = self.integer(section, key)?;
        u64::try_from(value).map_err(|_| {
            SimError::config(
                self.location(section, key, Some(line)),
                format!("must not be negative, found {value}"),
            )
        })
    }

    /// configparser's `getboolean`.
    fn boolean(&self, section: &str, key: &str) -> Result<(bool, usize)> {
        let (value, line) = self.string(section, key)?;
        match value.to_lowercase().as_str() {
            "1" | "yes" | "true" | "on" => Ok((true, line)),
            "0" | "no" | "false" | "off" => Ok((false, line)),
            _ => Err(SimError::config(
                self.location(section, key, Some(line)),
                format!("expected a boolean (true/false, yes/no, on/off, 1/0), found '{value}'"),
            )),
        }
    }

    fn unsupported(&self, section: &str, key: &str, line: usize, what: &str) -> SimError {
        SimError::config(
            self.location(section, key, Some(line)),
            format!("{what} is not supported by amed's simulator"),
        )
    }

    fn is_v3(&self) -> bool {
        ["layout", "sparsity"]
            .iter()
            .any(|s| self.ini.has_section(s))
            || self.ini.get("run_presets", "UseRamulatorTrace").is_some()
            || self
                .ini
                .get("architecture_presets", "ReadRequestBuffer")
                .is_some()
    }

    fn config(&self) -> Result<HwConfig> {
        const ARCH: &str = "architecture_presets";
        const LAYOUT: &str = "layout";
        let (run_name, _) = self.string("general", "run_name")?;
        let (interface_text, interface_line) = self.string("run_presets", "InterfaceBandwidth")?;
        let interface = match interface_text {
            "USER" => Interface::User,
            "CALC" => Interface::Calc,
            other => {
                return Err(SimError::config(
                    self.location("run_presets", "InterfaceBandwidth", Some(interface_line)),
                    format!("expected USER or CALC, found '{other}'"),
                ))
            }
        };
        let v3 = self.is_v3();
        if v3 {
            let (ramulator, line) = self.string("run_presets", "UseRamulatorTrace")?;
            if ramulator == "True" {
                return Err(self.unsupported(
                    "run_presets",
                    "UseRamulatorTrace",
                    line,
                    "the Ramulator memory model",
                ));
            }
        }
        let array_rows = self.positive(ARCH, "ArrayHeight")?;
        let array_cols = self.positive(ARCH, "ArrayWidth")?;
        let ifmap_sram_kb = self.positive(ARCH, "IfmapSramSzkB")?;
        let filter_sram_kb = self.positive(ARCH, "FilterSramSzkB")?;
        let ofmap_sram_kb = self.positive(ARCH, "OfmapSramSzkB")?;
        let ifmap_offset = self.offset(ARCH, "IfmapOffset")?;
        let filter_offset = self.offset(ARCH, "FilterOffset")?;
        let ofmap_offset = self.offset(ARCH, "OfmapOffset")?;
        let (dataflow_text, dataflow_line) = self.string(ARCH, "Dataflow")?;
        let dataflow = Dataflow::parse(dataflow_text).ok_or_else(|| {
            SimError::config(
                self.location(ARCH, "Dataflow", Some(dataflow_line)),
                format!("unknown dataflow '{dataflow_text}': expected os, ws or is"),
            )
        })?;
        // v3 reads the ifmap and filter DRAM bandwidths from [layout] in USER mode.
        let mut layout_bw = None;
        if v3 {
            self.integer(ARCH, "ReadRequestBuffer")?;
            self.integer(ARCH, "WriteRequestBuffer")?;
            for (prefix, what) in [("Ifmap", "ifmap"), ("Filter", "filter")] {
                let key = format!("{prefix}CustomLayout");
                let (custom, line) = self.boolean(LAYOUT, &key)?;
                if custom {
                    return Err(self.unsupported(
                        LAYOUT,
                        &key,
                        line,
                        &format!("a custom {what} SRAM layout"),
                    ));
                }
            }
            let ifmap = self.positive(LAYOUT, "IfmapSRAMBankBandwidth")?;
            let filter = self.positive(LAYOUT, "FilterSRAMBankBandwidth")?;
            for (prefix, bw) in [("Ifmap", ifmap), ("Filter", filter)] {
                let banks = self.positive(LAYOUT, &format!("{prefix}SRAMBankNum"))?;
                self.integer(LAYOUT, &format!("{prefix}SRAMBankPort"))?;
                if bw % banks != 0 {
                    return Err(SimError::config(
                        self.location(LAYOUT, &format!("{prefix}SRAMBankBandwidth"), None),
                        format!(
                            "{bw} words/cycle is not divisible by {prefix}SRAMBankNum = {banks}"
                        ),
                    ));
                }
            }
            let (sparsity, line) = self.string("sparsity", "SparsitySupport")?;
            if sparsity.to_lowercase() == "true" {
                return Err(self.unsupported("sparsity", "SparsitySupport", line, "sparsity"));
            }
            layout_bw = Some((ifmap, filter));
        }
        // SCALE-Sim reads `Bandwidth` only in USER mode; CALC uses fixed read bandwidths and
        // drains the ofmap at ArrayWidth words per cycle.
        let (ifmap_bw, filter_bw, ofmap_bw) = match interface {
            Interface::User => {
                let bandwidth = self.first_bandwidth()?;
                let (ifmap, filter) = layout_bw.unwrap_or((bandwidth, bandwidth));
                (ifmap, filter, bandwidth)
            }
            Interface::Calc => (CALC_READ_BW, CALC_READ_BW, array_cols),
        };
        let word_bits = defaults::WORD_BITS;
        let config = HwConfig {
            name: run_name.to_owned(),
            array_rows,
            array_cols,
            dataflow,
            ifmap_sram_kb,
            filter_sram_kb,
            ofmap_sram_kb,
            ifmap_bw,
            filter_bw,
            ofmap_bw,
            interface,
            clock_ghz: defaults::CLOCK_GHZ,
            word_bits,
            pe_bits: word_bits,
            bit_fusion: false,
            energy: HwConfig::default_energy(
                ifmap_sram_kb,
                filter_sram_kb,
                ofmap_sram_kb,
                word_bits,
            ),
            ifmap_offset,
            filter_offset,
            ofmap_offset,
        };
        config.validate(self.file)?;
        Ok(config)
    }

    /// `Bandwidth` is a comma-separated list of ints of which SCALE-Sim uses only the first.
    fn first_bandwidth(&self) -> Result<u32> {
        const ARCH: &str = "architecture_presets";
        let (value, line) = self.string(ARCH, "Bandwidth")?;
        let location = || self.location(ARCH, "Bandwidth", Some(line));
        let mut first = None;
        for item in value.trim().split(',') {
            let n = parse_python_int(item.trim()).ok_or_else(|| {
                SimError::config(
                    location(),
                    format!("expected comma-separated integers, found '{value}'"),
                )
            })?;
            first.get_or_insert(n);
        }
        let first = first.unwrap_or_default();
        u32::try_from(first).ok().filter(|&v| v > 0).ok_or_else(|| {
            SimError::config(
                location(),
                format!("must be a positive number of words per cycle, found {first}"),
            )
        })
    }
}

/// Python's `int(str)` for decimal text: optional sign, digits with single underscores
/// between them, surrounding whitespace allowed.
fn parse_python_int(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut value: i64 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        let digit = i64::from(c.to_digit(10)?);
        value = value.checked_mul(10)?.checked_add(digit)?;
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::parse_python_int;

    #[test]
    fn python_int_rules() {
        assert_eq!(parse_python_int(" 1_000 "), Some(1000));
        assert_eq!(parse_python_int("+7"), Some(7));
        assert_eq!(parse_python_int("-7"), Some(-7));
        for bad in ["", "_1", "1_", "1__0", "1.0", "0x10", "ten", "-"] {
            assert_eq!(parse_python_int(bad), None, "{bad:?}");
        }
    }
}
