//! How one dense convolution maps onto the array: SCALE-Sim's operand matrices, folds and the
//! per-cycle demand lines, generated from fold and cycle indices instead of materialised.
//!
//! Operands (P = ofmap pixels, W = R·S·C window, K = filters):
//! ifmap `I[p][j]` (P × W, im2col with duplicates, −1 where a window falls off the edge),
//! filter `F[j][k]` (W × K) and ofmap `O[p][k]` (P × K). SCALE-Sim's addresses only matter as
//! identities, so entries are named by ids (`p·W + j`, `k·W + j`); two ifmap entries share an
//! address exactly when they are im2col duplicates of one input element.

use super::memory::try_with_capacity;
use crate::config::Dataflow;
use crate::error::Result;

/// A convolution in SCALE-Sim's terms plus the array it runs on.
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    pub dataflow: Dataflow,
    /// Array rows (R) and columns (C).
    pub rows: u64,
    pub cols: u64,
    /// Ofmap pixels, window size and filter count.
    pub p: u64,
    pub w: u64,
    pub k: u64,
    /// Spatial extent, temporal extent and fold counts.
    pub sr: u64,
    pub sc: u64,
    pub t: u64,
    pub row_folds: u64,
    pub col_folds: u64,
    /// Demand lines per fold.
    pub fold_len: u64,
    /// Convolution dimensions, for the ifmap validity test and the im2col duplicates.
    ifmap_h: u64,
    ifmap_w: u64,
    ofmap_h: u64,
    ofmap_w: u64,
    filter_h: u64,
    filter_w: u64,
    channels: u64,
    stride_h: u64,
    stride_w: u64,
    /// Per ofmap pixel: top-left input row and column.
    pixel_row: Vec<u32>,
    pixel_col: Vec<u32>,
    /// Per window index: filter row and column.
    win_row: Vec<u32>,
    win_col: Vec<u32>,
    /// Where SCALE-Sim's ofmap size rounds up, the last output row (column) has windows that
    /// fall off the ifmap: there only filter rows `r < limit` (columns `c < limit`) are read.
    /// `None` when every window of that dimension fits.
    edge_rows: Option<u64>,
    edge_cols: Option<u64>,
}

/// Dimensions of a dense convolution, already validated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvDims {
    pub ifmap_h: u64,
    pub ifmap_w: u64,
    pub filter_h: u64,
    pub filter_w: u64,
    pub channels: u64,
    pub filters: u64,
    pub stride_h: u64,
    pub stride_w: u64,
    pub ofmap_h: u64,
    pub ofmap_w: u64,
}

impl Geometry {
    /// The mapping without its per-pixel and per-window tables (see `build_tables`).
    /// Callers guarantee every dimension is non-zero and that all addresses fit in `u32`.
    pub fn plan(conv: &ConvDims, dataflow: Dataflow, rows: u64, cols: u64) -> Self {
        let p = conv.ofmap_h * conv.ofmap_w;
        let w = conv.filter_h * conv.filter_w * conv.channels;
        let k = conv.filters;
        let (sr, sc, t) = match dataflow {
            Dataflow::Os => (p, k, w),
            Dataflow::Ws => (w, k, p),
            Dataflow::Is => (w, p, k),
        };
        let fold_len = match dataflow {
            Dataflow::Os => t + rows + cols - 2,
            Dataflow::Ws | Dataflow::Is => 2 * rows + cols + t - 2,
        };
        Self {
            dataflow,
            rows,
            cols,
            p,
            w,
            k,
            sr,
            sc,
            t,
            row_folds: sr.div_ceil(rows),
            col_folds: sc.div_ceil(cols),
            fold_len,
            ifmap_h: conv.ifmap_h,
            ifmap_w: conv.ifmap_w,
            ofmap_h: conv.ofmap_h,
            ofmap_w: conv.ofmap_w,
            filter_h: conv.filter_h,
            filter_w: conv.filter_w,
            channels: conv.channels,
            stride_h: conv.stride_h,
            stride_w: conv.stride_w,
            pixel_row: Vec::new(),
            pixel_col: Vec::new(),
            win_row: Vec::new(),
            win_col: Vec::new(),
            edge_rows: edge_limit(conv.ifmap_h, conv.ofmap_h, conv.stride_h, conv.filter_h),
            edge_cols: edge_limit(conv.ifmap_w, conv.ofmap_w, conv.stride_w, conv.filter_w),
        }
    }

    /// Bytes `build_tables` allocates.
    pub fn table_bytes(&self) -> u64 {
        (self.p + self.w) * 2 * std::mem::size_of::<u32>() as u64
    }

    /// Fills the per-pixel and per-window tables the entry rules read.
    pub fn build_tables(&mut self) -> Result<()> {
        let what = "the geometry tables";
        self.pixel_row = try_with_capacity(self.p, what)?;
        self.pixel_col = try_with_capacity(self.p, what)?;
        for orow in 0..self.ofmap_h {
            for ocol in 0..self.ofmap_w {
                self.pixel_row.push((orow * self.stride_h) as u32);
                self.pixel_col.push((ocol * self.stride_w) as u32);
            }
        }
        self.win_row = try_with_capacity(self.w, what)?;
        self.win_col = try_with_capacity(self.w, what)?;
        for r in 0..self.filter_h {
            for c in 0..self.filter_w {
                for _ in 0..self.channels {
                    self.win_row.push(r as u32);
                    self.win_col.push(c as u32);
                }
            }
        }
        Ok(())
    }

    pub fn folds(&self) -> u64 {
        self.row_folds * self.col_folds
    }

    /// Number of array rows used by row fold `fr`.
    pub fn used_rows(&self, fr: u64) -> u64 {
        (self.sr - fr * self.rows).min(self.rows)
    }

    /// Number of array columns used by column fold `fc`.
    pub fn used_cols(&self, fc: u64) -> u64 {
        (self.sc - fc * self.cols).min(self.cols)
    }

    /// The id `p·W + j` of ifmap operand entry `I[p][j]`, or `None` where that window
    /// position falls off the ifmap edge (SCALE-Sim's −1).
    #[inline]
    pub fn ifmap_entry(&self, p: u64, j: u64) -> Option<u32> {
        let (pi, ji) = (p as usize, j as usize);
        let row = self.pixel_row[pi] + self.win_row[ji];
        let col = self.pixel_col[pi] + self.win_col[ji];
        ((row as u64) < self.ifmap_h && (col as u64) < self.ifmap_w)
            .then(|| (p * self.w + j) as u32)
    }

    /// The id (and address) `k·W + j` of filter operand entry `F[j][k]`.
    #[inline]
    pub fn filter_entry(&self, j: u64, k: u64) -> u32 {
        (k * self.w + j) as u32
    }

    /// True when some ifmap operand entry is off the edge (SCALE-Sim's −1 inside the matrix).
    pub fn has_ifmap_edge(&self) -> bool {
        self.edge_rows.is_some() || self.edge_cols.is_some()
    }

    /// The ofmap pixels of the last output row, when some of their windows fall off the edge.
    pub fn edge_last_row(&self) -> Option<std::ops::Range<u64>> {
        self.edge_rows
            .map(|_| (self.ofmap_h - 1) * self.ofmap_w..self.ofmap_h * self.ofmap_w)
    }

    /// The pixels of the last output column are those `p ≡ F − 1 (mod F)`: `Some(F)` when
    /// some of their windows fall off the edge.
    pub fn edge_column_period(&self) -> Option<u64> {
        self.edge_cols.map(|_| self.ofmap_w)
    }

    /// Number of window indices `j < n` for which `I[p][j]` is off the edge.
    pub fn edge_windows_below(&self, p: u64, n: u64) -> u64 {
        let (row_limit, col_limit) = (self.edge_rows, self.edge_cols);
        let span = self.filter_w * self.channels;
        // Window index j = (r·S + c)·C + ch: rows r ≥ limit are a suffix of j, columns c ≥ limit
        // the tail of every period of S·C.
        let in_bad_rows = |n: u64, limit: u64| n.saturating_sub(limit * span);
        let in_bad_cols = |n: u64, limit: u64| {
            (n / span) * (self.filter_w - limit) * self.channels
                + (n % span).saturating_sub(limit * self.channels)
        };
        let rows = row_limit.filter(|_| p / self.ofmap_w == self.ofmap_h - 1);
        let cols = col_limit.filter(|_| p % self.ofmap_w == self.ofmap_w - 1);
        match (rows, cols) {
            (None, None) => 0,
            (Some(r), None) => in_bad_rows(n, r),
            (None, Some(c)) => in_bad_cols(n, c),
            (Some(r), Some(c)) => {
                in_bad_rows(n, r) + in_bad_cols(n, c) - in_bad_cols(in_bad_rows(n, r), c)
            }
        }
    }

    /// Number of ofmap pixels `p < n` for which `I[p][j]` is off the edge.
    pub fn edge_pixels_below(&self, j: u64, n: u64) -> u64 {
        let (row_limit, col_limit) = (self.edge_rows, self.edge_cols);
        let span = self.filter_w * self.channels;
        let bad_row = row_limit.is_some_and(|limit| j / span >= limit);
        let bad_col = col_limit.is_some_and(|limit| (j % span) / self.channels >= limit);
        // Off-edge pixels: the last output row (a suffix of p) and the last column (every F-th).
        let last_row = n.saturating_sub((self.ofmap_h - 1) * self.ofmap_w);
        let last_col = n / self.ofmap_w;
        let corner = u64::from(n >= self.ofmap_h * self.ofmap_w);
        match (bad_row, bad_col) {
            (false, false) => 0,
            (true, false) => last_row,
            (false, true) => last_col,
            (true, true) => last_row + last_col - corner,
        }
    }

    /// Calls `f` with the id of every ifmap operand entry that reads the same ifmap element as
    /// entry `id` (itself included): the im2col duplicates.
    pub fn for_each_ifmap_duplicate(&self, id: u32, mut f: impl FnMut(u32) -> bool) -> bool {
        let (p, j) = (id as u64 / self.w, id as u64 % self.w);
        let (pi, ji) = (p as usize, j as usize);
        let h = u64::from(self.pixel_row[pi] + self.win_row[ji]);
        let w = u64::from(self.pixel_col[pi] + self.win_col[ji]);
        let ch = j % self.channels;
        // Output rows whose window covers input row h: orow·s ≤ h < orow·s + R.
        let span = |x: u64, stride: u64, taps: u64, outs: u64| {
            let lo = (x + 1).saturating_sub(taps).div_ceil(stride);
            let hi = (x / stride).min(outs - 1);
            lo..=hi
        };
        for orow in span(h, self.stride_h, self.filter_h, self.ofmap_h) {
            let r = h - orow * self.stride_h;
            for ocol in span(w, self.stride_w, self.filter_w, self.ofmap_w) {
                let c = w - ocol * self.stride_w;
                let dup_p = orow * self.ofmap_w + ocol;
                let dup_j = (r * self.filter_w + c) * self.channels + ch;
                if f((dup_p * self.w + dup_j) as u32) {
                    return true;
                }
            }
        }
        false
    }
}

/// Filter taps `< limit` read inside the ifmap at the last output position, when not all do.
fn edge_limit(size: u64, outs: u64, stride: u64, taps: u64) -> Option<u64> {
    let limit = size.saturating_sub((outs - 1) * stride);
    (limit < taps).then_some(limit)
}
