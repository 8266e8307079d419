//! The DRAM fetch stream of a read buffer: SCALE-Sim's prefetch matrix flattened row-major,
//! generated from indices instead of stored. Per dataflow and operand (`create_*_prefetch_mat`):
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
use crate::error::Result;
use crate::interrupt::Interrupt;

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

    /// Calls `visit(entry id, key)` for every valid entry, in stream order.
    pub fn for_each_valid(&self, interrupt: &Interrupt, visit: impl FnMut(u32, u64)) -> Result<()> {
        let g = self.g;
        // One monomorphised walk per operand layout, so the entry rule is not re-dispatched
        // per element. Each rule maps (block, row in block, column) to (entry id, key).
        match (g.dataflow, self.op) {
            (Dataflow::Os, Operand::Ifmap) => self.walk(interrupt, visit, |f, inner, col| {
                let p = f * g.rows + col;
                if p < g.p {
                    g.ifmap_entry(p, inner).map(|id| (id, f))
                } else {
                    None
                }
            }),
            (Dataflow::Os, Operand::Filter) => self.walk(interrupt, visit, |f, inner, col| {
                let k = f * g.cols + col;
                (k < g.k).then(|| (g.filter_entry(inner, k), f))
            }),
            (Dataflow::Ws, Operand::Filter) => self.walk(interrupt, visit, |f, inner, col| {
                let k = f * g.cols + col;
                (k < g.k).then(|| (g.filter_entry(inner, k), f * g.row_folds + inner / g.rows))
            }),
            (Dataflow::Ws, Operand::Ifmap) => self.walk(interrupt, visit, |f, inner, col| {
                let j = f * g.rows + col;
                if j < g.w {
                    g.ifmap_entry(inner, j).map(|id| (id, f))
                } else {
                    None
                }
            }),
            (Dataflow::Is, Operand::Ifmap) => self.walk(interrupt, visit, |f, inner, col| {
                let p = f * g.cols + col;
                if p < g.p {
                    g.ifmap_entry(p, inner)
                        .map(|id| (id, f * g.row_folds + inner / g.rows))
                } else {
                    None
                }
            }),
            (Dataflow::Is, Operand::Filter) => self.walk(interrupt, visit, |f, inner, col| {
                let j = f * g.rows + col;
                (j < g.w).then(|| (g.filter_entry(j, inner), f))
            }),
        }
    }

    /// Visits the stacked matrix in stream order: anti-diagonals from their highest row down,
    /// or rows left to right.
    #[inline]
    fn walk(
        &self,
        interrupt: &Interrupt,
        mut visit: impl FnMut(u32, u64),
        entry: impl Fn(u64, u64, u64) -> Option<(u32, u64)>,
    ) -> Result<()> {
        let rows = self.block_rows * self.blocks;
        let mut emit = |row: u64, col: u64| {
            if let Some((id, key)) = entry(row / self.block_rows, row % self.block_rows, col) {
                visit(id, key);
            }
        };
        if self.diag {
            for d in 0..rows + self.cols - 1 {
                interrupt.check()?;
                let lowest = d.saturating_sub(self.cols - 1);
                for row in (lowest..=d.min(rows - 1)).rev() {
                    emit(row, d - row);
                }
            }
        } else {
            for row in 0..rows {
                interrupt.check()?;
                for col in 0..self.cols {
                    emit(row, col);
                }
            }
        }
        Ok(())
    }
}
