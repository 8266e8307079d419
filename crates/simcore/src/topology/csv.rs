//! SCALE-Sim topology CSV, read with SCALE-Sim's own rules:
//!
//! * the first line is a header and is skipped whatever it says; blank lines are skipped;
//! * each row is split on ',' and the LAST field is dropped (rows end with a trailing comma;
//!   without it the last real column is lost, exactly as in SCALE-Sim);
//! * values are integers after trimming whitespace.
//!
//! Conv rows: `name, H, W, R, S, C, K, stride,` plus an optional ninth field that is the
//! column stride (SCALE-Sim v2) or a sparsity ratio `N:M` (v3; only `1:1`, dense, is accepted).
//! A conv row whose name contains `DP` expands, as in SCALE-Sim, into C single-channel layers
//! named `<name>Channel_<i>`.
//!
//! amed's own form for the layers SCALE-Sim lacks has ten fields:
//! `name, H, W, R, S, C, K, stride_h, stride_w, groups,` where groups = 1 is a dense conv,
//! groups = C a depthwise conv (K = C x multiplier) and anything else a grouped conv.
//!
//! GEMM rows (`gemm = true`): `name, M, N, K,` plus an optional v3 sparsity field.

use std::path::Path;

use super::{ConvShape, Layer, LayerKind, Names, MAX_LAYERS};
use crate::error::{Location, Result, SimError};

const CONV_HEADER: &str =
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,";
const CONV_V2_HEADER: &str =
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Stride Height, Stride Width,";
const GROUPED_HEADER: &str = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Stride Height, Stride Width, Groups,";
const GEMM_HEADER: &str = "Layer Name, M, N, K,";

const CONV_FIELDS: [&str; 7] = [
    "ifmap_h",
    "ifmap_w",
    "filter_h",
    "filter_w",
    "channels",
    "num_filters",
    "stride_h",
];

/// One data row being read: its fields (the trailing one already dropped) and where it is.
struct Row<'a> {
    fields: Vec<&'a str>,
    location: Location,
}

impl Row<'_> {
    fn error(&self, field: Option<&str>, message: impl Into<String>) -> SimError {
        let mut location = self.location.clone();
        location.field = field.map(str::to_owned);
        SimError::topology(location, message)
    }

    fn integer(&self, index: usize, field: &str) -> Result<u64> {
        let text = self.fields[index].trim();
        match text.parse::<i64>() {
            Ok(value) if value > 0 => Ok(value.unsigned_abs()),
            Ok(value) => Err(self.error(
                Some(field),
                format!("must be a positive integer, found {value}"),
            )),
            Err(_) => Err(self.error(Some(field), format!("expected an integer, found '{text}'"))),
        }
    }

    /// SCALE-Sim v3's `N:M` sparsity column; amed simulates dense layers only.
    fn dense_sparsity(&self, index: usize) -> Result<()> {
        let text = self.fields[index].trim();
        let ratio: Option<Vec<i64>> = text.split(':').map(|p| p.trim().parse().ok()).collect();
        match ratio.as_deref() {
            Some([1, 1]) => Ok(()),
            Some([_, _]) => Err(self.error(
                Some("sparsity"),
                format!("sparsity '{text}' is not supported: amed simulates dense layers only (use 1:1)"),
            )),
            _ => Err(self.error(Some("sparsity"), format!("expected a ratio N:M such as 1:1, found '{text}'"))),
        }
    }
}

pub(super) fn parse(text: &str, file: Option<&Path>, gemm: bool) -> Result<Vec<Layer>> {
    let mut layers = Vec::new();
    let mut names = Names::new();
    for (index, raw) in text.lines().enumerate().skip(1) {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let location = Location::in_optional_file(file).at_line(index + 1);
        let mut fields: Vec<&str> = line.split(',').collect();
        fields.pop();
        let row = Row { fields, location };
        let before = layers.len();
        if gemm {
            layers.push(gemm_row(&row)?);
        } else {
            conv_row(&row, &mut layers)?;
        }
        for layer in &layers[before..] {
            names.add(&layer.name, &row.location)?;
        }
    }
    if layers.is_empty() {
        let message = "no layers: every line after the header is blank";
        return Err(SimError::topology(
            Location::in_optional_file(file),
            message,
        ));
    }
    Ok(layers)
}

fn too_short(row: &Row, needed: usize, form: &str) -> SimError {
    let found = row.fields.len();
    row.error(
        None,
        format!(
            "expected {needed} fields ({form}), found {found}; SCALE-Sim drops the last field of every row, \
             so each row must end with a comma"
        ),
    )
}

fn gemm_row(row: &Row) -> Result<Layer> {
    match row.fields.len() {
        4 => {}
        5 => row.dense_sparsity(4)?,
        n if n < 4 => return Err(too_short(row, 4, "name, M, N, K")),
        n => {
            return Err(row.error(
                None,
                format!("expected 4 fields (name, M, N, K) and an optional sparsity, found {n}"),
            ))
        }
    }
    let name = row.fields[0].trim().to_owned();
    let layer = Layer {
        name,
        kind: LayerKind::Gemm {
            m: row.integer(1, "m")?,
            n: row.integer(2, "n")?,
            k: row.integer(3, "k")?,
        },
    };
    layer.validate(&row.location)?;
    Ok(layer)
}

fn conv_row(row: &Row, layers: &mut Vec<Layer>) -> Result<()> {
    let count = row.fields.len();
    if count < 8 {
        return Err(too_short(row, 8, "name, H, W, R, S, C, K, stride"));
    }
    if count > 10 {
        return Err(row.error(None, format!("expected 8 to 10 fields, found {count}")));
    }
    let mut values = [0u64; 7];
    for (slot, (offset, field)) in values.iter_mut().zip(CONV_FIELDS.iter().enumerate()) {
        *slot = row.integer(offset + 1, field)?;
    }
    let [ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride_h] = values;
    let mut shape = ConvShape {
        ifmap_h,
        ifmap_w,
        filter_h,
        filter_w,
        channels,
        num_filters,
        stride_h,
        stride_w: stride_h,
    };
    let name = row.fields[0].trim();
    if count >= 9 {
        if count == 9 && row.fields[8].contains(':') {
            row.dense_sparsity(8)?;
        } else {
            shape.stride_w = row.integer(8, "stride_w")?;
        }
    }
    if count == 10 {
        let groups = row.integer(9, "groups")?;
        let kind = match groups {
            1 => LayerKind::Conv(shape),
            g if g == shape.channels => LayerKind::Depthwise(shape),
            g => LayerKind::Grouped {
                conv: shape,
                groups: g,
            },
        };
        let layer = Layer {
            name: name.to_owned(),
            kind,
        };
        layer.validate(&row.location)?;
        layers.push(layer);
        return Ok(());
    }
    if name.contains("DP") {
        // SCALE-Sim's depthwise expansion: one single-channel layer per input channel.
        let single = ConvShape {
            channels: 1,
            ..shape
        };
        let first = Layer {
            name: format!("{name}Channel_0"),
            kind: LayerKind::Conv(single),
        };
        first.validate(&row.location)?;
        // Checked before expanding: the channel count comes straight from the file.
        let total = usize::try_from(shape.channels)
            .ok()
            .and_then(|c| c.checked_add(layers.len()))
            .filter(|&t| t <= MAX_LAYERS);
        if total.is_none() {
            let message = format!(
                "'{name}' expands into one layer per channel (SCALE-Sim's DP rows): {} channels \
                 on top of {} layers exceed the limit of {MAX_LAYERS} layers per topology",
                shape.channels,
                layers.len()
            );
            return Err(row.error(Some("channels"), message));
        }
        layers.extend((0..shape.channels).map(|i| Layer {
            name: format!("{name}Channel_{i}"),
            kind: first.kind,
        }));
        return Ok(());
    }
    let layer = Layer {
        name: name.to_owned(),
        kind: LayerKind::Conv(shape),
    };
    layer.validate(&row.location)?;
    layers.push(layer);
    Ok(())
}

/// The CSV text for `layers`: the GEMM form when every layer is a GEMM; otherwise SCALE-Sim's
/// conv form (with the v2 stride-width column only when some stride is not square), or amed's
/// ten-field form when any layer is depthwise or grouped. GEMM layers in a conv file are
/// written as SCALE-Sim's equivalent convolution.
pub(super) fn render(layers: &[Layer]) -> Result<String> {
    for (index, layer) in layers.iter().enumerate() {
        if layer.name.contains([',', '\n', '\r']) || layer.name.trim() != layer.name {
            return Err(SimError::topology(
                Location::field(format!("layers[{index}].name")),
                format!("layer name {:?} cannot be written to CSV: no commas, line breaks or surrounding spaces", layer.name),
            ));
        }
    }
    let mut out = String::new();
    if !layers.is_empty()
        && layers
            .iter()
            .all(|l| matches!(l.kind, LayerKind::Gemm { .. }))
    {
        out.push_str(GEMM_HEADER);
        out.push('\n');
        for layer in layers {
            if let LayerKind::Gemm { m, n, k } = layer.kind {
                out.push_str(&format!("{}, {m}, {n}, {k},\n", layer.name));
            }
        }
        return Ok(out);
    }
    let grouped = layers
        .iter()
        .any(|l| matches!(l.kind, LayerKind::Depthwise(_) | LayerKind::Grouped { .. }));
    let rectangular = layers
        .iter()
        .any(|l| l.shape().stride_h != l.shape().stride_w);
    out.push_str(match (grouped, rectangular) {
        (true, _) => GROUPED_HEADER,
        (false, true) => CONV_V2_HEADER,
        (false, false) => CONV_HEADER,
    });
    out.push('\n');
    for layer in layers {
        let s = layer.shape();
        out.push_str(&format!(
            "{}, {}, {}, {}, {}, {}, {}, {},",
            layer.name,
            s.ifmap_h,
            s.ifmap_w,
            s.filter_h,
            s.filter_w,
            s.channels,
            s.num_filters,
            s.stride_h
        ));
        if grouped || rectangular {
            out.push_str(&format!(" {},", s.stride_w));
        }
        if grouped {
            let groups = match layer.kind {
                LayerKind::Depthwise(shape) => shape.channels,
                LayerKind::Grouped { groups, .. } => groups,
                LayerKind::Conv(_) | LayerKind::Gemm { .. } => 1,
            };
            out.push_str(&format!(" {groups},"));
        }
        out.push('\n');
    }
    Ok(out)
}
