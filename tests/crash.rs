//! Killed at any step of writing certificates, buildfarm leaves the previous set or a complete
//! new one (with the journal that finishes it), and the next run succeeds without a person.
//! The debug binary aborts, as a kill would, at the Nth step of a commit when
//! `BUILDFARM_CRASH_AT=N` is set; every step is tried.

use std::fs;
use std::path::Path;

use crate::common::Test;

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

/// A folder holding the spec, whose runs abort at step `at` of a commit (`without_env` lifts it).
fn crashing(t: Test, at: usize) -> Test {
    t.env("BUILDFARM_CRASH_AT", &at.to_string())
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
fn assert_complete_and_clean(t: Test, step: usize) -> Test {
    let certs = t.path("certs");
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
    let t = t.run(&["lint", "--format", "json"]);
    let text = t.stdout();
    assert!(!text.contains("\"cert-"), "step {step}: {text}");
    t
}

/// Kills `args` at every step of its commit on a fresh folder; each time, the next plain run
/// finishes or redoes the job. Returns how many steps there were.
fn every_step_of_a_first_run(args: &[&str]) -> usize {
    for step in 1.. {
        let t = crashing(Test::new().spec(SPEC), step).run(args);
        if t.code() == Some(0) {
            assert_complete_and_clean(t, step);
            return step - 1;
        }
        let t = t.killed();
        assert_whole_or_journaled(&t.path("certs"), step);
        let t = t
            .without_env("BUILDFARM_CRASH_AT")
            .run(&["certs", "generate"])
            .status(0);
        assert_complete_and_clean(t, step);
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
        let t = Test::new().spec(SPEC).run(&["certs", "generate"]).status(0);
        let certs = t.path("certs");
        let before = snapshot(&certs);
        // A new name for the daemon: its certificate is reissued, nothing else changes.
        let spec = format!("[tls]\nextra_sans = [\"buildkit.example.com\"]\n{SPEC}");
        let t = crashing(t.spec(&spec), step).run(&["render"]);
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
        if t.code() == Some(0) {
            assert!(step > 4, "the reissue had steps to kill");
            return;
        }
        let t = t
            .killed()
            .without_env("BUILDFARM_CRASH_AT")
            .run(&["render"])
            .status(0)
            .run(&["certs", "show", "--format", "json"])
            .stdout_has("buildkit.example.com");
        assert_eq!(
            snapshot(&certs)[0],
            before[0],
            "step {step}: the same CA after recovery"
        );
        assert_complete_and_clean(t, step);
    }
}

#[test]
fn a_lone_ca_key_is_set_aside_only_when_it_signed_nothing() {
    // An interrupted first run of an older version: the CA key landed, nothing else.
    let t = Test::new().spec(SPEC);
    fs::create_dir_all(t.path("certs/client")).unwrap();
    let t = t
        .file("certs/ca.key", "lone")
        .run(&["certs", "generate"])
        .status(0)
        .stderr_has("moved it to");
    assert_eq!(
        fs::read_to_string(t.path("certs/ca.key.orphaned")).unwrap(),
        "lone"
    );
    // A CA key whose certificate is gone but whose leaves exist: never replaced.
    fs::remove_file(t.path("certs/ca.crt")).unwrap();
    t.run(&["certs", "generate"])
        .status(1)
        .stderr_has("has no certificate beside it");
}

#[test]
fn a_complete_read_only_folder_renders() {
    let t = Test::new()
        .spec(SPEC)
        .run(&["certs", "generate"])
        .status(0)
        .run(&["render"])
        .status(0);
    let first = t.stdout_bytes();
    // Read-only as a mount would be (chmod does not bind root, so hide the lock's folder
    // writes by making the lock file impossible to create: a directory in its place).
    let lock = t.path("certs/.lock");
    let _ = fs::remove_file(&lock);
    fs::create_dir(&lock).unwrap();
    let t = t.run(&["render"]).status(0);
    assert_eq!(
        t.stdout_bytes(),
        first,
        "the same objects, without taking the lock"
    );
    // Something to write (a new client): then the lock is needed, and its failure is said.
    let t = t
        .spec(&format!("[[tls.client]]\nname = \"new\"\n{SPEC}"))
        .run(&["render"])
        .status(2);
    assert!(
        t.stderr()
            .starts_with("error: the certificates need writing\ncaused by: failed to open"),
        "{}",
        t.stderr()
    );
}

#[test]
fn lint_and_check_do_not_judge_an_interrupted_folder() {
    let mut t = Test::new().spec(SPEC);
    // Killed after the journal landed, before the renames finished.
    for step in 1.. {
        let _ = fs::remove_dir_all(t.path("certs"));
        t = crashing(t, step).run(&["certs", "generate"]).killed();
        if t.path("certs/.pending").exists() {
            break;
        }
    }
    let t = t
        .without_env("BUILDFARM_CRASH_AT")
        .run(&["lint", "--format", "json"])
        .status(1)
        .stdout_has("cert-interrupted");
    assert!(
        t.path("certs/.pending").exists(),
        "lint left it for a writer"
    );
    // The next writer finishes it.
    let t = t.run(&["certs", "generate"]).status(0);
    assert!(!t.path("certs/.pending").exists());
}
