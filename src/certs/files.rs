//! Files that hold keys: written atomically (temp file in the same folder, fsync, rename) with
//! their final mode from the start, so a crash never leaves half a key or a readable one.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use indexmap::IndexMap;

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
    let mut batch = Batch::default();
    batch.put(path, contents, mode);
    batch.commit()
}

/// Files written together. Nothing touches the disk until `commit`, which writes every file
/// under a temporary name, makes them all durable, and only then renames them into place: a
/// failure before the renames leaves the folders as they were.
#[derive(Default)]
pub struct Batch {
    dirs: Vec<PathBuf>,
    files: IndexMap<PathBuf, (Vec<u8>, u32)>,
}

impl Batch {
    /// A folder (mode 0700, with its parents) to create before the files.
    pub fn create_dir(&mut self, dir: &Path) {
        if !self.dirs.iter().any(|d| d == dir) {
            self.dirs.push(dir.to_path_buf());
        }
    }

    /// Adds a file; a later `put` of the same path replaces it.
    pub fn put(&mut self, path: &Path, contents: &[u8], mode: u32) {
        self.files
            .insert(path.to_path_buf(), (contents.to_vec(), mode));
    }

    pub fn commit(self) -> anyhow::Result<()> {
        let mut temps = Vec::with_capacity(self.files.len());
        let result = self.write_temps(&mut temps).and_then(|()| {
            sync_all(&temps)?;
            for (tmp, path) in &temps {
                fs::rename(tmp, path)
                    .with_context(|| format!("failed to write `{}`", path.display()))?;
            }
            Ok(())
        });
        if result.is_err() {
            for (tmp, _) in &temps {
                let _ = fs::remove_file(tmp);
            }
        }
        result
    }

    /// Each file under a temporary name beside its final one; `temps` records what was created.
    fn write_temps(&self, temps: &mut Vec<(PathBuf, PathBuf)>) -> anyhow::Result<()> {
        for dir in &self.dirs {
            create_dir(dir)?;
        }
        for (path, (contents, mode)) in &self.files {
            let dir = path.parent().unwrap_or(Path::new("."));
            let file_name = path
                .file_name()
                .expect("callers pass file paths")
                .to_string_lossy();
            let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
            let context = || format!("failed to write `{}`", path.display());
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(*mode)
                .open(&tmp)
                .with_context(context)?;
            temps.push((tmp, path.clone()));
            f.write_all(contents).with_context(context)?;
        }
        Ok(())
    }
}

/// fsync of every temporary file, a few at a time (the first share on this thread): the wait is
/// the disk's, and it serves concurrent flushes together. Each is opened again, so no more than
/// a few are open at once.
fn sync_all(temps: &[(PathBuf, PathBuf)]) -> anyhow::Result<()> {
    const AT_ONCE: usize = 4;
    let sync = |(tmp, path): &(PathBuf, PathBuf)| {
        File::open(tmp)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("failed to write `{}` (fsync)", path.display()))
    };
    let mut shares = temps.chunks(temps.len().div_ceil(AT_ONCE).max(1));
    let mine = shares.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let others: Vec<_> = shares
            .map(|share| scope.spawn(move || share.iter().try_for_each(sync)))
            .collect();
        let result = mine.iter().try_for_each(sync);
        others
            .into_iter()
            .map(|w| w.join().expect("fsync does not panic"))
            .fold(result, anyhow::Result::and)
    })
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
    fn a_batch_writes_everything_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("x/a.key"), dir.path().join("y/b.crt"));
        let mut batch = Batch::default();
        batch.create_dir(&dir.path().join("x"));
        batch.create_dir(&dir.path().join("y"));
        batch.put(&a, b"first", KEY_MODE);
        batch.put(&b, b"b", CERT_MODE);
        batch.put(&a, b"second", KEY_MODE);
        batch.commit().unwrap();
        assert_eq!(
            fs::read_to_string(&a).unwrap(),
            "second",
            "the last put wins"
        );
        assert_eq!(fs::read_to_string(&b).unwrap(), "b");
        assert_eq!(fs::read_dir(dir.path().join("x")).unwrap().count(), 1);

        // A file that cannot be written (its folder is a file): nothing else lands either.
        fs::write(dir.path().join("blocked"), "").unwrap();
        let mut batch = Batch::default();
        batch.put(&a, b"third", KEY_MODE);
        batch.put(&dir.path().join("blocked/c.crt"), b"c", CERT_MODE);
        assert!(batch.commit().is_err());
        assert_eq!(fs::read_to_string(&a).unwrap(), "second");
        assert_eq!(
            fs::read_dir(dir.path().join("x")).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn a_failed_write_names_the_file() {
        let err = write_atomic(Path::new("/nonexistent-dir/x"), b"", KEY_MODE).unwrap_err();
        assert_eq!(err.to_string(), "failed to write `/nonexistent-dir/x`");
    }
}
