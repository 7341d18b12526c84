//! Bad specs: each gives a located message that says what is wrong and how to fix it.

use std::path::Path;

use buildfarm::Rule;
use buildfarm::{Diagnostic, Source};

fn problems(spec: &str) -> Vec<Diagnostic> {
    let source = Source::new("farm.toml", spec);
    match buildfarm::parse(&source, Path::new(""), None) {
        Ok(_) => panic!("spec should be refused:\n{spec}"),
        Err(invalid) => invalid.0,
    }
}

/// The only problem: (message, line, col, hint).
fn problem(spec: &str) -> (String, usize, usize, Option<String>) {
    let all = problems(spec);
    assert_eq!(all.len(), 1, "{all:#?}");
    let d = all.into_iter().next().unwrap();
    let loc = d.location.expect("located");
    (d.message, loc.line, loc.col, d.hint)
}

const POOL: &str = "[[pool]]\narch = \"amd64\"\n";

#[test]
fn unknown_key_suggests_the_right_one() {
    let (msg, line, col, hint) = problem("[[pool]]\narch = \"amd64\"\nreplica = 2\n");
    assert_eq!((msg.as_str(), line, col), ("unknown key `replica`", 3, 1));
    assert_eq!(hint.as_deref(), Some("did you mean `replicas`?"));
}

#[test]
fn unknown_top_level_key_lists_what_is_known_when_nothing_is_close() {
    let (msg, line, _, hint) = problem(&format!("zzz = 1\n{POOL}"));
    assert_eq!((msg.as_str(), line), ("unknown key `zzz`", 1));
    assert!(
        hint.unwrap()
            .starts_with("known keys here: `name`, `namespace`")
    );
}

#[test]
fn mode_typo() {
    let (msg, line, col, hint) = problem(&format!("name = \"ci\"\nmode = \"rootles\"\n{POOL}"));
    assert_eq!((msg.as_str(), line, col), ("unknown mode `rootles`", 2, 8));
    assert_eq!(
        hint.unwrap(),
        "expected `rootless`, `privileged` or `userns`; did you mean `rootless`?"
    );
}

#[test]
fn wrong_type_is_located() {
    let (msg, line, col, _) = problem("[[pool]]\narch = \"amd64\"\nreplicas = \"two\"\n");
    assert!(
        msg.starts_with("invalid type: string \"two\", expected i64"),
        "{msg}"
    );
    assert_eq!((line, col), (3, 12));
}

#[test]
fn malformed_toml_is_located() {
    let (msg, line, _, _) = problem("name = \"ci\nmode = \"rootless\"\n");
    assert!(msg.contains("string"), "{msg}");
    assert_eq!(line, 1);
}

#[test]
fn bad_sizes() {
    let (msg, line, _, _) = problem("[gc]\nmax_used = \"10 XB\"\n[[pool]]\narch = \"amd64\"\n");
    assert_eq!(line, 2);
    assert!(
        msg.starts_with("`gc.max_used`: `10 XB` is not a size"),
        "{msg}"
    );
    let (msg, _, _, _) = problem("[[pool]]\narch = \"amd64\"\nstorage = \"500GB\"\n");
    assert!(msg.contains("not `GB`"), "{msg}");
    let (msg, _, _, _) = problem("[[pool]]\narch = \"amd64\"\nstorage = \"0Gi\"\n");
    assert_eq!(msg, "`pool.storage` must be larger than 0");
}

#[test]
fn invalid_names() {
    let (msg, line, col, _) = problem(&format!("name = \"Build_Kit\"\n{POOL}"));
    assert_eq!((line, col), (1, 8));
    assert!(
        msg.starts_with("`name` = `Build_Kit` is not valid: only lowercase"),
        "{msg}"
    );
    let (msg, _, _, _) = problem(&format!("name = \"1farm\"\n{POOL}"));
    assert!(msg.contains("must start with a letter"), "{msg}");
}

#[test]
fn names_too_long_for_their_suffixes() {
    let name = "a".repeat(40);
    let (msg, line, _, hint) = problem(&format!(
        "name = \"{name}\"\n[[pool]]\narch = \"amd64\"\nname = \"pool-number-one\"\n"
    ));
    assert_eq!(line, 4);
    assert_eq!(
        msg,
        format!("StatefulSet name `{name}-pool-number-one` is 56 characters, the limit is 52")
    );
    assert!(hint.unwrap().contains("controller-revision-hash"));
}

#[test]
fn replicas_must_not_be_negative() {
    let (msg, _, _, _) = problem("[[pool]]\narch = \"amd64\"\nreplicas = -1\n");
    assert_eq!(msg, "`pool.replicas` must be from 0 to 1000, found -1");
}

#[test]
fn duplicate_pools_need_names() {
    let (msg, line, _, hint) = problem("[[pool]]\narch = \"amd64\"\n[[pool]]\narch = \"amd64\"\n");
    assert_eq!((msg.as_str(), line), ("two pools are named `amd64`", 4));
    assert!(hint.unwrap().contains("distinct `name`"));
}

#[test]
fn a_farm_needs_pools_and_pools_need_arches() {
    let (msg, line, col, hint) = problem("name = \"ci\"\n");
    assert_eq!(
        (msg.as_str(), line, col),
        ("the farm has no `[[pool]]`", 1, 1)
    );
    assert!(hint.unwrap().contains("arch = \"amd64\""));
    let (msg, _, _, hint) = problem("[[pool]]\narch = \"x86_64\"\n");
    assert_eq!(msg, "unknown arch `x86_64`");
    assert_eq!(hint.unwrap(), "Kubernetes calls x86_64 `amd64`");
    let (msg, line, _, _) = problem("[[pool]]\nreplicas = 1\n");
    assert_eq!((msg.as_str(), line), ("a `[[pool]]` has no `arch`", 1));
}

#[test]
fn userns_needs_kubernetes_1_33() {
    let (msg, line, col, hint) =
        problem(&format!("mode = \"userns\"\nkubernetes = \"1.30\"\n{POOL}"));
    assert_eq!(
        (msg.as_str(), line, col),
        (
            "mode `userns` needs Kubernetes 1.33 or newer, the farm targets 1.30",
            2,
            14
        )
    );
    assert!(hint.unwrap().contains("hostUsers"));
    // Without `kubernetes`, the default target (the oldest supported release) runs them.
    let source = Source::new("farm.toml", format!("mode = \"userns\"\n{POOL}"));
    let farm = buildfarm::parse(&source, Path::new(""), None).expect("valid");
    assert_eq!(farm.kubernetes.to_string(), "1.35");
}

#[test]
fn unknown_buildkit_version_needs_a_pin() {
    let (msg, line, _, hint) = problem(&format!(
        "image = \"moby/buildkit:master-rootless\"\n{POOL}"
    ));
    assert_eq!(
        (msg.as_str(), line),
        (
            "cannot tell which BuildKit release `moby/buildkit:master-rootless` runs",
            1
        )
    );
    assert!(hint.unwrap().contains("buildkit_version"));
    let ok = Source::new(
        "farm.toml",
        format!("image = \"moby/buildkit:master-rootless\"\nbuildkit_version = \"0.18.0\"\n{POOL}"),
    );
    let farm = buildfarm::parse(&ok, Path::new(""), None).unwrap();
    assert_eq!(farm.buildkit.to_string(), "v0.18.0");
}

#[test]
fn new_gc_keys_on_an_old_buildkit_are_refused() {
    let (msg, line, _, hint) = problem(&format!(
        "image = \"moby/buildkit:v0.16.0\"\n[gc]\nreserved = \"10GB\"\n{POOL}"
    ));
    assert_eq!(
        (msg.as_str(), line),
        (
            "`gc.reserved` needs BuildKit v0.17.0 or newer, the image runs v0.16.0",
            3
        )
    );
    assert!(hint.unwrap().contains("keepBytes"));
    let (msg, _, _, _) = problem(&format!(
        "image = \"moby/buildkit:v0.11.6\"\n[gc]\nmax_used = \"80%\"\n{POOL}"
    ));
    assert!(
        msg.contains("as a percentage needs BuildKit v0.12.0"),
        "{msg}"
    );
    let (msg, _, _, _) = problem(&format!(
        "image = \"moby/buildkit:v0.10.6\"\n[history]\nmax_entries = 5\n{POOL}"
    ));
    assert!(
        msg.starts_with("`[history]` needs BuildKit v0.11.0"),
        "{msg}"
    );
    let (msg, line, _, _) = problem(&format!(
        "image = \"moby/buildkit:v0.32.2\"\nmode = \"privileged\"\n[history]\nmax_entries = 0\n{POOL}"
    ));
    assert_eq!(line, 4);
    assert!(msg.contains("needs BuildKit v0.33.0 or newer"), "{msg}");
}

#[test]
fn history_can_be_turned_off_from_v0_33() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("[history]\nmax_entries = 0\n{POOL}");
    let yaml = buildfarm::render_str(&spec, dir.path()).unwrap();
    assert!(yaml.contains("\n    maxEntries = 0\n"), "{yaml}");
}

#[test]
fn gc_floor_above_cap() {
    let (msg, _, _, _) = problem(&format!(
        "[gc]\nreserved = \"500GB\"\nmax_used = \"400GB\"\n{POOL}"
    ));
    assert_eq!(
        msg,
        "`gc.reserved` (500 GiB) is larger than `gc.max_used` (400 GiB)"
    );
}

#[test]
fn passthrough_cannot_override_what_the_spec_owns() {
    let (msg, line, _, hint) = problem(&format!(
        "[buildkitd.grpc]\naddress = [\"tcp://0.0.0.0:9999\"]\n{POOL}"
    ));
    assert_eq!(
        (msg.as_str(), line),
        ("`buildkitd.grpc.address` is managed by buildfarm", 2),
        "at the key's own line, not the table's"
    );
    assert!(hint.unwrap().contains("`port`"));
}

#[test]
fn external_tls_needs_a_secret() {
    let (msg, _, _, _) = problem(&format!("[tls]\nmode = \"external\"\n{POOL}"));
    assert_eq!(msg, "`tls.mode = \"external\"` needs `tls.secret`");
}

#[test]
fn invalid_tolerations_and_resources() {
    let (msg, line, _, hint) = problem(
        "[[pool]]\narch = \"amd64\"\ntolerations = [{ key = \"a\", effect = \"NoSchedul\" }]\n",
    );
    assert_eq!(
        (msg.as_str(), line),
        ("toleration effect `NoSchedul` is not valid", 3)
    );
    assert_eq!(hint.unwrap(), "did you mean `NoSchedule`?");
    let (msg, _, _, _) =
        problem("[[pool]]\narch = \"amd64\"\nresources = { limits = { memory = \"8GB\" } }\n");
    assert!(
        msg.starts_with("`resources.limits.memory` = `8GB` is not valid"),
        "{msg}"
    );
    let (msg, _, _, hint) =
        problem("[[pool]]\narch = \"amd64\"\nresources = { limits = { memroy = \"8Gi\" } }\n");
    assert_eq!(msg, "unknown resource `memroy`");
    assert_eq!(hint.unwrap(), "did you mean `memory`?");
}

#[test]
fn reserved_labels_and_annotations() {
    let (msg, _, _, _) = problem(
        "[[pool]]\narch = \"amd64\"\nnode_selector = { \"kubernetes.io/arch\" = \"arm64\" }\n",
    );
    assert_eq!(
        msg,
        "`pool.node_selector` cannot set `kubernetes.io/arch`: buildfarm sets it"
    );
    let (msg, _, _, _) =
        problem("[[pool]]\narch = \"amd64\"\nnode_selector = { \"bad key\" = \"x\" }\n");
    assert!(
        msg.starts_with("`pool.node_selector` key `bad key` is not valid"),
        "{msg}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let spec =
        "name = \"Bad\"\nmode = \"rootles\"\nport = 0\n[[pool]]\narch = \"mips\"\nreplicas = -3\n";
    let all = problems(spec);
    let lines: Vec<usize> = all
        .iter()
        .map(|d| d.location.as_ref().unwrap().line)
        .collect();
    assert_eq!(lines, [1, 2, 3, 5, 6], "{all:#?}");
}

#[test]
fn a_diagnostic_renders_like_rustc() {
    let all = problems(&format!("name = \"ci\"\nmode = \"rootles\"\n{POOL}"));
    assert_eq!(
        all[0].to_string(),
        "error: unknown mode `rootles`\n --> farm.toml:2:8\n  |\n2 | mode = \"rootles\"\n  |        ^^^^^^^^^\n  \
         = hint: expected `rootless`, `privileged` or `userns`; did you mean `rootless`?\n"
    );
}

#[test]
fn every_unknown_key_and_every_later_problem_is_reported() {
    let spec = "nmae = \"ci\"\nmode = \"rootles\"\n[[pool]]\narch = \"amd64\"\nreplica = 2\nstorage_clas = \"x\"\n";
    let all = problems(spec);
    let got: Vec<(&str, usize)> = all
        .iter()
        .map(|d| (d.rule.name(), d.location.as_ref().unwrap().line))
        .collect();
    assert_eq!(
        got,
        [
            ("unknown-key", 1),
            ("unknown-value", 2),
            ("unknown-key", 5),
            ("unknown-key", 6)
        ]
    );
    assert_eq!(all[0].hint.as_deref(), Some("did you mean `name`?"));
    assert_eq!(
        all[3].hint.as_deref(),
        Some("did you mean `storage_class`?")
    );
}

#[test]
fn every_wrong_type_is_reported_without_follow_on_errors() {
    let spec = "port = \"1234\"\n[[pool]]\narch = 64\nreplicas = \"two\"\nextra = 1\n";
    let all = problems(spec);
    let got: Vec<(&str, usize)> = all
        .iter()
        .map(|d| (d.rule.name(), d.location.as_ref().unwrap().line))
        .collect();
    // No "pool has no arch" after `arch = 64` was cut out: type errors stop before validation.
    assert_eq!(
        got,
        [
            ("invalid-type", 1),
            ("invalid-type", 3),
            ("invalid-type", 4),
            ("unknown-key", 5)
        ]
    );
}

#[test]
fn syntax_errors_are_all_reported() {
    let all = problems("name = \"ci\nmode = rootless\n[[pool]\narch = \"amd64\"\n");
    assert!(all.len() >= 2, "{all:#?}");
    assert!(all.iter().all(|d| d.rule == "toml-syntax"));
}

/// `tests/bad/*.toml`: broken specs, each starting `# expect: <rule> <line>`. Lint must report
/// that rule on that line, as an error unless it is a lint-only warning.
#[test]
fn bad_input_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    let mut checked = 0;
    let mut covered = std::collections::HashSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let Ok(text) = String::from_utf8(bytes) else {
            // Refused before lint can look inside: tests/lint.rs runs these through the CLI, in
            // every format (spec_level_refusals_are_reported_in_every_format).
            covered.insert(Rule::InvalidUtf8);
            checked += 1;
            continue;
        };
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .expect("an expect line");
        let (rule, line) = expect.split_once(' ').unwrap();
        let line: usize = line.parse().unwrap();
        let certs = tempfile::tempdir().unwrap();
        let findings = crate::common::lint(&Source::new("farm.toml", text.as_str()), certs.path());
        let hit = findings
            .iter()
            .find(|d| d.rule == rule && d.location.as_ref().is_some_and(|l| l.line == line));
        let name = path.file_name().unwrap().to_string_lossy();
        let got: Vec<(&str, usize)> = findings
            .iter()
            .map(|d| (d.rule.name(), d.location.as_ref().map_or(0, |l| l.line)))
            .collect();
        let hit =
            hit.unwrap_or_else(|| panic!("{name}: expected {rule} at line {line}, got {got:?}"));
        assert!(!hit.message.is_empty(), "{name}");
        assert_eq!(
            hit.severity,
            hit.rule.severity(),
            "{name}: the rule's own severity"
        );
        covered.insert(hit.rule);
        checked += 1;
    }
    assert!(checked >= 100, "the corpus holds {checked} specs");
    // Every rule has a spec here, or needs more than a spec to show (and is tested elsewhere).
    for rule in Rule::ALL {
        let reason = NOT_A_SPEC.iter().find(|(r, _)| r == rule);
        assert!(
            covered.contains(rule) != reason.is_some(),
            "`{rule}`: add a spec to tests/bad, or say why it cannot have one"
        );
    }
}

/// Rules a farm.toml alone cannot show, and where they are tested instead.
const NOT_A_SPEC: &[(Rule, &str)] = &[
    (
        Rule::StatusUnreachable,
        "a live daemon's answer (tests/status.rs, against fake daemons)",
    ),
    (
        Rule::StatusTls,
        "a live daemon's answer (tests/status.rs, against fake daemons)",
    ),
    (
        Rule::StatusVersion,
        "a live daemon's answer (tests/status.rs, against fake daemons)",
    ),
    (
        Rule::StatusPlatform,
        "a live daemon's answer (tests/status.rs, against fake daemons)",
    ),
    (
        Rule::StatusGc,
        "a live daemon's answer (tests/status.rs, against fake daemons)",
    ),
    (
        Rule::StatusGcBehind,
        "a live daemon's answer (tests/status.rs, against fake daemons)",
    ),
    (
        Rule::StatusDiskFull,
        "a live daemon's answer (tests/status.rs, against fake daemons)",
    ),
    (
        Rule::StatusTrust,
        "a live daemon's handshakes (tests/status.rs, against fake daemons)",
    ),
    (
        Rule::StatusCertExpiring,
        "a live daemon's answer (tests/status.rs, against fake daemons)",
    ),
    (
        Rule::StatusCacheHits,
        "a live daemon's answer (tests/status.rs, against fake daemons)",
    ),
    (
        Rule::StatusSpread,
        "live daemons' answers (tests/status.rs, against fake daemons)",
    ),
    (
        Rule::InvalidSpec,
        "the catch-all of a problem with no finer rule: certs commands on a non-generated farm (tests/certs.rs)",
    ),
    (
        Rule::SpecTooLarge,
        "a file over 4 MiB (tests/lint.rs: spec_level_refusals_are_reported_in_every_format)",
    ),
    (
        Rule::TablesStale,
        "a date 90 days past the tables' own (tests/lint.rs: tables_say_when_they_are_stale)",
    ),
    (
        Rule::SpecUnreadable,
        "a missing file or a folder (tests/lint.rs: spec_level_refusals_are_reported_in_every_format)",
    ),
    (
        Rule::CertMissingFile,
        "a certificate folder with half a pair (tests/certs.rs, tests/crash.rs)",
    ),
    (
        Rule::CertInvalid,
        "a corrupt certificate or key on disk (tests/certs.rs)",
    ),
    (
        Rule::CertKeyMismatch,
        "a key swapped on disk (tests/lint.rs: certificate_audit)",
    ),
    (
        Rule::CertNotCa,
        "a leaf certificate in the CA's place (tests/certs.rs)",
    ),
    (
        Rule::CertUntrusted,
        "a certificate from another CA (tests/certs.rs)",
    ),
    (
        Rule::CertWrongUsage,
        "a client certificate in the daemon's place (tests/certs.rs)",
    ),
    (
        Rule::CertExpired,
        "an expired certificate on disk (tests/tls.rs, tests/lint.rs)",
    ),
    (
        Rule::CertExpiring,
        "a certificate close to its end (tests/lint.rs: certificate_audit)",
    ),
    (
        Rule::CertSanMissing,
        "a daemon certificate issued for a smaller farm (tests/lint.rs: certificate_audit)",
    ),
    (
        Rule::CertUnreadable,
        "a certificate folder that cannot be read (tests/certs.rs)",
    ),
    (
        Rule::CertInterrupted,
        "a write killed half-way (tests/crash.rs)",
    ),
    (
        Rule::KeyPermissions,
        "a key file's mode (tests/lint.rs: certificate_audit)",
    ),
    (Rule::UnknownClient, "`client --client` (tests/client.rs)"),
];
