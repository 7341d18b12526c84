//! Killed at any step of writing certificates, buildfarm leaves the previous set or a complete
//! new one (with the journal that finishes it), and the next run succeeds without a person.
//! The debug binary aborts, as a kill would, at the Nth step of a commit when
//! `BUILDFARM_CRASH_AT=N` is set; every step is tried.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::{buildfarm, stderr};

const SPEC: &str = "[[tls.client]]\nname = \"ci\"\nnamespace = \"ci\"\n[[tls.client]]\nname = \"laptop\"\n[[pool]]\narch = \"amd64\"\n";

/// The certificate files a complete set has.
const FILES: [&str; 11] = [
    "ca.crt",
    "ca.key",
    "daemon/ca.crt",
    "daemon/tls.crt",
    "daemon/tls.key",
    "client/ci/ca.crt",
    "client/ci/tls.crt",
    "client/ci/tls.key",
    "client/laptop/ca.crt",
    "client/laptop/tls.crt",
    "client/laptop/tls.key",
];

fn crashing(dir: &Path, args: &[&str], at: usize) -> Output {
    Command::new(env!("CARGO_BIN_EXE_buildfarm"))
        .args(args)
        .current_dir(dir)
        .env("BUILDFARM_CRASH_AT", at.to_string())
        .output()
        .expect("the binary runs")
}

/// Every file of the set, as bytes (an absent one as None).
fn snapshot(certs: &Path) -> Vec<Option<Vec<u8>>> {
    FILES.iter().map(|f| fs::read(certs.join(f)).ok()).collect()
}

/// After a kill: the files are all absent, all present, or the journal is there to finish them.
fn assert_whole_or_journaled(certs: &Path, step: usize) {
    let present = FILES.iter().filter(|f| certs.join(f).exists()).count();
    let journal = certs.join(".pending").exists();
    assert!(
        present == 0 || present == FILES.len() || journal,
        "step {step}: {present} of {} files and no journal",
        FILES.len()
    );
}

/// After the next run: a complete, valid set, and nothing left of the interrupted one.
fn assert_complete_and_clean(dir: &Path, step: usize) {
    let certs = dir.join("certs");
    for f in FILES {
        assert!(certs.join(f).is_file(), "step {step}: `{f}` is missing");
    }
    let mut leftovers = Vec::new();
    for sub in ["", "daemon", "client/ci", "client/laptop"] {
        for e in fs::read_dir(certs.join(sub)).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(".tmp") || name.starts_with(".pending") || name.ends_with(".orphaned")
            {
                leftovers.push(format!("{sub}/{name}"));
            }
        }
    }
    assert!(leftovers.is_empty(), "step {step}: left {leftovers:?}");
    // lint checks every certificate: parses, keys match, chains to the CA, not expired.
    let lint = buildfarm(dir, &["lint", "--format", "json"]);
    let text = String::from_utf8_lossy(&lint.stdout);
    assert!(!text.contains("\"cert-"), "step {step}: {text}");
}

/// Kills `args` at every step of its commit on a fresh folder; each time, the next plain run
/// finishes or redoes the job. Returns how many steps there were.
fn every_step_of_a_first_run(args: &[&str]) -> usize {
    for step in 1.. {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("farm.toml"), SPEC).unwrap();
        let out = crashing(dir.path(), args, step);
        if out.status.success() {
            assert_complete_and_clean(dir.path(), step);
            return step - 1;
        }
        assert_eq!(
            out.status.code(),
            None,
            "step {step}: killed, not failed: {}",
            stderr(&out)
        );
        assert_whole_or_journaled(&dir.path().join("certs"), step);
        let next = buildfarm(dir.path(), &["certs", "generate"]);
        assert_eq!(
            next.status.code(),
            Some(0),
            "step {step}: {}",
            stderr(&next)
        );
        assert_complete_and_clean(dir.path(), step);
    }
    unreachable!()
}

#[test]
fn a_first_certs_generate_killed_at_any_step_recovers() {
    let steps = every_step_of_a_first_run(&["certs", "generate"]);
    // Folders, 11 files, the fsync, the journal and 11 renames: every one was a kill point.
    assert!(steps >= 20, "only {steps} steps were tried");
}

#[test]
fn a_first_render_killed_at_any_step_recovers() {
    assert!(every_step_of_a_first_run(&["render"]) >= 20);
}

#[test]
fn a_reissue_killed_at_any_step_keeps_the_ca_and_finishes() {
    for step in 1.. {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("farm.toml"), SPEC).unwrap();
        assert_eq!(
            buildfarm(dir.path(), &["certs", "generate"]).status.code(),
            Some(0)
        );
        let certs = dir.path().join("certs");
        let before = snapshot(&certs);
        // A new name for the daemon: its certificate is reissued, nothing else changes.
        let spec = format!("[tls]\nextra_sans = [\"buildkit.example.com\"]\n{SPEC}");
        fs::write(dir.path().join("farm.toml"), spec).unwrap();
        let out = crashing(dir.path(), &["render"], step);
        let after = snapshot(&certs);
        let changed: Vec<&str> = FILES
            .iter()
            .zip(before.iter().zip(&after))
            .filter(|(_, (b, a))| b != a)
            .map(|(f, _)| *f)
            .collect();
        let journal = certs.join(".pending").exists();
        // The old daemon pair, or the new one, whole: never one of each (or the journal).
        assert!(
            changed.is_empty() || changed == ["daemon/tls.crt", "daemon/tls.key"] || journal,
            "step {step}: changed {changed:?} without a journal"
        );
        assert_eq!(before[0], after[0], "step {step}: the CA never changes");
        assert_eq!(before[1], after[1], "step {step}: the CA key never changes");
        if out.status.success() {
            assert!(step > 4, "the reissue had steps to kill");
            return;
        }
        let next = buildfarm(dir.path(), &["render"]);
        assert_eq!(
            next.status.code(),
            Some(0),
            "step {step}: {}",
            stderr(&next)
        );
        let sans = buildfarm(dir.path(), &["certs", "show", "--format", "json"]);
        assert!(
            String::from_utf8_lossy(&sans.stdout).contains("buildkit.example.com"),
            "step {step}"
        );
        assert_eq!(
            snapshot(&certs)[0],
            before[0],
            "step {step}: the same CA after recovery"
        );
        assert_complete_and_clean(dir.path(), step);
    }
}

#[test]
fn a_lone_ca_key_is_set_aside_only_when_it_signed_nothing() {
    // An interrupted first run of an older version: the CA key landed, nothing else.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("farm.toml"), SPEC).unwrap();
    fs::create_dir_all(dir.path().join("certs/client")).unwrap();
    fs::write(dir.path().join("certs/ca.key"), "lone").unwrap();
    let out = buildfarm(dir.path(), &["certs", "generate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("moved it to"), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(dir.path().join("certs/ca.key.orphaned")).unwrap(),
        "lone"
    );
    // A CA key whose certificate is gone but whose leaves exist: never replaced.
    fs::remove_file(dir.path().join("certs/ca.crt")).unwrap();
    let out = buildfarm(dir.path(), &["certs", "generate"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has no certificate beside it"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_complete_read_only_folder_renders() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("farm.toml"), SPEC).unwrap();
    assert_eq!(
        buildfarm(dir.path(), &["certs", "generate"]).status.code(),
        Some(0)
    );
    let first = buildfarm(dir.path(), &["render"]);
    // Read-only as a mount would be (chmod does not bind root, so hide the lock's folder
    // writes by making the lock file impossible to create: a directory in its place).
    let lock = dir.path().join("certs/.lock");
    let _ = fs::remove_file(&lock);
    fs::create_dir(&lock).unwrap();
    let out = buildfarm(dir.path(), &["render"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        out.stdout, first.stdout,
        "the same objects, without taking the lock"
    );
    // Something to write (a new client): then the lock is needed, and its failure is said.
    fs::write(
        dir.path().join("farm.toml"),
        format!("[[tls.client]]\nname = \"new\"\n{SPEC}"),
    )
    .unwrap();
    let out = buildfarm(dir.path(), &["render"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: the certificates need writing\ncaused by: failed to open"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn lint_and_check_do_not_judge_an_interrupted_folder() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("farm.toml"), SPEC).unwrap();
    // Killed after the journal landed, before the renames finished.
    let mut step = 1;
    loop {
        let _ = fs::remove_dir_all(dir.path().join("certs"));
        let out = crashing(dir.path(), &["certs", "generate"], step);
        assert!(!out.status.success(), "no step left the journal behind");
        if dir.path().join("certs/.pending").exists() {
            break;
        }
        step += 1;
    }
    let lint = buildfarm(dir.path(), &["lint", "--format", "json"]);
    assert_eq!(lint.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&lint.stdout).contains("cert-interrupted"));
    assert!(
        dir.path().join("certs/.pending").exists(),
        "lint left it for a writer"
    );
    // The next writer finishes it.
    assert_eq!(
        buildfarm(dir.path(), &["certs", "generate"]).status.code(),
        Some(0)
    );
    assert!(!dir.path().join("certs/.pending").exists());
}
