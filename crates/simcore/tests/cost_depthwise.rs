//! Depthwise and grouped layers: MAC, weight and output counts against their definitions, and
//! torchvision's MobileNetV2 at 224×224 simulated on the three shipped configs.

use std::path::Path;

use simcore::{engine, CompatMode, ConvShape, EngineParams, HwConfig, Layer, Topology};

/// A layer whose SCALE-Sim output size is `out`: the input spans exactly the windows read,
/// (out − 1)·stride + kernel (padding included), so ceil((H − R + s)/s) = out.
fn shape(out: u64, kernel: u64, stride: u64, channels: u64, filters: u64) -> ConvShape {
    let input = (out - 1) * stride + kernel;
    ConvShape {
        ifmap_h: input,
        ifmap_w: input,
        filter_h: kernel,
        filter_w: kernel,
        channels,
        num_filters: filters,
        stride_h: stride,
        stride_w: stride,
    }
}

/// torchvision `mobilenet_v2()` at 224×224, in module order: stem, 17 inverted residual
/// blocks (expand 1×1 when t > 1, depthwise 3×3, project 1×1), the last 1×1 conv, classifier.
fn mobilenet_v2() -> Topology {
    let settings: [(u64, u64, u64, u64); 7] = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ];
    let mut layers = vec![Layer::conv("features.0.0", shape(112, 3, 2, 3, 32)).unwrap()];
    let (mut size, mut channels, mut block) = (112, 32, 1);
    for (t, c, n, s) in settings {
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            let hidden = channels * t;
            let mut conv = 0;
            let name = |conv: &mut u32| {
                let label = format!("features.{block}.conv.{conv}");
                *conv += 1;
                label
            };
            if t != 1 {
                layers.push(
                    Layer::conv(name(&mut conv), shape(size, 1, 1, channels, hidden)).unwrap(),
                );
            }
            let out = size.div_ceil(stride);
            layers.push(
                Layer::depthwise(name(&mut conv), shape(out, 3, stride, hidden, hidden)).unwrap(),
            );
            layers.push(Layer::conv(name(&mut conv), shape(out, 1, 1, hidden, c)).unwrap());
            size = out;
            channels = c;
            block += 1;
        }
    }
    layers.push(Layer::conv("features.18.0", shape(7, 1, 1, 320, 1280)).unwrap());
    layers.push(Layer::gemm("classifier.1", 1, 1000, 1280).unwrap());
    Topology::new("mobilenet_v2", layers).unwrap()
}

fn config(name: &str) -> HwConfig {
    HwConfig::from_file(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../configs")
            .join(format!("{name}.toml")),
    )
    .unwrap()
}

#[test]
fn mobilenet_v2_has_torchvisions_layers_macs_weights_and_outputs() {
    let t = mobilenet_v2();
    // Counted on torchvision 0.24 `mobilenet_v2()` with forward hooks on a 1×3×224×224 input.
    assert_eq!(t.layers.len(), 53);
    assert_eq!(
        t.layers
            .iter()
            .filter(|l| l.kind_name() == "depthwise")
            .count(),
        17
    );
    assert_eq!(t.total_macs(), 300_774_272);
    assert_eq!(t.layers.iter().map(Layer::weights).sum::<u64>(), 3_469_760);
    let outputs: u64 = t
        .layers
        .iter()
        .map(|l| l.ofmap_h() * l.ofmap_w() * l.shape().num_filters)
        .sum();
    assert_eq!(outputs, 6_679_112);
}

#[test]
fn mobilenet_v2_simulates_on_every_shipped_config() {
    let t = mobilenet_v2();
    for name in ["scalesim", "scalesim_lowmem", "eyeriss"] {
        let hw = config(name);
        let report = engine::simulate(&t, &hw, CompatMode::ScalesimV3).unwrap();
        assert_eq!(report.layers.len(), 53, "{name}");
        // The simulated MACs are the real ones: depthwise groups are not padded to dense.
        assert_eq!(report.macs(), 300_774_272, "{name}");
        for (layer, r) in t.layers.iter().zip(&report.layers) {
            let outputs = layer.ofmap_h() * layer.ofmap_w() * layer.shape().num_filters;
            // Every output reaches DRAM (whole lines, so a little padding may be added).
            assert!(
                r.dram_ofmap.count >= outputs,
                "{name} {}: {} < {outputs}",
                layer.name,
                r.dram_ofmap.count
            );
            assert!(
                r.total_cycles > 0 && r.overall_util > 0.0 && r.overall_util <= 100.0,
                "{name} {}",
                layer.name
            );
        }
    }
}

#[test]
fn a_depthwise_layer_is_its_channels_run_back_to_back() {
    let hw = config("scalesim");
    let params = EngineParams::native(&hw);
    let dw = shape(14, 3, 1, 96, 192);
    let layer = Layer::depthwise("dw", dw).unwrap();
    let whole = engine::simulate_layer(&layer, &params, CompatMode::ScalesimV3).unwrap();
    let one = engine::simulate_conv(
        &ConvShape {
            channels: 1,
            num_filters: 2,
            ..dw
        },
        &params,
        CompatMode::ScalesimV3,
    )
    .unwrap();
    assert_eq!(whole.total_cycles, 96 * (one.total_cycles + 1) - 1);
    assert_eq!(whole.macs, layer.macs());
    assert_eq!(whole.macs, 14 * 14 * 9 * 192);
    assert_eq!(whole.sram_filter.count, 96 * one.sram_filter.count);
    // A grouped layer with one group is the dense convolution.
    let dense = shape(7, 3, 1, 16, 32);
    let g1 = engine::simulate_layer(
        &Layer::grouped("g", dense, 1).unwrap(),
        &params,
        CompatMode::ScalesimV3,
    )
    .unwrap();
    let conv = engine::simulate_layer(
        &Layer::conv("g", dense).unwrap(),
        &params,
        CompatMode::ScalesimV3,
    )
    .unwrap();
    assert_eq!(g1, conv);
}
