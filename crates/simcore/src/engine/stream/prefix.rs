//! Arithmetic behind `Stream::rank`: division by a fixed divisor, and counts of the cells a
//! stream prefix covers.

/// Division of numerators below 2³² by a fixed divisor below 2³² with one multiplication
/// (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019): exact for every
/// such numerator. A rank divides twice, and a hardware division costs tens of cycles.
#[derive(Debug, Clone, Copy)]
pub(super) struct Divisor {
    /// ⌈2⁶⁴ / divisor⌉, or 0 for a divisor of 1.
    inverse: u64,
}

impl Divisor {
    pub fn new(divisor: u64) -> Self {
        debug_assert!((1..=u64::from(u32::MAX)).contains(&divisor));
        Self {
            inverse: (u64::MAX / divisor).wrapping_add(1),
        }
    }

    #[inline]
    pub fn divide(&self, n: u64) -> u64 {
        debug_assert!(n <= u64::from(u32::MAX));
        if self.inverse == 0 {
            n
        } else {
            ((u128::from(self.inverse) * u128::from(n)) >> 64) as u64
        }
    }
}

/// How many of a block's rows, from its first, a stream prefix covers in each column `c`:
/// `clamp(start + [c < col] − c·falling, 0, rows)` (an anti-diagonal prefix falls by one row
/// per column, a row-major one is flat).
#[derive(Debug, Clone, Copy)]
pub(super) struct ColumnPrefix {
    start: i64,
    col: u64,
    falling: bool,
    rows: u64,
}

impl ColumnPrefix {
    /// The first `n` rows of every column.
    pub fn rows(n: u64, rows: u64) -> Self {
        Self {
            start: n as i64,
            col: 0,
            falling: false,
            rows,
        }
    }

    /// Rows before row `inner` in every column, plus that row in the columns before `col`.
    pub fn row_major(inner: u64, col: u64, rows: u64) -> Self {
        Self {
            start: inner as i64,
            col,
            falling: false,
            rows,
        }
    }

    /// Cells before column `col` of anti-diagonal `start` (counted from the block's first row).
    pub fn diagonal(start: i64, col: u64, rows: u64) -> Self {
        Self {
            start,
            col,
            falling: true,
            rows,
        }
    }

    #[inline]
    pub fn rows_in(&self, c: u64) -> u64 {
        let slope = if self.falling { c as i64 } else { 0 };
        (self.start + i64::from(c < self.col) - slope).clamp(0, self.rows as i64) as u64
    }

    /// `Σ rows_in(c)` over `c` in `a..b`, in O(1).
    pub fn sum(&self, a: u64, b: u64) -> u64 {
        let h = i128::from(self.rows);
        // Q(n) = Σ_{m ≤ n} clamp(m, 0, h).
        let q = |n: i128| {
            if n <= 0 {
                0
            } else if n <= h {
                n * (n + 1) / 2
            } else {
                h * (h + 1) / 2 + (n - h) * h
            }
        };
        let part = |a: u64, b: u64, x: i64| -> u64 {
            if a >= b {
                0
            } else if self.falling {
                // Σ_{c=a}^{b−1} clamp(x − c, 0, h) = Q(x − a) − Q(x − b).
                let x = i128::from(x);
                (q(x - i128::from(a)) - q(x - i128::from(b))) as u64
            } else {
                (b - a) * x.clamp(0, self.rows as i64) as u64
            }
        };
        part(a, b.min(self.col), self.start + 1) + part(a.max(self.col), b, self.start)
    }
}

/// Cells `(r, c)` of a `rows × cols` matrix with `r + c < d`.
pub(super) fn cells_below_diagonal(d: u64, rows: u64, cols: u64) -> u64 {
    // Σ_{c < cols} clamp(d − c, 0, rows) = Q(d) − Q(d − cols), Q(n) = Σ_{m=1..n} min(m, rows).
    let q = |n: u64| -> u128 {
        let (n, h) = (u128::from(n), u128::from(rows));
        if n <= h {
            n * (n + 1) / 2
        } else {
            h * (h + 1) / 2 + (n - h) * h
        }
    };
    (q(d) - q(d.saturating_sub(cols))) as u64
}
