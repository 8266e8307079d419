//! Network topologies: an ordered list of named layers, as SCALE-Sim reads them from CSV.

use serde::{Deserialize, Serialize};

/// A convolution in SCALE-Sim's terms. Padding is not modelled: `ifmap_h`/`ifmap_w` are the
/// already padded input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConvShape {
    pub ifmap_h: u64,
    pub ifmap_w: u64,
    pub filter_h: u64,
    pub filter_w: u64,
    pub channels: u64,
    pub num_filters: u64,
    pub stride_h: u64,
    pub stride_w: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LayerKind {
    /// A dense convolution.
    Conv(ConvShape),
    /// Each of `channels` input channels is convolved with its own `num_filters / channels`
    /// filters (`num_filters` is the total output channels, a multiple of `channels`).
    Depthwise(ConvShape),
    /// `groups` independent dense convolutions, each over `channels / groups` inputs and
    /// producing `num_filters / groups` outputs.
    Grouped { conv: ConvShape, groups: u64 },
    /// A matrix multiply: ifmap M×K times filter K×N gives ofmap M×N.
    Gemm { m: u64, n: u64, k: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Layer {
    pub name: String,
    #[serde(flatten)]
    pub kind: LayerKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    pub name: String,
    pub layers: Vec<Layer>,
}
