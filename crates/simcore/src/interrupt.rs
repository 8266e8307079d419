//! Cooperative cancellation of long simulations: the caller keeps an `Interrupt` and raises
//! it (the Python bindings do when Ctrl-C arrives); the engine checks it between folds, every
//! few thousand demand lines and while walking an operand stream, and stops with
//! `SimError::Interrupted`. The same handle carries a progress count that the caller may read
//! while the work runs: layers done out of the layers to simulate, plus the share of folds
//! done in the layers running now.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Result, SimError};

#[derive(Debug, Default)]
struct Shared {
    raised: AtomicBool,
    layers_total: AtomicU64,
    layers_done: AtomicU64,
    /// Layers started and not finished, and their folds (all, and done so far).
    running: AtomicU64,
    running_folds: AtomicU64,
    running_folds_done: AtomicU64,
}

#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    shared: Option<Arc<Shared>>,
}

impl Interrupt {
    /// An interrupt nobody can raise: the plain, uninterruptible entry points use it.
    pub fn never() -> Self {
        Self::default()
    }

    /// A fresh interrupt, not raised; clones share it.
    pub fn new() -> Self {
        Self {
            shared: Some(Arc::new(Shared::default())),
        }
    }

    /// Asks every computation holding a clone to stop.
    pub fn raise(&self) {
        if let Some(shared) = &self.shared {
            shared.raised.store(true, Ordering::Relaxed);
        }
    }

    pub fn is_raised(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|shared| shared.raised.load(Ordering::Relaxed))
    }

    /// `Err(SimError::Interrupted)` once raised.
    #[inline]
    pub fn check(&self) -> Result<()> {
        if self.is_raised() {
            Err(SimError::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Announces `layers` more layer simulations.
    pub fn add_layers(&self, layers: u64) {
        if let Some(shared) = &self.shared {
            shared.layers_total.fetch_add(layers, Ordering::Relaxed);
        }
    }

    /// Counts one announced layer simulation as finished.
    pub fn layer_done(&self) {
        if let Some(shared) = &self.shared {
            shared.layers_done.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Marks a layer of `folds` folds as running until the guard is dropped.
    pub(crate) fn running_layer(&self, folds: u64) -> RunningLayer {
        if let Some(shared) = &self.shared {
            shared.running.fetch_add(1, Ordering::Relaxed);
            shared.running_folds.fetch_add(folds, Ordering::Relaxed);
        }
        RunningLayer {
            shared: self.shared.clone(),
            folds,
            done: 0,
        }
    }

    /// Layers done (a fraction for the running ones) and layers announced.
    pub fn progress(&self) -> (f64, u64) {
        let Some(shared) = &self.shared else {
            return (0.0, 0);
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        let (folds, folds_done) = (
            load(&shared.running_folds),
            load(&shared.running_folds_done),
        );
        let running = if folds > 0.0 {
            load(&shared.running) * (folds_done / folds).min(1.0)
        } else {
            0.0
        };
        let total = shared.layers_total.load(Ordering::Relaxed);
        (
            (load(&shared.layers_done) + running).min(total as f64),
            total,
        )
    }
}

/// A running layer's share of the progress count; see `Interrupt::running_layer`.
pub(crate) struct RunningLayer {
    shared: Option<Arc<Shared>>,
    folds: u64,
    done: u64,
}

impl RunningLayer {
    /// Counts `folds` more folds of this layer as done.
    #[inline]
    pub fn advance(&mut self, folds: u64) {
        if let Some(shared) = &self.shared {
            self.done += folds;
            shared
                .running_folds_done
                .fetch_add(folds, Ordering::Relaxed);
        }
    }
}

impl Drop for RunningLayer {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.running.fetch_sub(1, Ordering::Relaxed);
            shared
                .running_folds
                .fetch_sub(self.folds, Ordering::Relaxed);
            shared
                .running_folds_done
                .fetch_sub(self.done, Ordering::Relaxed);
        }
    }
}
