//! The demand lines SCALE-Sim's `systolic_compute_{os,ws,is}` build, one per cycle of a fold:
//! which operand entries the array asks for at local cycle `tau` of fold `(fc, fr)`, in the
//! column order the memory system walks them. Derived from the skew/flip/pad construction:
//!
//! * os: ifmap line `tau`, array row r reads `I[fr·R + r][tau − r]`; filter column c reads
//!   `F[tau − c][fc·C + c]`; ofmap column c writes pixel `fr·R + R−1 − (tau − c − (T−1))`.
//! * ws: ifmap row r reads `I[tau − R − r][fr·R + r]`; filter (lines `tau < R` only) reads
//!   `F[fr·R + R−1 − tau][fc·C + c]`; ofmap column c writes row `tau − c − (2R−1)`.
//! * is: ifmap (lines `tau < R`) reads `I[fc·C + c][fr·R + R−1 − tau]`; filter row r reads
//!   `F[fr·R + r][tau − R − r]`; ofmap as ws with T = K.

use super::geometry::Geometry;
use crate::config::Dataflow;

/// Inclusive integer range `lo..=hi`, empty when `lo > hi`.
fn span(lo: i64, hi: i64) -> std::ops::RangeInclusive<i64> {
    lo..=hi
}

impl Geometry {
    /// Ifmap entry ids demanded at local cycle `tau` of fold `(fc, fr)`, appended to `out`.
    pub fn ifmap_line(&self, fc: u64, fr: u64, tau: u64, out: &mut Vec<u32>) {
        out.clear();
        let (r_, t, tau) = (self.rows as i64, self.t as i64, tau as i64);
        let used_r = self.used_rows(fr) as i64;
        let used_c = self.used_cols(fc) as i64;
        match self.dataflow {
            Dataflow::Os => {
                for r in span((tau - t + 1).max(0), tau.min(used_r - 1)) {
                    let p = fr * self.rows + r as u64;
                    if let Some(a) = self.ifmap_entry(p, (tau - r) as u64) {
                        out.push(a);
                    }
                }
            }
            Dataflow::Ws => {
                for r in span((tau - r_ - t + 1).max(0), (tau - r_).min(used_r - 1)) {
                    let j = fr * self.rows + r as u64;
                    if let Some(a) = self.ifmap_entry((tau - r_ - r) as u64, j) {
                        out.push(a);
                    }
                }
            }
            Dataflow::Is => {
                if tau < r_ && r_ - 1 - tau < used_r {
                    let j = fr * self.rows + (r_ - 1 - tau) as u64;
                    for c in 0..used_c as u64 {
                        if let Some(a) = self.ifmap_entry(fc * self.cols + c, j) {
                            out.push(a);
                        }
                    }
                }
            }
        }
    }

    /// Filter entry ids demanded at local cycle `tau` of fold `(fc, fr)`, appended to `out`.
    pub fn filter_line(&self, fc: u64, fr: u64, tau: u64, out: &mut Vec<u32>) {
        out.clear();
        let (r_, t, tau) = (self.rows as i64, self.t as i64, tau as i64);
        let used_r = self.used_rows(fr) as i64;
        let used_c = self.used_cols(fc) as i64;
        match self.dataflow {
            Dataflow::Os => {
                for c in span((tau - t + 1).max(0), tau.min(used_c - 1)) {
                    let k = fc * self.cols + c as u64;
                    out.push(self.filter_entry((tau - c) as u64, k));
                }
            }
            Dataflow::Ws => {
                if tau < r_ && r_ - 1 - tau < used_r {
                    let j = fr * self.rows + (r_ - 1 - tau) as u64;
                    for c in 0..used_c as u64 {
                        out.push(self.filter_entry(j, fc * self.cols + c));
                    }
                }
            }
            Dataflow::Is => {
                for r in span((tau - r_ - t + 1).max(0), (tau - r_).min(used_r - 1)) {
                    let j = fr * self.rows + r as u64;
                    out.push(self.filter_entry(j, (tau - r_ - r) as u64));
                }
            }
        }
    }

    /// Number of ofmap elements written at local cycle `tau` of fold `(fc, fr)`.
    pub fn ofmap_line_count(&self, fc: u64, fr: u64, tau: u64) -> u64 {
        let (r_, t, tau) = (self.rows as i64, self.t as i64, tau as i64);
        let used_c = self.used_cols(fc) as i64;
        let (lo, hi) = match self.dataflow {
            Dataflow::Os => {
                // Pre-skew row i = tau − c − (T−1) holds pixel R−1−i of the fold, which exists
                // when i ≥ R − used_rows.
                let used_r = self.used_rows(fr) as i64;
                let base = tau - t + 1;
                ((base - r_ + 1).max(0), (base - r_ + used_r).min(used_c - 1))
            }
            Dataflow::Ws | Dataflow::Is => {
                let base = tau - 2 * r_ + 1;
                ((base - t + 1).max(0), base.min(used_c - 1))
            }
        };
        (hi - lo + 1).max(0) as u64
    }

    /// Ofmap elements written by the whole fold `(fc, fr)`.
    pub fn ofmap_fold_count(&self, fc: u64, fr: u64) -> u64 {
        match self.dataflow {
            Dataflow::Os => self.used_rows(fr) * self.used_cols(fc),
            Dataflow::Ws | Dataflow::Is => self.t * self.used_cols(fc),
        }
    }
}
