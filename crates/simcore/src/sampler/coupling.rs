//! The layer coupling of the multivariate Markov chain (Eqs. 3–6), kept sparse.
//!
//! Layer j proposes from q_j = Σ_k λ_jk P^(jk) x^(k), with
//! * P^(jj) = π_j 1ᵀ (rank one): Algorithm 1's state-independent proposal π_j = softmax(S_j / T);
//! * P^(jk) = I for k ≠ j: layer j proposes the bitwidth layer k currently holds.
//!
//! So q_j = λ_jj π_j + Σ_{k≠j} λ_jk e(c_k), where c_k is layer k's latest state.

/// λ split into its diagonal and the non-zero off-diagonal entries of each row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Coupling {
    pub(crate) own: Vec<f64>,
    pub(crate) neighbours: Vec<Vec<(usize, f64)>>,
}

impl Coupling {
    /// Builds the sparse form of an already validated λ. Rows are renormalised so that the
    /// mixture weights sum to one up to rounding (validation allows a 1e-9 slack).
    pub(crate) fn from_matrix(lambda: &[Vec<f64>]) -> Self {
        let mut own = Vec::with_capacity(lambda.len());
        let mut neighbours = Vec::with_capacity(lambda.len());
        for (j, row) in lambda.iter().enumerate() {
            let sum: f64 = row.iter().sum();
            own.push(row[j] / sum);
            neighbours.push(
                row.iter()
                    .enumerate()
                    .filter(|&(k, &w)| k != j && w > 0.0)
                    .map(|(k, &w)| (k, w / sum))
                    .collect(),
            );
        }
        Self { own, neighbours }
    }
}
