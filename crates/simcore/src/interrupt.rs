//! Cooperative cancellation of long simulations: the caller keeps an `Interrupt` and raises
//! it (the Python bindings do when Ctrl-C arrives); the engine checks it between folds, every
//! few thousand demand lines and while walking an operand stream, and stops with
//! `SimError::Interrupted`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Result, SimError};

#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    flag: Option<Arc<AtomicBool>>,
}

impl Interrupt {
    /// An interrupt nobody can raise: the plain, uninterruptible entry points use it.
    pub fn never() -> Self {
        Self::default()
    }

    /// A fresh interrupt, not raised; clones share it.
    pub fn new() -> Self {
        Self {
            flag: Some(Arc::new(AtomicBool::new(false))),
        }
    }

    /// Asks every computation holding a clone to stop.
    pub fn raise(&self) {
        if let Some(flag) = &self.flag {
            flag.store(true, Ordering::Relaxed);
        }
    }

    pub fn is_raised(&self) -> bool {
        self.flag
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
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
}
