//! Topology CSVs read with SCALE-Sim's rules, the shipped networks, layer arithmetic, the CSV
//! writer, and a typed error naming file, line and field for each kind of bad input.

use std::path::{Path, PathBuf};

use simcore::{ConvShape, Layer, LayerKind, SimError, Topology};

fn topologies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../topologies")
}

fn topology_error(result: Result<Topology, SimError>) -> (Option<usize>, Option<String>, String) {
    match result {
        Err(SimError::Topology { location, message }) => (location.line, location.field, message),
        other => panic!("expected a topology error, got {other:?}"),
    }
}

fn parse(text: &str) -> Result<Topology, SimError> {
    Topology::from_csv_str(text, Some(Path::new("net.csv")), false)
}

fn shape(h: u64, w: u64, r: u64, s: u64, c: u64, k: u64, stride: u64) -> ConvShape {
    ConvShape {
        ifmap_h: h,
        ifmap_w: w,
        filter_h: r,
        filter_w: s,
        channels: c,
        num_filters: k,
        stride_h: stride,
        stride_w: stride,
    }
}

#[test]
fn shipped_topologies() {
    let expected = [
        ("Resnet18", 21),
        ("mobilenet", 27),
        ("Resnet50", 54),
        ("test", 1),
    ];
    for (name, layers) in expected {
        let topology = Topology::from_csv(topologies().join(format!("{name}.csv")), false).unwrap();
        assert_eq!(
            (topology.name.as_str(), topology.layers.len()),
            (name, layers)
        );
    }
    let resnet18 = Topology::from_csv(topologies().join("Resnet18.csv"), false).unwrap();
    // The trailing "Target" column sits after the last comma and is dropped, as in SCALE-Sim.
    assert_eq!(
        resnet18.layers[0],
        Layer {
            name: "Conv1".into(),
            kind: LayerKind::Conv(shape(224, 224, 7, 7, 3, 64, 2))
        }
    );
    assert_eq!(resnet18.layers[20].name, "FC");
    let test = Topology::from_csv(topologies().join("test.csv"), false).unwrap();
    assert_eq!(
        test.layers[0].kind,
        LayerKind::Conv(shape(7, 7, 3, 3, 192, 384, 1))
    );
}

#[test]
fn ofmap_uses_scalesim_ceil_quirk() {
    // E = ceil((H - R + s) / s): one more than floor((H - R) / s) + 1 when s does not divide H - R.
    for (h, r, s, e) in [
        (224, 7, 2, 110),
        (56, 1, 2, 29),
        (16, 3, 2, 8),
        (18, 3, 1, 16),
        (7, 3, 1, 5),
    ] {
        let layer = Layer::conv("x", shape(h, h, r, r, 1, 1, s)).unwrap();
        assert_eq!((layer.ofmap_h(), layer.ofmap_w()), (e, e), "{h} {r} {s}");
    }
    let layer = Layer::conv(
        "x",
        ConvShape {
            stride_w: 3,
            ..shape(16, 16, 3, 3, 4, 8, 2)
        },
    )
    .unwrap();
    assert_eq!((layer.ofmap_h(), layer.ofmap_w()), (8, 6));
    assert_eq!(layer.macs(), 8 * 6 * 3 * 3 * 4 * 8);
}

#[test]
fn macs_of_each_kind() {
    let conv = Layer::conv("c", shape(8, 8, 3, 3, 4, 6, 1)).unwrap();
    assert_eq!(conv.macs(), 36 * 9 * 4 * 6);
    let depthwise = Layer::depthwise("d", shape(8, 8, 3, 3, 4, 8, 1)).unwrap();
    assert_eq!(depthwise.macs(), 36 * 9 * 8);
    assert_eq!(depthwise.weights(), 9 * 8);
    let grouped = Layer::grouped("g", shape(8, 8, 3, 3, 4, 6, 1), 2).unwrap();
    assert_eq!(grouped.macs(), 36 * 9 * 2 * 6);
    let gemm = Layer::gemm("m", 5, 7, 11).unwrap();
    assert_eq!(
        (gemm.macs(), gemm.ofmap_h(), gemm.ofmap_w()),
        (5 * 7 * 11, 5, 1)
    );
    assert_eq!(
        gemm.shape(),
        ConvShape {
            filter_h: 1,
            channels: 1,
            ..shape(5, 11, 1, 11, 1, 7, 1)
        }
    );
}

#[test]
fn scalesim_row_rules() {
    // Header skipped whatever it says, blank lines skipped, whitespace trimmed.
    let t =
        parse("anything at all\n\n  a, 8, 8, 3, 3, 2, 4, 1,  \n\r\nb,8,8,1,1,2,4,2,\n").unwrap();
    assert_eq!(t.names(), ["a", "b"]);
    // A v2 ninth column is the column stride; a v3 ninth column is a sparsity ratio.
    let t = parse("h\na, 8, 9, 3, 3, 2, 4, 1, 2,\nb, 8, 8, 3, 3, 2, 4, 2, 1:1,\n").unwrap();
    assert_eq!(
        (t.layers[0].shape().stride_h, t.layers[0].shape().stride_w),
        (1, 2)
    );
    assert_eq!(t.layers[1].shape().stride_w, 2);
    // Without the trailing comma the last column is lost, as in SCALE-Sim.
    let t = parse("h\na, 8, 8, 3, 3, 2, 4, 1, 2\n").unwrap();
    assert_eq!(t.layers[0].shape().stride_w, 1);
}

#[test]
fn dp_names_expand_per_channel() {
    let t = parse("h\nConvDP, 8, 8, 3, 3, 3, 1, 1,\nnext, 6, 6, 1, 1, 3, 5, 1,\n").unwrap();
    assert_eq!(
        t.names(),
        [
            "ConvDPChannel_0",
            "ConvDPChannel_1",
            "ConvDPChannel_2",
            "next"
        ]
    );
    assert!(t.layers[..3]
        .iter()
        .all(|l| l.kind == LayerKind::Conv(shape(8, 8, 3, 3, 1, 1, 1))));
}

#[test]
fn grouped_form_and_gemm_form() {
    let t = parse("h\nd, 8, 8, 3, 3, 4, 8, 1, 1, 4,\ng, 8, 8, 3, 3, 4, 6, 2, 2, 2,\nc, 8, 8, 3, 3, 4, 6, 1, 1, 1,\n").unwrap();
    let kinds: Vec<_> = t.layers.iter().map(Layer::kind_name).collect();
    assert_eq!(kinds, ["depthwise", "grouped", "conv"]);
    let gemm = Topology::from_csv_str(
        "Layer, M, N, K,\nfc, 4, 5, 6,\nqk, 7, 8, 9, 1:1,\n",
        None,
        true,
    )
    .unwrap();
    assert_eq!(gemm.layers[0].kind, LayerKind::Gemm { m: 4, n: 5, k: 6 });
    assert_eq!(gemm.layers[1].kind, LayerKind::Gemm { m: 7, n: 8, k: 9 });
}

#[test]
fn csv_round_trip() {
    let dir = std::env::temp_dir().join(format!("simcore-parse-topology-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let square = Topology::from_csv(topologies().join("mobilenet.csv"), false).unwrap();
    let rectangular = parse("h\na, 8, 9, 3, 3, 2, 4, 1, 2,\n").unwrap();
    let grouped = parse("h\nd, 8, 8, 3, 3, 4, 8, 1, 1, 4,\ng, 8, 8, 3, 3, 4, 6, 2, 3, 2,\nc, 8, 8, 3, 3, 4, 6, 1, 1, 1,\n").unwrap();
    for (index, topology) in [square, rectangular, grouped].into_iter().enumerate() {
        let path = dir.join(format!("t{index}.csv"));
        topology.to_csv(&path).unwrap();
        assert_eq!(
            Topology::from_csv(&path, false).unwrap().layers,
            topology.layers
        );
    }
    let gemm = Topology::new("g", vec![Layer::gemm("fc", 3, 4, 5).unwrap()]).unwrap();
    let path = dir.join("gemm.csv");
    gemm.to_csv(&path).unwrap();
    assert_eq!(Topology::from_csv(&path, true).unwrap().layers, gemm.layers);
    std::fs::remove_dir_all(&dir).unwrap();
    // Names that CSV cannot carry are refused.
    let bad = Topology {
        name: "x".into(),
        layers: vec![Layer::gemm("a,b", 1, 1, 1).unwrap()],
    };
    assert!(matches!(
        bad.to_csv_string(),
        Err(SimError::Topology { .. })
    ));
}

#[test]
fn errors_name_file_line_and_field() {
    let cases: [(&str, usize, Option<&str>, &str); 11] = [
        ("h\na, 8, 8, 3, 3, 2, 4,\n", 2, None, "expected 8 fields"),
        ("h\na, 8, 8, 3, 3, 2, 4, 1\n", 2, None, "end with a comma"),
        (
            "h\n\na, 8, x8, 3, 3, 2, 4, 1,\n",
            3,
            Some("ifmap_w"),
            "expected an integer, found 'x8'",
        ),
        (
            "h\na, 8, 8, 3, 3, 0, 4, 1,\n",
            2,
            Some("channels"),
            "positive",
        ),
        (
            "h\na, 8, 8, 3, 3, 2, -4, 1,\n",
            2,
            Some("num_filters"),
            "positive",
        ),
        (
            "h\na, 8, 8, 9, 3, 2, 4, 1,\n",
            2,
            Some("filter_h"),
            "larger than the ifmap height",
        ),
        (
            "h\na, 8, 8, 3, 9, 2, 4, 1,\n",
            2,
            Some("filter_w"),
            "larger than the ifmap width",
        ),
        (
            "h\na, 8, 8, 3, 3, 2, 4, 1, 2:4,\n",
            2,
            Some("sparsity"),
            "dense layers only",
        ),
        (
            "h\na, 8, 8, 3, 3, 4, 6, 1, 1, 4,\n",
            2,
            Some("num_filters"),
            "multiple",
        ),
        (
            "h\na, 8, 8, 3, 3, 6, 6, 1, 1, 4,\n",
            2,
            Some("channels"),
            "divisible by groups",
        ),
        (
            "h\na, 8, 8, 3, 3, 2, 4, 1, 1, 1, 1, 1,\n",
            2,
            None,
            "8 to 10 fields",
        ),
    ];
    for (text, line, field, expected) in cases {
        let error = parse(text).unwrap_err();
        assert!(error.to_string().contains("net.csv"), "{error}");
        let (got_line, got_field, message) = topology_error(Err(error));
        assert_eq!(
            (got_line, got_field.as_deref()),
            (Some(line), field),
            "{text:?}"
        );
        assert!(
            message.contains(expected),
            "expected {expected:?} in {message:?}"
        );
    }
    let (_, _, message) = topology_error(parse("only a header\n\n"));
    assert!(message.contains("no layers"), "{message}");
    let (line, field, _) = topology_error(Topology::from_csv_str("h\nfc, 4, 0, 6,\n", None, true));
    assert_eq!((line, field.as_deref()), (Some(2), Some("n")));
    let (_, _, message) = topology_error(Topology::from_csv_str("h\nfc, 4, 5,\n", None, true));
    assert!(message.contains("expected 4 fields"), "{message}");
    match Topology::from_csv("/nonexistent/net.csv", false) {
        Err(SimError::Io { path, .. }) => assert_eq!(path, Path::new("/nonexistent/net.csv")),
        other => panic!("expected an Io error, got {other:?}"),
    }
}

#[test]
fn in_memory_layers_are_validated() {
    assert!(matches!(
        Layer::conv("x", shape(4, 4, 5, 1, 1, 1, 1)),
        Err(SimError::Topology { .. })
    ));
    assert!(matches!(
        Layer::gemm("x", 0, 1, 1),
        Err(SimError::Topology { .. })
    ));
    assert!(matches!(
        Layer::grouped("x", shape(4, 4, 1, 1, 4, 4, 1), 0),
        Err(SimError::Topology { .. })
    ));
    let huge = shape(1 << 30, 1 << 30, 1, 1, 1 << 20, 1 << 20, 1);
    assert!(matches!(
        Layer::conv("x", huge),
        Err(SimError::Topology { .. })
    ));
    assert!(matches!(
        Topology::new("empty", vec![]),
        Err(SimError::Topology { .. })
    ));
}
