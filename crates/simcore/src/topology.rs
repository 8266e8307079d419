//! Network topologies: an ordered list of named layers, as SCALE-Sim reads them from CSV.
//!
//! The CSV reader and writer live in `topology/csv.rs`; this file holds the layer model and
//! its arithmetic (output size with SCALE-Sim's ceil quirk, MACs) and validation.

mod csv;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Location, Result, SimError};

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

impl ConvShape {
    /// SCALE-Sim's GEMM mapping: ifmap M×K times filter K×N is the conv H = M, W = K, R = 1,
    /// S = K, C = 1 with N filters and stride 1.
    pub fn of_gemm(m: u64, n: u64, k: u64) -> Self {
        Self {
            ifmap_h: m,
            ifmap_w: k,
            filter_h: 1,
            filter_w: k,
            channels: 1,
            num_filters: n,
            stride_h: 1,
            stride_w: 1,
        }
    }

    /// SCALE-Sim's output height, `ceil((H - R + s) / s)`: one row more than the usual
    /// `floor((H - R) / s) + 1` when `H - R` is not a multiple of `s`.
    pub fn ofmap_h(&self) -> u64 {
        (self.ifmap_h - self.filter_h + self.stride_h).div_ceil(self.stride_h)
    }

    /// SCALE-Sim's output width, `ceil((W - S + s) / s)`.
    pub fn ofmap_w(&self) -> u64 {
        (self.ifmap_w - self.filter_w + self.stride_w).div_ceil(self.stride_w)
    }

    /// Output pixels per filter, `E·F`.
    pub fn ofmap_pixels(&self) -> u64 {
        self.ofmap_h() * self.ofmap_w()
    }

    /// The convolution window, `R·S·C`.
    pub fn window(&self) -> u64 {
        self.filter_h * self.filter_w * self.channels
    }

    /// Dense MACs, `E·F·R·S·C·K`.
    pub fn macs(&self) -> u64 {
        self.ofmap_pixels() * self.window() * self.num_filters
    }

    /// Every size positive, the filter inside the input, and every product the simulator
    /// forms small enough for 64-bit arithmetic.
    fn validate(&self, location: &Location) -> Result<()> {
        let fields = [
            ("ifmap_h", self.ifmap_h),
            ("ifmap_w", self.ifmap_w),
            ("filter_h", self.filter_h),
            ("filter_w", self.filter_w),
            ("channels", self.channels),
            ("num_filters", self.num_filters),
            ("stride_h", self.stride_h),
            ("stride_w", self.stride_w),
        ];
        for (field, value) in fields {
            if value == 0 {
                return Err(layer_error(
                    location,
                    field,
                    "must be a positive integer, found 0",
                ));
            }
            if value > MAX_DIMENSION {
                return Err(layer_error(
                    location,
                    field,
                    &format!("{value} exceeds the limit of {MAX_DIMENSION}"),
                ));
            }
        }
        if self.filter_h > self.ifmap_h {
            let message = format!(
                "filter height {} is larger than the ifmap height {}",
                self.filter_h, self.ifmap_h
            );
            return Err(layer_error(location, "filter_h", &message));
        }
        if self.filter_w > self.ifmap_w {
            let message = format!(
                "filter width {} is larger than the ifmap width {}",
                self.filter_w, self.ifmap_w
            );
            return Err(layer_error(location, "filter_w", &message));
        }
        // The largest product the simulator forms is the ofmap/ifmap operand size times the
        // window, E·F·R·S·C·K: bound it so that addresses and counts never overflow.
        let sizes = [
            self.ofmap_h(),
            self.ofmap_w(),
            self.filter_h,
            self.filter_w,
            self.channels,
            self.num_filters,
        ];
        let product = sizes.iter().try_fold(1u64, |acc, &v| acc.checked_mul(v));
        if !matches!(product, Some(p) if p <= MAX_PRODUCT) {
            return Err(layer_error(
                location,
                "num_filters",
                &format!("the layer has more than {MAX_PRODUCT} MACs"),
            ));
        }
        Ok(())
    }
}

/// Bounds that keep all address arithmetic (SCALE-Sim offsets of 10^7 included) in range.
const MAX_DIMENSION: u64 = 1 << 31;
const MAX_PRODUCT: u64 = 1 << 52;
/// Most layers in one topology, counted after SCALE-Sim's `DP` expansion (one layer per
/// channel), so that a one-line CSV cannot ask for billions of layers.
pub const MAX_LAYERS: usize = 1 << 16;

/// Layer names must be non-empty and unique within a topology: allocations, reports and the
/// search's bit tables are keyed by them.
pub(crate) struct Names {
    seen: std::collections::HashMap<String, Location>,
}

impl Names {
    pub(crate) fn new() -> Self {
        Self {
            seen: std::collections::HashMap::new(),
        }
    }

    /// Records `name`, defined at `location`; a second use of it is an error naming both.
    pub(crate) fn add(&mut self, name: &str, location: &Location) -> Result<()> {
        if let Some(first) = self.seen.get(name) {
            let message = format!(
                "duplicate layer name '{name}' (first defined at {first}); layer names must be unique"
            );
            let field = location
                .field
                .as_ref()
                .map_or_else(|| "name".to_owned(), |f| format!("{f}.name"));
            return Err(SimError::topology(
                location.clone().with_field(field),
                message,
            ));
        }
        if self.seen.len() >= MAX_LAYERS {
            return Err(too_many_layers(location, self.seen.len() + 1));
        }
        self.seen.insert(name.to_owned(), location.clone());
        Ok(())
    }
}

pub(crate) fn too_many_layers(location: &Location, count: usize) -> SimError {
    SimError::topology(
        location.clone(),
        format!("{count} layers exceed the limit of {MAX_LAYERS} layers per topology"),
    )
}

fn layer_error(location: &Location, field: &str, message: &str) -> SimError {
    SimError::topology(location.clone().with_field(field), message)
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

impl LayerKind {
    /// The convolution shape: the layer's own for conv, depthwise and grouped, and SCALE-Sim's
    /// GEMM mapping for a GEMM.
    pub fn conv_shape(&self) -> ConvShape {
        match *self {
            LayerKind::Conv(shape)
            | LayerKind::Depthwise(shape)
            | LayerKind::Grouped { conv: shape, .. } => shape,
            LayerKind::Gemm { m, n, k } => ConvShape::of_gemm(m, n, k),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Layer {
    pub name: String,
    #[serde(flatten)]
    pub kind: LayerKind,
}

impl Layer {
    /// A dense convolution, validated.
    pub fn conv(name: impl Into<String>, shape: ConvShape) -> Result<Self> {
        Self::checked(name.into(), LayerKind::Conv(shape))
    }

    /// A depthwise convolution: `shape.num_filters` must be a multiple of `shape.channels`.
    pub fn depthwise(name: impl Into<String>, shape: ConvShape) -> Result<Self> {
        Self::checked(name.into(), LayerKind::Depthwise(shape))
    }

    /// A grouped convolution: channels and filters both divisible by `groups`.
    pub fn grouped(name: impl Into<String>, shape: ConvShape, groups: u64) -> Result<Self> {
        Self::checked(
            name.into(),
            LayerKind::Grouped {
                conv: shape,
                groups,
            },
        )
    }

    /// `(M×K) · (K×N)`.
    pub fn gemm(name: impl Into<String>, m: u64, n: u64, k: u64) -> Result<Self> {
        Self::checked(name.into(), LayerKind::Gemm { m, n, k })
    }

    fn checked(name: String, kind: LayerKind) -> Result<Self> {
        let layer = Self { name, kind };
        layer.validate(&Location::default())?;
        Ok(layer)
    }

    /// "conv", "depthwise", "grouped" or "gemm".
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            LayerKind::Conv(_) => "conv",
            LayerKind::Depthwise(_) => "depthwise",
            LayerKind::Grouped { .. } => "grouped",
            LayerKind::Gemm { .. } => "gemm",
        }
    }

    /// The convolution shape of the layer's kind (see `LayerKind::conv_shape`).
    pub fn shape(&self) -> ConvShape {
        self.kind.conv_shape()
    }

    /// Input channels each output channel reads: C, 1 (depthwise) or C/groups.
    pub fn channels_per_filter(&self) -> u64 {
        match self.kind {
            LayerKind::Conv(shape) => shape.channels,
            LayerKind::Depthwise(_) => 1,
            LayerKind::Grouped { conv, groups } => conv.channels / groups,
            LayerKind::Gemm { .. } => 1,
        }
    }

    pub fn ofmap_h(&self) -> u64 {
        self.shape().ofmap_h()
    }

    pub fn ofmap_w(&self) -> u64 {
        self.shape().ofmap_w()
    }

    /// Multiply-accumulates: `E·F·R·S·(C per filter)·K`; `M·N·K` for a GEMM.
    pub fn macs(&self) -> u64 {
        let shape = self.shape();
        shape.ofmap_pixels()
            * shape.filter_h
            * shape.filter_w
            * self.channels_per_filter()
            * shape.num_filters
    }

    /// Number of weights: `R·S·(C per filter)·K`.
    pub fn weights(&self) -> u64 {
        let shape = self.shape();
        shape.filter_h * shape.filter_w * self.channels_per_filter() * shape.num_filters
    }

    /// Checks the name, sizes and the kind's divisibility rules; errors are labelled with
    /// `location`.
    pub fn validate(&self, location: &Location) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(layer_error(
                location,
                "name",
                "a layer needs a non-empty name",
            ));
        }
        match self.kind {
            LayerKind::Gemm { m, n, k } => {
                for (field, value) in [("m", m), ("n", n), ("k", k)] {
                    if value == 0 {
                        return Err(layer_error(
                            location,
                            field,
                            "must be a positive integer, found 0",
                        ));
                    }
                }
                self.shape().validate(location)
            }
            LayerKind::Conv(shape) => shape.validate(location),
            LayerKind::Depthwise(shape) => {
                shape.validate(location)?;
                if shape.num_filters % shape.channels != 0 {
                    let message = format!(
                        "a depthwise layer needs num_filters = channels x multiplier; {} is not a multiple of {}",
                        shape.num_filters, shape.channels
                    );
                    return Err(layer_error(location, "num_filters", &message));
                }
                Ok(())
            }
            LayerKind::Grouped { conv, groups } => {
                conv.validate(location)?;
                if groups == 0 {
                    return Err(layer_error(
                        location,
                        "groups",
                        "must be a positive integer, found 0",
                    ));
                }
                for (field, value) in [
                    ("channels", conv.channels),
                    ("num_filters", conv.num_filters),
                ] {
                    if value % groups != 0 {
                        let message = format!("{value} is not divisible by groups = {groups}");
                        return Err(layer_error(location, field, &message));
                    }
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    pub name: String,
    pub layers: Vec<Layer>,
}

impl Topology {
    /// A validated topology; it must have at least one layer.
    pub fn new(name: impl Into<String>, layers: Vec<Layer>) -> Result<Self> {
        let topology = Self {
            name: name.into(),
            layers,
        };
        if topology.layers.is_empty() {
            return Err(SimError::topology(
                Location::default(),
                "a topology needs at least one layer",
            ));
        }
        if topology.layers.len() > MAX_LAYERS {
            return Err(too_many_layers(
                &Location::field("layers"),
                topology.layers.len(),
            ));
        }
        let mut names = Names::new();
        for (index, layer) in topology.layers.iter().enumerate() {
            let location = Location::field(format!("layers[{index}]"));
            layer.validate(&location)?;
            names.add(&layer.name, &location)?;
        }
        Ok(topology)
    }

    /// Reads a SCALE-Sim topology CSV (`gemm` selects the `name, M, N, K,` form). The name is
    /// the file name without its extension, as SCALE-Sim names runs.
    pub fn from_csv(path: impl AsRef<Path>, gemm: bool) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::file::read_text(path, crate::file::MAX_TOPOLOGY_BYTES, "a topology CSV")?;
        Self::from_csv_str(&text, Some(path), gemm)
    }

    /// Parses CSV text; `file` labels errors and gives the name ("topology" without one).
    pub fn from_csv_str(text: &str, file: Option<&Path>, gemm: bool) -> Result<Self> {
        let name = file.and_then(Path::file_stem).map_or_else(
            || "topology".to_owned(),
            |stem| stem.to_string_lossy().into_owned(),
        );
        let layers = csv::parse(text, file, gemm)?;
        Ok(Self { name, layers })
    }

    /// The CSV text `from_csv` reads back to the same layers (see `csv::render` for the form).
    pub fn to_csv_string(&self) -> Result<String> {
        csv::render(&self.layers)
    }

    /// Writes `to_csv_string()` to `path`; a GEMM-only topology is written in the GEMM form,
    /// so read it back with `gemm = true`.
    pub fn to_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        crate::file::write_text(path, &self.to_csv_string()?)
    }

    /// Whether `to_csv` writes the GEMM form.
    pub fn is_gemm(&self) -> bool {
        !self.layers.is_empty()
            && self
                .layers
                .iter()
                .all(|l| matches!(l.kind, LayerKind::Gemm { .. }))
    }

    pub fn names(&self) -> Vec<&str> {
        self.layers.iter().map(|l| l.name.as_str()).collect()
    }

    pub fn total_macs(&self) -> u64 {
        self.layers.iter().map(Layer::macs).sum()
    }
}
