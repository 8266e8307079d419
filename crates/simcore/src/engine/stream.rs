//! The DRAM fetch stream of a read buffer: SCALE-Sim's prefetch matrix flattened row-major,
//! walked lazily. Per dataflow and operand (`create_*_prefetch_mat`):
//!
//! | df | ifmap | filter |
//! |----|-------|--------|
//! | os | diag(vstack_fr(pad_R(Iᵀ[:, fold rows]))) | diag(vstack_fc(pad_C(F[:, fold cols]))) |
//! | ws | diag(vstack_fr(pad_R(I[:, fold cols]))) | vstack_fc(pad_C(F[:, fold cols])) |
//! | is | vstack_fc(pad_C(Iᵀ[:, fold cols])) | diag(vstack_fr(pad_R(F[fold rows, :]ᵀ))) |
//!
//! `diag` visits anti-diagonals in order, each from its highest row to its lowest. Every
//! stacked matrix is made of `blocks` blocks of `block_rows` rows; entry `(f, inner, col)`
//! names block `f`, row `inner` inside it and column `col`. Each valid entry also carries a
//! *key*: the demand unit (fold or fold part) that reads it, so a fold's demand can be checked
//! against the SRAM window as a whole.

use super::geometry::Geometry;
use crate::config::Dataflow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operand {
    Ifmap,
    Filter,
}

pub(crate) struct Stream<'g> {
    g: &'g Geometry,
    op: Operand,
    block_rows: u64,
    blocks: u64,
    cols: u64,
    diag: bool,
}

impl<'g> Stream<'g> {
    pub fn new(g: &'g Geometry, op: Operand) -> Self {
        let (block_rows, blocks, cols, diag) = match (g.dataflow, op) {
            (Dataflow::Os, Operand::Ifmap) => (g.w, g.row_folds, g.rows, true),
            (Dataflow::Os, Operand::Filter) => (g.w, g.col_folds, g.cols, true),
            (Dataflow::Ws, Operand::Ifmap) => (g.p, g.row_folds, g.rows, true),
            (Dataflow::Ws, Operand::Filter) => (g.w, g.col_folds, g.cols, false),
            (Dataflow::Is, Operand::Ifmap) => (g.w, g.col_folds, g.cols, false),
            (Dataflow::Is, Operand::Filter) => (g.k, g.row_folds, g.rows, true),
        };
        Self {
            g,
            op,
            block_rows,
            blocks,
            cols,
            diag,
        }
    }

    /// Elements of the prefetch matrix, −1 padding included.
    pub fn total_elems(&self) -> u64 {
        self.block_rows * self.blocks * self.cols
    }

    /// Number of operand entries (entry ids are `0..entries`).
    pub fn entries(&self) -> u64 {
        match self.op {
            Operand::Ifmap => self.g.p * self.g.w,
            Operand::Filter => self.g.w * self.g.k,
        }
    }

    /// Number of distinct keys.
    pub fn keys(&self) -> u64 {
        match (self.g.dataflow, self.op) {
            (Dataflow::Ws, Operand::Filter) | (Dataflow::Is, Operand::Ifmap) => {
                self.g.col_folds * self.g.row_folds
            }
            (Dataflow::Os, Operand::Filter) => self.g.col_folds,
            _ => self.g.row_folds,
        }
    }

    /// The key whose entries fold `(fc, fr)` demands (exactly all of them).
    pub fn fold_key(&self, fc: u64, fr: u64) -> u64 {
        match (self.g.dataflow, self.op) {
            (Dataflow::Ws, Operand::Filter) | (Dataflow::Is, Operand::Ifmap) => {
                fc * self.g.row_folds + fr
            }
            (Dataflow::Os, Operand::Filter) => fc,
            _ => fr,
        }
    }

    /// The entry at block `f`, row `inner`, column `col`: its entry id and key, or `None` for −1.
    #[inline]
    fn entry(&self, f: u64, inner: u64, col: u64) -> Option<(u32, u64)> {
        let g = self.g;
        match (g.dataflow, self.op) {
            (Dataflow::Os, Operand::Ifmap) => {
                let p = f * g.rows + col;
                if p < g.p {
                    g.ifmap_entry(p, inner).map(|a| (a, f))
                } else {
                    None
                }
            }
            (Dataflow::Os, Operand::Filter) | (Dataflow::Ws, Operand::Filter) => {
                let k = f * g.cols + col;
                if k >= g.k {
                    return None;
                }
                let key = if g.dataflow == Dataflow::Os {
                    f
                } else {
                    f * g.row_folds + inner / g.rows
                };
                Some((g.filter_entry(inner, k), key))
            }
            (Dataflow::Ws, Operand::Ifmap) => {
                let j = f * g.rows + col;
                if j < g.w {
                    g.ifmap_entry(inner, j).map(|a| (a, f))
                } else {
                    None
                }
            }
            (Dataflow::Is, Operand::Ifmap) => {
                let p = f * g.cols + col;
                if p < g.p {
                    g.ifmap_entry(p, inner)
                        .map(|a| (a, f * g.row_folds + inner / g.rows))
                } else {
                    None
                }
            }
            (Dataflow::Is, Operand::Filter) => {
                let j = f * g.rows + col;
                if j < g.w {
                    Some((g.filter_entry(j, inner), f))
                } else {
                    None
                }
            }
        }
    }

    pub fn cursor(&self) -> Cursor {
        let mut c = Cursor {
            d: 0,
            row: 0,
            col: 0,
            f: 0,
            inner: 0,
            done: false,
        };
        c.done = self.total_elems() == 0;
        c
    }

    /// The next valid entry after the cursor, or `None` at the end of the stream.
    #[inline]
    pub fn next_valid(&self, c: &mut Cursor) -> Option<(u32, u64)> {
        while !c.done {
            let found = self.entry(c.f, c.inner, c.col);
            self.advance(c);
            if found.is_some() {
                return found;
            }
        }
        None
    }

    #[inline]
    fn advance(&self, c: &mut Cursor) {
        let rows = self.block_rows * self.blocks;
        if self.diag {
            let lowest = c.d.saturating_sub(self.cols - 1);
            if c.row > lowest {
                c.row -= 1;
                c.col += 1;
                if c.inner == 0 {
                    c.f -= 1;
                    c.inner = self.block_rows - 1;
                } else {
                    c.inner -= 1;
                }
            } else {
                c.d += 1;
                if c.d + 1 >= rows + self.cols {
                    c.done = true;
                    return;
                }
                c.row = c.d.min(rows - 1);
                c.col = c.d - c.row;
                c.f = c.row / self.block_rows;
                c.inner = c.row % self.block_rows;
            }
        } else {
            c.col += 1;
            if c.col == self.cols {
                c.col = 0;
                c.row += 1;
                if c.row == rows {
                    c.done = true;
                    return;
                }
                c.inner += 1;
                if c.inner == self.block_rows {
                    c.inner = 0;
                    c.f += 1;
                }
            }
        }
    }
}

/// A position in a [`Stream`].
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    d: u64,
    row: u64,
    col: u64,
    f: u64,
    inner: u64,
    done: bool,
}
