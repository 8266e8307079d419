//! Inputs a hostile caller could pass: each is refused with a typed error, before any
//! allocation that could abort the host.

use std::path::Path;

use simcore::config::limits;
use simcore::engine::memory::MEMORY_LIMIT_BYTES;
use simcore::topology::MAX_LAYERS;
use simcore::{simulate, CompatMode, HwConfig, Interrupt, SimError, Topology};

const HEADER: &str = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n";

const TOML: &str = "[array]\nrows = 8\ncols = 8\ndataflow = \"os\"\n[sram]\nifmap_kb = 64\nfilter_kb = 64\nofmap_kb = 64\n[dram]\nbandwidth = 10\n";

fn topology(rows: &str) -> simcore::Result<Topology> {
    Topology::from_csv_str(&format!("{HEADER}{rows}"), Some(Path::new("t.csv")), false)
}

fn hw() -> HwConfig {
    HwConfig::from_toml_str(TOML, None).unwrap()
}

#[test]
fn dp_row_with_billions_of_channels_is_refused_before_expanding() {
    let error = topology("DP1,32,32,3,3,2000000000,1,1,\n").unwrap_err();
    let SimError::Topology { location, message } = error else {
        panic!("expected a topology error");
    };
    assert_eq!(location.line, Some(2));
    assert_eq!(location.field.as_deref(), Some("channels"));
    assert!(message.contains(&MAX_LAYERS.to_string()), "{message}");
    // At the limit it is still accepted.
    let ok = topology(&format!("DP1,8,8,3,3,{MAX_LAYERS},1,1,\n")).unwrap();
    assert_eq!(ok.layers.len(), MAX_LAYERS);
}

#[test]
fn empty_and_duplicate_names_are_refused_with_their_line() {
    for (rows, line) in [
        ("a,8,8,3,3,2,2,1,\nb,8,8,3,3,2,2,1,\na,8,8,3,3,2,2,1,\n", 4),
        (" ,8,8,3,3,2,2,1,\n", 2),
    ] {
        match topology(rows).unwrap_err() {
            SimError::Topology { location, .. } => {
                assert_eq!(location.line, Some(line));
                assert_eq!(location.field.as_deref(), Some("name"));
            }
            other => panic!("{other}"),
        }
    }
    let layer = simcore::Layer::gemm("g", 2, 2, 2).unwrap();
    let error = Topology::new("t", vec![layer.clone(), layer]).unwrap_err();
    assert!(
        error.to_string().contains("duplicate layer name 'g'"),
        "{error}"
    );
}

#[test]
fn layer_over_the_memory_bound_is_refused_naming_layer_and_bound() {
    // Memory follows the folds and the ofmap pixels, not the operands: 4·10⁹ pixels are
    // still too many.
    let huge = topology("huge,65535,65535,1,1,1,1,1,\n").unwrap();
    match simulate(&huge, &hw(), CompatMode::ScalesimV3).unwrap_err() {
        SimError::Resource { message, .. } => {
            assert!(message.contains("layer 'huge'"), "{message}");
            assert!(message.contains("4 GiB"), "{message}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(MEMORY_LIMIT_BYTES, 4 << 30);
}

#[test]
fn raised_interrupt_stops_a_simulation() {
    let net = topology("a,64,64,3,3,16,16,1,\n").unwrap();
    let interrupt = Interrupt::new();
    interrupt.raise();
    let result = simcore::engine::simulate_with(&net, &hw(), CompatMode::ScalesimV3, &interrupt);
    assert!(matches!(result, Err(SimError::Interrupted)));
}

fn config_error(text: &str) -> (Option<String>, String) {
    match HwConfig::from_toml_str(text, Some(Path::new("hw.toml"))).unwrap_err() {
        SimError::Config { location, message } => {
            assert_eq!(location.file.as_deref(), Some(Path::new("hw.toml")));
            (location.field, message)
        }
        other => panic!("{other}"),
    }
}

#[test]
fn values_whose_derived_quantities_overflow_are_refused_at_load() {
    let (field, _) = config_error(&format!("{TOML}[clock]\nghz = 5e-324\n"));
    assert_eq!(field.as_deref(), Some("clock_ghz"));
    let energy =
        "[energy]\nmac_pj = 1.7e308\nsram_read_pj = 1\nsram_write_pj = 1\ndram_access_pj = 1\n";
    let (field, _) = config_error(&format!("{TOML}{energy}"));
    assert_eq!(field.as_deref(), Some("energy.mac_pj"));
    let (field, message) = config_error(&TOML.replace("rows = 8", "rows = 1000000"));
    assert_eq!(field.as_deref(), Some("array_rows"));
    assert!(
        message.contains(&limits::MAX_ARRAY_DIM.to_string()),
        "{message}"
    );
}

#[test]
fn address_offsets_default_one_by_one() {
    let hw =
        HwConfig::from_toml_str(&format!("{TOML}[addresses]\nofmap_offset = 5\n"), None).unwrap();
    assert_eq!(
        (hw.ifmap_offset, hw.filter_offset, hw.ofmap_offset),
        (0, 10_000_000, 5)
    );
}

#[cfg(unix)]
#[test]
fn endless_input_files_fail_fast() {
    let error = Topology::from_csv("/dev/zero", false).unwrap_err();
    assert!(error.to_string().contains("limit"), "{error}");
    let dir = std::env::temp_dir().join(format!("simcore-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("zero.toml");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let error = HwConfig::from_file(&link).unwrap_err();
    assert!(matches!(error, SimError::Io { .. }), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cost_tables_over_the_memory_bound_are_refused_before_simulating() {
    let net = topology(&format!("DP1,8,8,3,3,{MAX_LAYERS},1,1,\n")).unwrap();
    let choices: Vec<u32> = (1..=32).collect();
    let error = simcore::cost_model::CostModel::new(&net, &hw(), &choices, CompatMode::ScalesimV3)
        .unwrap_err();
    assert!(matches!(error, SimError::Resource { .. }), "{error}");
    assert!(error.to_string().contains("fewer bit choices"), "{error}");
}
