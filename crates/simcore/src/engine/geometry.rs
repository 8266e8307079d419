//! How one dense convolution maps onto the array: SCALE-Sim's operand matrices, folds and the
//! per-cycle demand lines, generated from fold and cycle indices instead of materialised.
//!
//! Operands (P = ofmap pixels, W = R·S·C window, K = filters):
//! ifmap `I[p][j]` (P × W, im2col with duplicates, −1 where a window falls off the edge),
//! filter `F[j][k]` (W × K) and ofmap `O[p][k]` (P × K). Addresses are identities only, so
//! they are kept offset-free: ifmap `(h·Wi + w)·C + ch`, filter `k·W + j`.

use crate::config::Dataflow;

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
    /// Ifmap height, width and channels: the ifmap address space.
    pub ifmap_elems: u64,
    ifmap_h: u64,
    ifmap_w: u64,
    /// Per ofmap pixel: top-left input row and column, and the address of that corner.
    pixel_row: Vec<u32>,
    pixel_col: Vec<u32>,
    pixel_base: Vec<u32>,
    /// Per window index: filter row and column offsets, and the address offset.
    win_row: Vec<u32>,
    win_col: Vec<u32>,
    win_offset: Vec<u32>,
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
    /// Callers guarantee every dimension is non-zero and that all addresses fit in `u32`.
    pub fn new(conv: &ConvDims, dataflow: Dataflow, rows: u64, cols: u64) -> Self {
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
        let mut pixel_row = Vec::with_capacity(p as usize);
        let mut pixel_col = Vec::with_capacity(p as usize);
        let mut pixel_base = Vec::with_capacity(p as usize);
        for orow in 0..conv.ofmap_h {
            for ocol in 0..conv.ofmap_w {
                let (r0, c0) = (orow * conv.stride_h, ocol * conv.stride_w);
                pixel_row.push(r0 as u32);
                pixel_col.push(c0 as u32);
                pixel_base.push(((r0 * conv.ifmap_w + c0) * conv.channels) as u32);
            }
        }
        let mut win_row = Vec::with_capacity(w as usize);
        let mut win_col = Vec::with_capacity(w as usize);
        let mut win_offset = Vec::with_capacity(w as usize);
        for r in 0..conv.filter_h {
            for c in 0..conv.filter_w {
                for ch in 0..conv.channels {
                    win_row.push(r as u32);
                    win_col.push(c as u32);
                    win_offset.push(((r * conv.ifmap_w + c) * conv.channels + ch) as u32);
                }
            }
        }
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
            ifmap_elems: conv.ifmap_h * conv.ifmap_w * conv.channels,
            ifmap_h: conv.ifmap_h,
            ifmap_w: conv.ifmap_w,
            pixel_row,
            pixel_col,
            pixel_base,
            win_row,
            win_col,
            win_offset,
        }
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

    /// `I[p][j]`, or `None` where the window position falls off the ifmap edge.
    #[inline]
    pub fn ifmap_addr(&self, p: u64, j: u64) -> Option<u32> {
        let (p, j) = (p as usize, j as usize);
        let row = self.pixel_row[p] + self.win_row[j];
        let col = self.pixel_col[p] + self.win_col[j];
        if (row as u64) < self.ifmap_h && (col as u64) < self.ifmap_w {
            Some(self.pixel_base[p] + self.win_offset[j])
        } else {
            None
        }
    }

    /// `F[j][k]`.
    #[inline]
    pub fn filter_addr(&self, j: u64, k: u64) -> u32 {
        (k * self.w + j) as u32
    }
}
