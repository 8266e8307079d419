//! Reading input files with a size cap, so that a huge file or an endless device
//! (`/dev/zero`) fails fast with a clear error instead of filling memory.

use std::io::Read;
use std::path::Path;

use crate::error::{Result, SimError};

/// Largest topology CSV read (about 150 000 rows of SCALE-Sim's format).
pub const MAX_TOPOLOGY_BYTES: u64 = 16 << 20;
/// Largest hardware config (`.toml` or `.cfg`) read.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Largest SCALE-Sim report CSV read.
pub const MAX_REPORT_BYTES: u64 = 64 << 20;

/// The UTF-8 text of `path`, refused when it holds more than `limit` bytes; `what` names the
/// kind of file in the error.
pub fn read_text(path: &Path, limit: u64, what: &str) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| SimError::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| SimError::io(path, e))?;
    if bytes.len() as u64 > limit {
        let message = format!("larger than the {} limit for {what}", human_bytes(limit));
        return Err(SimError::io(path, std::io::Error::other(message)));
    }
    String::from_utf8(bytes).map_err(|e| {
        let message = format!(
            "{what} is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        );
        SimError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, message),
        )
    })
}

/// Writes `text` to `path`; a failure is a "cannot write" error naming the path.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| SimError::write(path, e))
}

/// `16 MiB`, `1 MiB`, `512 kiB`, or a byte count.
pub fn human_bytes(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes % (1 << 30) == 0 {
        format!("{} GiB", bytes >> 30)
    } else if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
        format!("{} kiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn endless_device_is_refused_fast() {
        let error = read_text(
            Path::new("/dev/zero"),
            MAX_CONFIG_BYTES,
            "a hardware config",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("cannot read /dev/zero"), "{error}");
        assert!(
            error.contains("1 MiB limit for a hardware config"),
            "{error}"
        );
    }

    #[test]
    fn binary_is_refused_as_not_text() {
        let dir = std::env::temp_dir().join(format!("simcore-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.csv");
        std::fs::write(&path, b"a\xff\n").unwrap();
        let error = read_text(&path, 100, "a topology CSV")
            .unwrap_err()
            .to_string();
        assert!(error.contains("not UTF-8"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn write_failure_says_write() {
        let error = write_text(Path::new("/nonexistent-dir/x.csv"), "x")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("cannot write /nonexistent-dir/x.csv"),
            "{error}"
        );
    }
}
