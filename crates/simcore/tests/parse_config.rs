//! Hardware configs: the shipped TOML files, SCALE-Sim .cfg files in both formats, and a
//! typed error naming file, line and field for each kind of bad input.

use std::path::{Path, PathBuf};

use simcore::{Dataflow, HwConfig, Interface, SimError};

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

fn config_error(result: Result<HwConfig, SimError>) -> (Option<usize>, Option<String>, String) {
    match result {
        Err(SimError::Config { location, message }) => (location.line, location.field, message),
        other => panic!("expected a config error, got {other:?}"),
    }
}

const MINIMAL_TOML: &str = r#"
[array]
rows = 8
cols = 4
dataflow = "ws"

[sram]
ifmap_kb = 2
filter_kb = 3
ofmap_kb = 4

[dram]
bandwidth = 5
"#;

#[test]
fn shipped_toml_configs() {
    let scalesim = HwConfig::from_file(configs().join("scalesim.toml")).unwrap();
    assert_eq!(
        (scalesim.array_rows, scalesim.array_cols, scalesim.dataflow),
        (32, 32, Dataflow::Os)
    );
    assert_eq!(
        (
            scalesim.ifmap_sram_kb,
            scalesim.filter_sram_kb,
            scalesim.ofmap_sram_kb
        ),
        (64, 64, 64)
    );
    assert_eq!(
        (scalesim.ifmap_bw, scalesim.filter_bw, scalesim.ofmap_bw),
        (10, 10, 10)
    );
    assert_eq!(
        (scalesim.clock_ghz, scalesim.word_bits, scalesim.pe_bits),
        (0.2, 8, 8)
    );
    assert_eq!(scalesim.interface, Interface::User);
    // Every shipped config has 8-bit PEs that fuse low-bit MACs (the AMED paper's model).
    for name in ["scalesim", "scalesim_lowmem", "eyeriss"] {
        let config = HwConfig::from_file(configs().join(format!("{name}.toml"))).unwrap();
        assert_eq!(
            (config.word_bits, config.pe_bits, config.bit_fusion),
            (8, 8, true),
            "{name}"
        );
    }
    let lowmem = HwConfig::from_file(configs().join("scalesim_lowmem.toml")).unwrap();
    assert_eq!(
        (lowmem.ifmap_sram_kb, lowmem.clock_ghz, lowmem.name.as_str()),
        (4, 0.1, "scalesim_lowmem")
    );
    let eyeriss = HwConfig::from_file(configs().join("eyeriss.toml")).unwrap();
    assert_eq!(
        (eyeriss.array_rows, eyeriss.array_cols, eyeriss.dataflow),
        (12, 14, Dataflow::Ws)
    );
    assert_eq!(eyeriss.ofmap_sram_kb, 108);
}

#[test]
fn shipped_cfg_files_match_the_toml_files() {
    for name in ["scalesim", "scalesim_lowmem", "eyeriss"] {
        let toml = HwConfig::from_file(configs().join(format!("{name}.toml"))).unwrap();
        for version in ["v2", "v3"] {
            let cfg =
                HwConfig::from_file(configs().join(format!("scalesim-cfg/{version}/{name}.cfg")))
                    .unwrap();
            assert_eq!(cfg.name, name);
            let geometry = |c: &HwConfig| {
                (
                    c.array_rows,
                    c.array_cols,
                    c.dataflow,
                    c.ifmap_sram_kb,
                    c.filter_sram_kb,
                    c.ofmap_sram_kb,
                )
            };
            assert_eq!(geometry(&cfg), geometry(&toml), "{version}/{name}");
            assert_eq!((cfg.ifmap_bw, cfg.filter_bw, cfg.ofmap_bw), (10, 10, 10));
            assert_eq!(
                (cfg.ifmap_offset, cfg.filter_offset, cfg.ofmap_offset),
                (0, 10_000_000, 20_000_000)
            );
        }
    }
}

#[test]
fn toml_defaults_and_round_trip() {
    let config = HwConfig::from_toml_str(MINIMAL_TOML, None).unwrap();
    assert_eq!(config.name, "custom");
    assert_eq!(
        (config.ifmap_bw, config.filter_bw, config.ofmap_bw),
        (5, 5, 5)
    );
    assert_eq!(
        (
            config.clock_ghz,
            config.word_bits,
            config.pe_bits,
            config.bit_fusion
        ),
        (0.2, 8, 8, false)
    );
    // Horowitz 45 nm: 0.2 + 0.03 pJ per 8-bit MAC; 4 kB (largest SRAM) = 2.5 * sqrt(4/32) pJ/byte.
    assert!((config.energy.mac_pj - 0.23).abs() < 1e-12);
    assert!((config.energy.sram_read_pj - 2.5 * (4.0f64 / 32.0).sqrt()).abs() < 1e-12);
    assert_eq!(config.energy.dram_access_pj, 243.75);
    let again = HwConfig::from_toml_str(&config.to_toml_string().unwrap(), None).unwrap();
    assert_eq!(again, config);
}

#[test]
fn per_operand_bandwidth_overrides_the_shorthand() {
    let text = MINIMAL_TOML.replace("bandwidth = 5", "bandwidth = 5\nfilter_bw = 7");
    let config = HwConfig::from_toml_str(&text, None).unwrap();
    assert_eq!(
        (config.ifmap_bw, config.filter_bw, config.ofmap_bw),
        (5, 7, 5)
    );
    let text = MINIMAL_TOML.replace("bandwidth = 5", "ifmap_bw = 1\nfilter_bw = 2\nofmap_bw = 3");
    let config = HwConfig::from_toml_str(&text, None).unwrap();
    assert_eq!(
        (config.ifmap_bw, config.filter_bw, config.ofmap_bw),
        (1, 2, 3)
    );
    let text = MINIMAL_TOML.replace("bandwidth = 5", "ifmap_bw = 1");
    let (_, field, message) = config_error(HwConfig::from_toml_str(&text, None));
    assert_eq!(field.as_deref(), Some("dram.filter_bw"));
    assert!(message.contains("bandwidth"), "{message}");
}

#[test]
fn toml_unknown_key_names_file_line_and_field() {
    let text = MINIMAL_TOML.replace("cols = 4", "cols = 4\nrwos = 3");
    let file = Path::new("my.toml");
    let error = HwConfig::from_toml_str(&text, Some(file)).unwrap_err();
    let shown = error.to_string();
    assert!(
        shown.contains("my.toml") && shown.contains("rwos"),
        "{shown}"
    );
    let (line, field, _) = config_error(Err(error));
    assert_eq!((line, field.as_deref()), (Some(5), Some("rwos")));
    let (_, field, _) = config_error(HwConfig::from_toml_str(
        &format!("{MINIMAL_TOML}\n[extra]\nx = 1\n"),
        None,
    ));
    assert_eq!(field.as_deref(), Some("extra"));
}

#[test]
fn toml_bad_values() {
    let cases = [
        (MINIMAL_TOML.replace("\"ws\"", "\"xs\""), "unknown variant"),
        (MINIMAL_TOML.replace("rows = 8", "rows = 0"), "positive"),
        (MINIMAL_TOML.replace("rows = 8", "rows = -8"), "invalid value"),
        (MINIMAL_TOML.replace("rows = 8", "rows = \"8\""), "invalid type"),
        (MINIMAL_TOML.replace("ifmap_kb = 2\n", ""), "missing field"),
        (format!("{MINIMAL_TOML}[clock]\nghz = -1.0\n"), "positive number of GHz"),
        (format!("{MINIMAL_TOML}[precision]\nword_bits = 0\n"), "1..=64"),
        (format!("{MINIMAL_TOML}[energy]\nmac_pj = 1.0\nsram_read_pj = 1.0\nsram_write_pj = 1.0\ndram_access_pj = -1.0\n"), "non-negative"),
        ("[array\n".to_owned(), "unclosed table"),
    ];
    for (text, expected) in cases {
        let (_, _, message) =
            config_error(HwConfig::from_toml_str(&text, Some(Path::new("x.toml"))));
        assert!(
            message.contains(expected),
            "expected {expected:?} in {message:?}"
        );
    }
    let (line, field, _) = config_error(HwConfig::from_toml_str(
        &MINIMAL_TOML.replace("\"ws\"", "\"xs\""),
        None,
    ));
    assert_eq!((line, field), (Some(5), None));
}

const V3_CFG: &str = "\
[general]
run_name = v3test

[architecture_presets]
ArrayHeight:    16
ArrayWidth:     8
IfmapSramSzkB:    6
FilterSramSzkB:   7
OfmapSramSzkB:    8
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 3,4
Dataflow : is
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 12
IfmapSRAMBankNum: 2
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 20
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false

[run_presets]
InterfaceBandwidth: USER
UseRamulatorTrace: False
";

#[test]
fn v3_cfg_takes_ifmap_and_filter_bandwidth_from_layout() {
    let config = HwConfig::from_scalesim_cfg_str(V3_CFG, None).unwrap();
    assert_eq!(config.name, "v3test");
    assert_eq!(
        (config.array_rows, config.array_cols, config.dataflow),
        (16, 8, Dataflow::Is)
    );
    assert_eq!(
        (
            config.ifmap_sram_kb,
            config.filter_sram_kb,
            config.ofmap_sram_kb
        ),
        (6, 7, 8)
    );
    assert_eq!(
        (config.ifmap_bw, config.filter_bw, config.ofmap_bw),
        (12, 20, 3)
    );
}

#[test]
fn v2_cfg_uses_the_first_bandwidth_for_all_operands() {
    let v2 = "[general]\nrun_name = two\n[architecture_presets]\nArrayHeight = 4\nArrayWidth = 5\n\
              IfmapSramSzkB = 1\nFilterSramSzkB = 2\nOfmapSramSzkB = 3\nIfmapOffset = 0\nFilterOffset = 100\n\
              OfmapOffset = 200\nBandwidth = 9, 1\nDataflow = ws\n[run_presets]\nInterfaceBandwidth = USER\n";
    let config = HwConfig::from_scalesim_cfg_str(v2, None).unwrap();
    assert_eq!(
        (config.ifmap_bw, config.filter_bw, config.ofmap_bw),
        (9, 9, 9)
    );
    assert_eq!((config.filter_offset, config.ofmap_offset), (100, 200));
    // Keys are case-insensitive, comments and [DEFAULT] fallbacks work as in configparser.
    let relaxed = v2
        .replace("ArrayHeight = 4", "# comment\n; another\narrayheight: 4")
        .replace("[general]", "[DEFAULT]\nMemoryBanks = 1\n[general]");
    assert_eq!(
        HwConfig::from_scalesim_cfg_str(&relaxed, None).unwrap(),
        config
    );
}

#[test]
fn calc_mode_uses_scalesim_fixed_bandwidths() {
    let calc = V3_CFG
        .replace("InterfaceBandwidth: USER", "InterfaceBandwidth: CALC")
        .replace("Bandwidth : 3,4\n", "");
    let config = HwConfig::from_scalesim_cfg_str(&calc, None).unwrap();
    assert_eq!(config.interface, Interface::Calc);
    assert_eq!(
        (config.ifmap_bw, config.filter_bw, config.ofmap_bw),
        (10, 10, 8)
    );
}

#[test]
fn cfg_errors_name_line_and_field() {
    let file = Path::new("arch.cfg");
    let (line, field, message) = config_error(HwConfig::from_scalesim_cfg_str(
        &V3_CFG.replace("Dataflow : is", "Dataflow : xy"),
        Some(file),
    ));
    assert_eq!(
        (line, field.as_deref()),
        (Some(14), Some("[architecture_presets] Dataflow"))
    );
    assert!(message.contains("unknown dataflow 'xy'"), "{message}");

    let (line, field, message) = config_error(HwConfig::from_scalesim_cfg_str(
        &V3_CFG.replace("ArrayWidth:     8", "ArrayWidth: eight"),
        None,
    ));
    assert_eq!(
        (line, field.as_deref()),
        (Some(6), Some("[architecture_presets] ArrayWidth"))
    );
    assert!(message.contains("integer"), "{message}");

    let (_, field, message) = config_error(HwConfig::from_scalesim_cfg_str(
        &V3_CFG.replace("FilterSRAMBankPort: 2\n", ""),
        None,
    ));
    assert_eq!(field.as_deref(), Some("[layout] FilterSRAMBankPort"));
    assert!(message.contains("missing key"), "{message}");

    let without_layout = V3_CFG.split("[layout]").next().unwrap().to_owned() + "[sparsity]\nSparsitySupport : false\n[run_presets]\nInterfaceBandwidth: USER\nUseRamulatorTrace: False\n";
    let (_, _, message) = config_error(HwConfig::from_scalesim_cfg_str(&without_layout, None));
    assert!(message.contains("missing section [layout]"), "{message}");

    let cases = [
        (
            V3_CFG.replace("InterfaceBandwidth: USER", "InterfaceBandwidth: user"),
            "USER or CALC",
        ),
        (
            V3_CFG.replace("IfmapCustomLayout: False", "IfmapCustomLayout: True"),
            "not supported",
        ),
        (
            V3_CFG.replace("SparsitySupport : false", "SparsitySupport : true"),
            "not supported",
        ),
        (
            V3_CFG.replace("UseRamulatorTrace: False", "UseRamulatorTrace: True"),
            "not supported",
        ),
        (
            V3_CFG.replace("IfmapSRAMBankBandwidth: 12", "IfmapSRAMBankBandwidth: 13"),
            "divisible",
        ),
        (
            V3_CFG.replace("OfmapSramSzkB:    8", "OfmapSramSzkB:    0"),
            "positive",
        ),
        (
            V3_CFG.replace("Bandwidth : 3,4", "Bandwidth : x"),
            "integers",
        ),
        (
            V3_CFG.replace("[general]", "stray = 1\n[general]"),
            "before the first [section]",
        ),
        (
            V3_CFG.replace("ArrayWidth:     8", "ArrayWidth:     8\narraywidth: 9"),
            "appears twice",
        ),
        (
            V3_CFG.replace("Dataflow : is", "Dataflow is"),
            "expected 'key = value'",
        ),
    ];
    for (text, expected) in cases {
        let (_, _, message) = config_error(HwConfig::from_scalesim_cfg_str(&text, Some(file)));
        assert!(
            message.contains(expected),
            "expected {expected:?} in {message:?}"
        );
    }
}

#[test]
fn unreadable_or_unknown_files() {
    match HwConfig::from_file("/nonexistent/dir/x.toml") {
        Err(SimError::Io { path, .. }) => assert_eq!(path, Path::new("/nonexistent/dir/x.toml")),
        other => panic!("expected an Io error, got {other:?}"),
    }
    let (_, _, message) = config_error(HwConfig::from_file(configs().join("README.md")));
    assert!(message.contains(".toml"), "{message}");
}
