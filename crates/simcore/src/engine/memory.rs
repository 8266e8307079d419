//! The engine's working-memory bound. A layer's tables (the per-pixel and per-window
//! geometry, the read buffers' count of off-edge entries per fold) grow with its ofmap pixels
//! and folds, not with its operands (H·W·C·K), yet a hostile shape can still make them large,
//! so before any of them is allocated the layer's need is estimated and reserved against one
//! process-wide budget:
//! a layer over the budget is refused with a typed error, and layers simulated in parallel
//! wait for each other instead of together exceeding it. Allocations use `try_reserve`, so a
//! host with less memory than the budget still gets an error, never an abort.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::error::{Location, Result, SimError};
use crate::file::human_bytes;
use crate::interrupt::Interrupt;

/// Most working memory the engine holds at once, over all layers and threads.
pub const MEMORY_LIMIT_BYTES: u64 = 4 << 30;

static RESERVED: Mutex<u64> = Mutex::new(0);
static RELEASED: Condvar = Condvar::new();

/// Bytes reserved for one layer; released on drop.
pub(crate) struct Reservation(u64);

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut used = RESERVED.lock().unwrap_or_else(PoisonError::into_inner);
        *used -= self.0;
        RELEASED.notify_all();
    }
}

/// Reserves `bytes` for a layer, waiting while other layers hold the budget.
pub(crate) fn reserve(bytes: u64, interrupt: &Interrupt) -> Result<Reservation> {
    if bytes > MEMORY_LIMIT_BYTES {
        return Err(SimError::resource(
            Location::field("shape"),
            format!(
                "simulating this layer needs about {} of working memory, over the engine's \
                 limit of {}",
                approx_bytes(bytes),
                human_bytes(MEMORY_LIMIT_BYTES)
            ),
        ));
    }
    let mut used = RESERVED.lock().unwrap_or_else(PoisonError::into_inner);
    while *used + bytes > MEMORY_LIMIT_BYTES {
        interrupt.check()?;
        used = RELEASED
            .wait_timeout(used, Duration::from_millis(50))
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    *used += bytes;
    Ok(Reservation(bytes))
}

/// An empty vector with room for `len` items, or a resource error.
pub(crate) fn try_with_capacity<T>(len: u64, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    usize::try_from(len)
        .ok()
        .and_then(|n| v.try_reserve_exact(n).ok())
        .map(|()| v)
        .ok_or_else(|| out_of_memory(len.saturating_mul(std::mem::size_of::<T>() as u64), what))
}

fn out_of_memory(bytes: u64, what: &str) -> SimError {
    SimError::resource(
        Location::field("shape"),
        format!(
            "the host could not allocate {} for {what}",
            approx_bytes(bytes)
        ),
    )
}

/// `9.6 GB`, `617 MB`, `12 kB` (decimal, one decimal place).
pub(crate) fn approx_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.1} kB", b / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_limit_is_refused_and_reservations_are_released() {
        let error = reserve(MEMORY_LIMIT_BYTES + 1, &Interrupt::never())
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("limit of 4 GiB"), "{error}");
        {
            let _held = reserve(1 << 20, &Interrupt::never()).unwrap();
        }
        let interrupt = Interrupt::new();
        let _big = reserve(MEMORY_LIMIT_BYTES - (1 << 10), &interrupt).unwrap();
        interrupt.raise();
        // Another layer waits for the budget, and an interrupt ends the wait.
        let waited = reserve(1 << 20, &interrupt);
        assert!(matches!(waited, Err(SimError::Interrupted)));
    }

    #[test]
    fn impossible_allocation_is_an_error() {
        let error = try_with_capacity::<u32>(u64::MAX / 2, "a test table").unwrap_err();
        assert!(error.to_string().contains("could not allocate"), "{error}");
    }
}
