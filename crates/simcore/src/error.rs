//! The one error type of the crate. Every fallible function returns `Result<T, SimError>`;
//! the Python bindings map each variant to one exception class.

use std::path::PathBuf;

/// Where in an input a problem was found. Every field is optional because values built in
/// memory have no file or line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub field: Option<String>,
}

impl Location {
    pub fn field(field: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::default()
        }
    }

    pub fn in_file(file: impl Into<PathBuf>) -> Self {
        Self {
            file: Some(file.into()),
            ..Self::default()
        }
    }

    /// In `file` when there is one (text parsed from memory has none).
    pub fn in_optional_file(file: Option<&std::path::Path>) -> Self {
        Self {
            file: file.map(std::path::Path::to_path_buf),
            ..Self::default()
        }
    }

    pub fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(file) = &self.file {
            parts.push(file.display().to_string());
        }
        if let Some(line) = self.line {
            parts.push(format!("line {line}"));
        }
        if let Some(field) = &self.field {
            parts.push(format!("field '{field}'"));
        }
        if parts.is_empty() {
            f.write_str("<input>")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{location}: {message}")]
    Config { location: Location, message: String },
    #[error("{location}: {message}")]
    Topology { location: Location, message: String },
    #[error("{location}: {message}")]
    Allocation { location: Location, message: String },
    #[error("{location}: {message}")]
    Sampler { location: Location, message: String },
    /// A layer needs more working memory than the engine's bound allows.
    #[error("{location}: {message}")]
    Resource { location: Location, message: String },
    /// The caller raised the computation's `Interrupt` (Ctrl-C in Python).
    #[error("interrupted")]
    Interrupted,
}

impl SimError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Write {
            path: path.into(),
            source,
        }
    }

    pub fn config(location: Location, message: impl Into<String>) -> Self {
        Self::Config {
            location,
            message: message.into(),
        }
    }

    pub fn topology(location: Location, message: impl Into<String>) -> Self {
        Self::Topology {
            location,
            message: message.into(),
        }
    }

    pub fn allocation(location: Location, message: impl Into<String>) -> Self {
        Self::Allocation {
            location,
            message: message.into(),
        }
    }

    pub fn resource(location: Location, message: impl Into<String>) -> Self {
        Self::Resource {
            location,
            message: message.into(),
        }
    }

    pub fn sampler(location: Location, message: impl Into<String>) -> Self {
        Self::Sampler {
            location,
            message: message.into(),
        }
    }
}

pub type Result<T, E = SimError> = std::result::Result<T, E>;
