//! Files that hold keys: written atomically (temp file in the same folder, fsync, rename) with
//! their final mode from the start, so a crash never leaves half a key or a readable one.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use anyhow::Context;

pub const KEY_MODE: u32 = 0o600;
pub const CERT_MODE: u32 = 0o644;
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents with mode 0700.
pub fn create_dir(dir: &Path) -> anyhow::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .with_context(|| format!("failed to create `{}`", dir.display()))
}

/// Writes `contents` to `path` atomically with `mode`.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .expect("callers pass file paths")
        .to_string_lossy();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("failed to write `{}`", path.display()))
}

/// Reads a file that may be absent.
pub fn read_optional(path: &Path) -> anyhow::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("failed to read `{}`", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_sets_the_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tls.key");
        write_atomic(&path, b"secret", KEY_MODE).unwrap();
        write_atomic(&path, b"secret2", KEY_MODE).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "secret2");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_names_the_file() {
        let err = write_atomic(Path::new("/nonexistent-dir/x"), b"", KEY_MODE).unwrap_err();
        assert_eq!(err.to_string(), "failed to write `/nonexistent-dir/x`");
    }
}
