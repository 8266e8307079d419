//! The stall-free quantities SCALE-Sim computes from the fold structure alone
//! (`systolic_compute_*`): SRAM request counts, mapping efficiency and compute utilisation.

use super::geometry::Geometry;
use crate::config::Dataflow;

/// SRAM requests as SCALE-Sim counts them: every demand-matrix slice, −1 entries included;
/// the os ofmap count carries SCALE-Sim's extra `R + C` per fold.
pub(crate) fn sram_requests(g: &Geometry) -> (u64, u64, u64) {
    let (p, w, k) = (g.p, g.w, g.k);
    match g.dataflow {
        Dataflow::Os => (
            w * p * g.col_folds,
            w * k * g.row_folds,
            p * k + g.folds() * (g.rows + g.cols),
        ),
        Dataflow::Ws => (p * w * g.col_folds, w * k, p * k * g.row_folds),
        Dataflow::Is => (w * p, k * w * g.col_folds, k * p * g.row_folds),
    }
}

/// Mapping efficiency % and compute utilisation %, summed per fold in SCALE-Sim's order
/// (column fold outer, row fold inner) so the floats match bit for bit.
pub(crate) fn utilisation(g: &Geometry) -> (f64, f64) {
    let pes = (g.rows * g.cols) as f64;
    // Length of the demand block whose shape defines a fold's cycles: for ws/is it is the
    // unskewed stationary operand, one array width longer than the fold really runs.
    let fold_cycles = match g.dataflow {
        Dataflow::Os => g.t + g.rows + g.cols - 2,
        Dataflow::Ws | Dataflow::Is => 2 * g.rows + 2 * g.cols + g.t - 3,
    };
    let mut mapping = 0.0f64;
    let mut compute = 0.0f64;
    for fc in 0..g.col_folds {
        for fr in 0..g.row_folds {
            let used = g.used_rows(fr) * g.used_cols(fc);
            mapping += used as f64 / pes;
            // Exact integer products, as Python forms them, then one rounding each.
            compute += (u128::from(used) * u128::from(g.t)) as f64
                / (u128::from(g.rows * g.cols) * u128::from(fold_cycles)) as f64;
        }
    }
    let folds = g.folds() as f64;
    (mapping / folds * 100.0, compute / folds * 100.0)
}
