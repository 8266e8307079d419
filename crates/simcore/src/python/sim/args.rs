//! Converting Python arguments, with a typed error naming the argument instead of PyO3's
//! TypeError or OverflowError.

use pyo3::prelude::*;
use pyo3::types::PyAny;

use crate::error::{Location, SimError};

/// Which error class a bad argument raises.
#[derive(Clone, Copy)]
pub(super) enum Input {
    Config,
    Topology,
}

pub(super) fn bad_argument(input: Input, field: &str, message: String) -> SimError {
    match input {
        Input::Config => SimError::config(Location::field(field), message),
        Input::Topology => SimError::topology(Location::field(field), message),
    }
}

/// A Python integer (anything with `__index__`, so numpy and torch integers too) in
/// `0..=max`, or a typed error naming the argument.
pub(super) fn int_arg(
    value: &Bound<'_, PyAny>,
    field: &str,
    max: u64,
    input: Input,
) -> Result<u64, SimError> {
    if !value.hasattr("__index__").unwrap_or(false) {
        let type_name = value
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        let message = format!("expected an integer, found {type_name} {value}");
        return Err(bad_argument(input, field, message));
    }
    let negative = value.lt(0).unwrap_or(false);
    match value.extract::<i64>() {
        Ok(v) if !negative && v.unsigned_abs() <= max => Ok(v.unsigned_abs()),
        _ if negative => Err(bad_argument(
            input,
            field,
            format!("must not be negative, found {value}"),
        )),
        _ => Err(bad_argument(
            input,
            field,
            format!("{value} is larger than the limit of {max}"),
        )),
    }
}

pub(super) fn float_arg(value: &Bound<'_, PyAny>, field: &str) -> Result<f64, SimError> {
    value.extract::<f64>().map_err(|_| {
        SimError::config(
            Location::field(field),
            format!("expected a number, found {value}"),
        )
    })
}

pub(super) fn str_arg(
    value: &Bound<'_, PyAny>,
    field: &str,
    input: Input,
) -> Result<String, SimError> {
    value
        .extract::<String>()
        .map_err(|_| bad_argument(input, field, format!("expected a string, found {value}")))
}

/// `value` when the caller passed one, else `default`.
pub(super) fn or<'py>(
    value: Option<&Bound<'py, PyAny>>,
    default: Bound<'py, PyAny>,
) -> Bound<'py, PyAny> {
    value.cloned().unwrap_or(default)
}
