//! Long Rust work called from Python: it runs on a helper thread with the GIL released, a
//! panic becomes an `AmedError`, and the calling thread wakes every 100 ms to run Python's
//! signal handlers, so Ctrl-C raises `KeyboardInterrupt` within a fraction of a second. The
//! same wake-up can report progress to a Python callable.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use pyo3::prelude::*;

use super::errors::{internal, panic_message, IntoPyResult};
use crate::error::Result;
use crate::interrupt::Interrupt;

/// How often the waiting thread checks for signals.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Runs `work` to completion, or until a Python signal handler raises: then `work`'s
/// interrupt is raised, it is waited for (it stops within milliseconds) and the handler's
/// exception (`KeyboardInterrupt` for Ctrl-C) is returned.
pub fn interruptible<T: Send>(
    py: Python<'_>,
    work: impl FnOnce(&Interrupt) -> Result<T> + Send,
) -> PyResult<T> {
    interruptible_with_progress(py, None, work)
}

/// `interruptible` that also calls `progress(done, total)` at every wake-up: layers done (a
/// float, with the running layers' share of their folds) out of the layers announced. An
/// exception from `progress` stops the work like a signal does.
pub fn interruptible_with_progress<T: Send>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce(&Interrupt) -> Result<T> + Send,
) -> PyResult<T> {
    let interrupt = Interrupt::new();
    let done = (Mutex::new(false), Condvar::new());
    let (outcome, signal) = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let outcome = catch_unwind(AssertUnwindSafe(|| work(&interrupt)))
                .map_err(|p| panic_message(p.as_ref()));
            *done.0.lock().unwrap_or_else(PoisonError::into_inner) = true;
            done.1.notify_all();
            outcome
        });
        let mut signal = None;
        loop {
            let finished = py.detach(|| {
                let guard = done.0.lock().unwrap_or_else(PoisonError::into_inner);
                let (guard, _) = done
                    .1
                    .wait_timeout_while(guard, SIGNAL_CHECK, |finished| !*finished)
                    .unwrap_or_else(PoisonError::into_inner);
                *guard
            });
            if finished {
                break;
            }
            let reported = progress.map_or(Ok(()), |callback| {
                callback.call1(interrupt.progress()).map(drop)
            });
            if let Err(error) = py.check_signals().and(reported) {
                interrupt.raise();
                signal = Some(error);
                break;
            }
        }
        let outcome = py.detach(|| worker.join());
        (outcome, signal)
    });
    if let Some(error) = signal {
        return Err(error);
    }
    match outcome {
        Ok(Ok(result)) => result.into_py_result(py),
        Ok(Err(message)) => Err(internal(py, &message)),
        Err(payload) => Err(internal(py, &panic_message(payload.as_ref()))),
    }
}
