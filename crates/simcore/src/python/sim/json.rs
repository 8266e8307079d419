//! JSON (serde) forms of layers and topologies, for `to_json`/`from_json` and pickling.

use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Location, SimError};

pub(super) fn to_json(value: &impl Serialize) -> Result<String, SimError> {
    serde_json::to_string(value).map_err(|e| SimError::topology(Location::default(), e.to_string()))
}

/// Parses `text`; a malformed one is a topology error naming the line and column.
pub(super) fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, SimError> {
    serde_json::from_str(text).map_err(|e| {
        let location = Location::default().at_line(e.line());
        SimError::topology(location, format!("invalid {what} JSON: {e}"))
    })
}
