//! Writing files that must never be seen half-written (keys, certificates, a farm.toml, a
//! `render --out` folder): atomically (temp file in the same folder, fsync, rename) with their
//! final mode from the start, so a crash never leaves half a key or a readable one.
//!
//! A batch of files lands as one: with a journal folder, `commit` records every rename it is
//! about to make in `<folder>/.pending` before the first one, and `recover` (run under the
//! folder's lock by the next writer) finishes the renames a kill interrupted, or, when the kill
//! came before the journal, removes the temporary files and empty folders it left. Either way
//! the folder holds the previous set or the complete new one.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use indexmap::IndexMap;

pub(crate) const KEY_MODE: u32 = 0o600;
pub(crate) const CERT_MODE: u32 = 0o644;
pub(crate) const DIR_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents with mode 0700.
pub(crate) fn create_dir(dir: &Path) -> anyhow::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .with_context(|| format!("failed to create `{}`", dir.display()))
}

/// Writes `contents` to `path` atomically with `mode`.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut batch = Batch::default();
    batch.put(path, contents, mode);
    batch.commit()
}

/// Files written together. Nothing touches the disk until `commit`, which writes every file
/// under a temporary name, makes them all durable, and only then renames them into place: a
/// failure before the renames leaves the folders as they were.
#[derive(Default)]
pub(crate) struct Batch {
    dirs: Vec<PathBuf>,
    files: IndexMap<PathBuf, (Vec<u8>, u32)>,
    /// Where the journal goes (the folder the files live under), for batches that must land
    /// whole even across a kill.
    journal: Option<PathBuf>,
}

/// The journal of a commit in progress, in the batch's folder.
const JOURNAL: &str = ".pending";

impl Batch {
    /// A batch whose files, all under `root`, land together even when the process is killed
    /// half-way (see the module docs).
    pub(crate) fn journaled(root: &Path) -> Self {
        Batch {
            journal: Some(root.to_path_buf()),
            ..Batch::default()
        }
    }

    /// Whether the batch writes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty() && self.dirs.iter().all(|d| d.is_dir())
    }

    /// A folder (mode 0700, with its parents) to create before the files.
    pub(crate) fn create_dir(&mut self, dir: &Path) {
        if !self.dirs.iter().any(|d| d == dir) {
            self.dirs.push(dir.to_path_buf());
        }
    }

    /// Adds a file; a later `put` of the same path replaces it.
    pub(crate) fn put(&mut self, path: &Path, contents: &[u8], mode: u32) {
        self.files
            .insert(path.to_path_buf(), (contents.to_vec(), mode));
    }

    pub(crate) fn commit(self) -> anyhow::Result<()> {
        let mut temps = Vec::with_capacity(self.files.len());
        let staged = self.write_temps(&mut temps).and_then(|()| {
            sync_all(&temps)?;
            crash_point();
            match &self.journal {
                Some(root) => write_journal(root, &temps),
                None => Ok(()),
            }
        });
        if let Err(e) = staged {
            for (tmp, _) in &temps {
                let _ = fs::remove_file(tmp);
            }
            return Err(e);
        }
        // From here on the journal (when there is one) lets the next writer finish the job.
        for (tmp, path) in &temps {
            fs::rename(tmp, path)
                .with_context(|| format!("failed to write `{}`", path.display()))?;
            crash_point();
        }
        sync_dirs(temps.iter().map(|(_, path)| path))?;
        if let Some(root) = &self.journal {
            let journal = root.join(JOURNAL);
            fs::remove_file(&journal)
                .with_context(|| format!("failed to remove `{}`", journal.display()))?;
            sync_dirs([&journal])?;
        }
        Ok(())
    }

    /// Each file under a temporary name beside its final one; `temps` records what was created.
    fn write_temps(&self, temps: &mut Vec<(PathBuf, PathBuf)>) -> anyhow::Result<()> {
        for dir in &self.dirs {
            create_dir(dir)?;
            crash_point();
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
            crash_point();
        }
        Ok(())
    }
}

/// `<root>/.pending`: one `temporary\tfinal` line per rename, relative to `root`, written
/// atomically and durably before the first rename.
fn write_journal(root: &Path, temps: &[(PathBuf, PathBuf)]) -> anyhow::Result<()> {
    let relative = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let text: String = temps
        .iter()
        .map(|(tmp, path)| format!("{}\t{}\n", relative(tmp), relative(path)))
        .collect();
    let journal = root.join(JOURNAL);
    let staging = root.join(format!("{JOURNAL}.tmp"));
    let context = || format!("failed to write `{}`", journal.display());
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(KEY_MODE)
        .open(&staging)
        .with_context(context)?;
    f.write_all(text.as_bytes()).with_context(context)?;
    f.sync_all().with_context(context)?;
    fs::rename(&staging, &journal).with_context(context)?;
    sync_dirs([&journal])?;
    crash_point();
    Ok(())
}

/// Whether a commit under `root` was interrupted (its journal is still there).
pub(crate) fn has_journal(root: &Path) -> bool {
    root.join(JOURNAL).exists()
}

/// Makes the renames into each file's folder durable.
fn sync_dirs<'a>(paths: impl IntoIterator<Item = &'a PathBuf>) -> anyhow::Result<()> {
    let mut dirs: Vec<&Path> = paths
        .into_iter()
        .filter_map(|p| p.parent())
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("failed to write `{}` (fsync)", dir.display()))?;
    }
    Ok(())
}

/// Brings `root` back to a whole state after a commit was killed: finishes the renames its
/// journal lists, or (no journal) removes the temporary files it left; then removes the empty
/// folders among `owned`. Call it holding the folder's lock. Returns whether anything was done.
pub(crate) fn recover(root: &Path, owned: &[PathBuf]) -> anyhow::Result<bool> {
    let mut acted = false;
    let journal = root.join(JOURNAL);
    if let Some(text) = read_optional(&journal)? {
        for line in text.lines() {
            let Some((tmp, path)) = line.split_once('\t') else {
                continue;
            };
            let (tmp, path) = (root.join(tmp), root.join(path));
            if tmp.exists() {
                fs::rename(&tmp, &path)
                    .with_context(|| format!("failed to finish writing `{}`", path.display()))?;
            }
        }
        let paths: Vec<PathBuf> = text
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(_, p)| root.join(p))
            .collect();
        sync_dirs(&paths)?;
        fs::remove_file(&journal)
            .with_context(|| format!("failed to remove `{}`", journal.display()))?;
        acted = true;
    }
    let _ = fs::remove_file(root.join(format!("{JOURNAL}.tmp")));
    // Temporary files of a commit killed before its journal: `.<name>.tmp-<pid>`.
    for dir in std::iter::once(root).chain(owned.iter().map(PathBuf::as_path)) {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.starts_with('.')
                && name.rsplit_once(".tmp-").is_some_and(|(_, pid)| {
                    !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
                });
            if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
                fs::remove_file(entry.path())
                    .with_context(|| format!("failed to remove `{}`", entry.path().display()))?;
                acted = true;
            }
        }
    }
    // Deepest first, so a parent emptied by its children goes too.
    let mut owned: Vec<&PathBuf> = owned.iter().collect();
    owned.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for dir in owned {
        if fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none()) && fs::remove_dir(dir).is_ok() {
            acted = true;
        }
    }
    Ok(acted)
}

/// A test-only way to stop the process between the steps of a commit exactly as a kill would:
/// `BUILDFARM_CRASH_AT=N` aborts at the Nth step. Only in debug builds, which the tests run;
/// release builds do not read the variable.
fn crash_point() {
    #[cfg(debug_assertions)]
    {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static STEP: AtomicUsize = AtomicUsize::new(0);
        let at = std::env::var("BUILDFARM_CRASH_AT")
            .ok()
            .and_then(|v| v.parse::<usize>().ok());
        if at.is_some_and(|at| STEP.fetch_add(1, Ordering::SeqCst) + 1 == at) {
            std::process::abort();
        }
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
pub(crate) fn read_optional(path: &Path) -> anyhow::Result<Option<String>> {
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
