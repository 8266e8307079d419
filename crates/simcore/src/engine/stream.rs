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
//!
//! An entry's *rank* (valid entries before it in the stream, which decides its SRAM set) is
//! computed from its position: cells before it minus invalid cells before it. Invalid cells
//! are the padding columns of the last block and, for the ifmap, the windows that fall off the
//! edge in the last output row and column; both are counted per column in O(1), and per whole
//! block from a table of one count per block.

use super::geometry::Geometry;
use super::memory::try_with_capacity;
use crate::config::Dataflow;
use crate::error::Result;
use crate::interrupt::Interrupt;
use prefix::{cells_below_diagonal, ColumnPrefix, Divisor};

mod prefix;
#[cfg(test)]
mod tests;

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
    /// Extent of the index the columns walk: column `col` of block `f` is index `f·cols + col`,
    /// padding from `extent` on.
    extent: u64,
    /// Some ifmap window falls off the edge.
    edge: bool,
    /// Invalid cells in blocks `0..f`, for `f` in `0..=blocks`; filled by `index` when `edge`.
    invalid_before: Vec<u64>,
    /// Division by the window size (entry ids) and by `cols` (column indices).
    by_window: Divisor,
    by_cols: Divisor,
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
        // The index the columns walk is the first part of the entry id (p of p·W + j, k of
        // k·W + j) except where the stream transposes it.
        let extent = match (transposed(g.dataflow, op), op) {
            (true, _) => g.w,
            (false, Operand::Ifmap) => g.p,
            (false, Operand::Filter) => g.k,
        };
        Self {
            g,
            op,
            block_rows,
            blocks,
            cols,
            diag,
            extent,
            edge: op == Operand::Ifmap && g.has_ifmap_edge(),
            invalid_before: Vec::new(),
            by_window: Divisor::new(g.w),
            by_cols: Divisor::new(cols),
        }
    }

    /// Bytes `index` allocates.
    pub fn index_bytes(&self) -> u64 {
        if self.edge {
            (self.blocks + 1) * 8
        } else {
            0
        }
    }

    /// Counts the invalid cells of every block, so that `rank` is O(columns).
    pub fn index(&mut self, interrupt: &Interrupt) -> Result<()> {
        if !self.edge {
            return Ok(());
        }
        let mut table = try_with_capacity(self.blocks + 1, "the SRAM model's block table")?;
        let mut total = 0u64;
        table.push(0);
        for f in 0..self.blocks {
            if f % 4096 == 0 {
                interrupt.check()?;
            }
            total +=
                self.block_prefix_invalid(f, ColumnPrefix::rows(self.block_rows, self.block_rows));
            table.push(total);
        }
        self.invalid_before = table;
        Ok(())
    }

    /// Invalid cells in blocks `0..f`.
    #[inline]
    fn invalid_before_block(&self, f: u64) -> u64 {
        if self.edge {
            self.invalid_before[f as usize]
        } else if f == self.blocks {
            // Without edge cells only the last block's padding columns are invalid.
            (self.blocks * self.cols - self.extent) * self.block_rows
        } else {
            0
        }
    }

    /// Valid entries in the whole stream.
    pub fn valid(&self) -> u64 {
        self.total_elems() - self.invalid_before_block(self.blocks)
    }

    /// Block, row in block and column of an entry.
    #[inline]
    fn locate(&self, id: u32) -> (u64, u64, u64) {
        let outer = self.by_window.divide(u64::from(id));
        let inner = u64::from(id) - outer * self.g.w;
        let (index, row) = if transposed(self.g.dataflow, self.op) {
            (inner, outer)
        } else {
            (outer, inner)
        };
        let f = self.by_cols.divide(index);
        (f, row, index - f * self.cols)
    }

    /// Valid entries before entry `id` in stream order.
    pub fn rank(&self, id: u32) -> u64 {
        let (f, inner, col) = self.locate(id);
        self.rank_cell(f, inner, col)
    }

    /// Valid entries before the cell at row `inner`, column `col` of block `f`.
    #[inline]
    fn rank_cell(&self, f: u64, inner: u64, col: u64) -> u64 {
        let row = f * self.block_rows + inner;
        if self.diag {
            return self.diag_rank(f, row, col);
        }
        let cells = row * self.cols + col;
        let in_block = if self.edge || f + 1 == self.blocks {
            self.block_prefix_invalid(f, ColumnPrefix::row_major(inner, col, self.block_rows))
        } else {
            0
        };
        cells - self.invalid_before_block(f) - in_block
    }

    /// `rank` in a diagonal stream, for the cell at stacked row `row`, column `col`.
    #[inline]
    fn diag_rank(&self, f: u64, row: u64, col: u64) -> u64 {
        let (br, rows) = (self.block_rows, self.block_rows * self.blocks);
        let d = row + col;
        // Cells on earlier anti-diagonals, then the ones above this cell on its own.
        let cells = cells_below_diagonal(d, rows, self.cols) + (d.min(rows - 1) - row);
        let last_block = (self.blocks - 1) * br;
        if !self.edge && (d < last_block || self.extent == self.blocks * self.cols) {
            return cells;
        }
        // Column c holds the rows r < limit(c) of the prefix; limit falls with c, so blocks
        // below `first` are whole for every column.
        let limit = |c: u64| (d + u64::from(c < col)).saturating_sub(c).min(rows);
        // The cell's own block is the last one the prefix reaches in its column; blocks below
        // are rarely more than one further back.
        let (bottom, top) = (limit(self.cols - 1), limit(0));
        let mut first = f;
        while first * br > bottom {
            first -= 1;
        }
        let mut invalid = self.invalid_before_block(first);
        let mut f = first;
        while f < self.blocks && f * br < top {
            let base = f * br;
            let prefix = ColumnPrefix::diagonal(d as i64 - base as i64, col, br);
            invalid += self.block_prefix_invalid(f, prefix);
            f += 1;
        }
        cells - invalid
    }

    /// Invalid cells of block `f` among the rows `prefix` covers in each column. Only the
    /// padding columns and the columns that can reach off the edge are visited.
    #[inline]
    fn block_prefix_invalid(&self, f: u64, prefix: ColumnPrefix) -> u64 {
        let rows_in = |c: u64| prefix.rows_in(c);
        let base = f * self.cols;
        let used = self.extent.saturating_sub(base).min(self.cols);
        let mut invalid = prefix.sum(used, self.cols);
        if !self.edge {
            return invalid;
        }
        let g = self.g;
        if g.dataflow == Dataflow::Ws {
            // Columns are window indices; any of them may reach off the edge.
            return invalid
                + (0..used)
                    .map(|c| g.edge_pixels_below(base + c, rows_in(c)))
                    .sum::<u64>();
        }
        // Columns are ofmap pixels: only the last output row and column reach off the edge.
        let last_row = g.edge_last_row();
        let pixels = base..base + used;
        if let Some(range) = &last_row {
            for p in range.start.max(pixels.start)..range.end.min(pixels.end) {
                invalid += g.edge_windows_below(p, rows_in(p - base));
            }
        }
        if let Some(period) = g.edge_column_period() {
            let mut p = base + (period - 1 - base % period);
            while p < pixels.end {
                if !last_row.as_ref().is_some_and(|range| range.contains(&p)) {
                    invalid += g.edge_windows_below(p, rows_in(p - base));
                }
                p += period;
            }
        }
        invalid
    }

    /// Whether the cell at row `inner`, column `col` of block `f` holds an operand entry.
    fn valid_cell(&self, f: u64, inner: u64, col: u64) -> bool {
        let index = f * self.cols + col;
        if index >= self.extent {
            false
        } else if !self.edge {
            true
        } else if self.g.dataflow == Dataflow::Ws {
            self.g.ifmap_entry(inner, index).is_some()
        } else {
            self.g.ifmap_entry(index, inner).is_some()
        }
    }

    /// Block and row range `[from, to)` of that block whose entries have key `key`: a whole
    /// block in a diagonal stream, one array fold of rows in a row-major one.
    fn key_rows(&self, key: u64) -> (u64, u64, u64) {
        if self.diag {
            (key, 0, self.block_rows)
        } else {
            let (f, part) = (key / self.g.row_folds, key % self.g.row_folds);
            let from = part * self.g.rows;
            (f, from, (from + self.g.rows).min(self.block_rows))
        }
    }

    /// Number of valid entries with key `key`.
    pub fn key_entries(&self, key: u64) -> u64 {
        let (f, from, to) = self.key_rows(key);
        let cells = (to - from) * self.cols;
        if from == 0 && to == self.block_rows {
            cells - (self.invalid_before_block(f + 1) - self.invalid_before_block(f))
        } else {
            let invalid =
                |rows: u64| self.block_prefix_invalid(f, ColumnPrefix::rows(rows, self.block_rows));
            cells - (invalid(to) - invalid(from))
        }
    }

    /// Ranks of the first and last valid entries with key `key` (which has some): its entries
    /// in stream order are the block's rows `from..to` row by row, or its anti-diagonals.
    pub fn key_rank_range(&self, key: u64) -> (u64, u64) {
        let (f, from, to) = self.key_rows(key);
        let used = self.extent.saturating_sub(f * self.cols).min(self.cols);
        // Cells of the key in stream order, forwards or backwards; the scan stops at the first
        // valid one, normally the first cell it looks at.
        let find = |backwards: bool| -> (u64, u64) {
            let mut cells: Box<dyn Iterator<Item = (u64, u64)>> = if self.diag {
                let diagonal = move |d: u64| {
                    let lowest = d.saturating_sub(used - 1);
                    (lowest..=d.min(to - 1)).map(move |inner| (inner, d - inner))
                };
                let diagonals = 0..to + used - 1;
                if backwards {
                    Box::new(diagonals.rev().flat_map(diagonal))
                } else {
                    Box::new(diagonals.flat_map(move |d| diagonal(d).rev()))
                }
            } else {
                let rows = (from..to).flat_map(move |inner| (0..used).map(move |c| (inner, c)));
                if backwards {
                    Box::new(rows.rev())
                } else {
                    Box::new(rows)
                }
            };
            cells
                .find(|&(inner, col)| self.valid_cell(f, inner, col))
                .unwrap_or((from, 0))
        };
        let (first, last) = (find(false), find(true));
        (
            self.rank_cell(f, first.0, first.1),
            self.rank_cell(f, last.0, last.1),
        )
    }

    /// Elements of the prefetch matrix, −1 padding included.
    pub fn total_elems(&self) -> u64 {
        self.block_rows * self.blocks * self.cols
    }

    /// Number of distinct keys.
    #[cfg(test)]
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

    /// Calls `visit(entry id, key)` for every valid entry, in stream order: the reference
    /// definition of the order that `rank` and `key_rank_range` compute directly.
    #[cfg(test)]
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
    #[cfg(test)]
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

/// True where the stream's columns walk the window index (ws ifmap, is filter) instead of the
/// entry id's leading index.
fn transposed(dataflow: Dataflow, op: Operand) -> bool {
    matches!(
        (dataflow, op),
        (Dataflow::Ws, Operand::Ifmap) | (Dataflow::Is, Operand::Filter)
    )
}
