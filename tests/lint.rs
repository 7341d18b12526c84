//! `buildfarm lint`: every check fires where it should (and not where it should not), the four
//! output formats are pinned, and the exit code follows the worst finding.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use buildfarm::{Diagnostic, Severity, Source};

use crate::common::Test;

fn lint_in(spec: &str, certs: &Path) -> Vec<Diagnostic> {
    crate::common::lint(&Source::new("farm.toml", spec), certs)
}

fn lint(spec: &str) -> Vec<Diagnostic> {
    let certs = tempfile::tempdir().unwrap();
    lint_in(spec, certs.path())
}

/// (rule, severity, line) of every finding.
fn found(spec: &str) -> Vec<(&'static str, Severity, usize)> {
    lint(spec)
        .iter()
        .map(|d| {
            (
                d.rule.name(),
                d.severity,
                d.location.as_ref().map_or(0, |l| l.line),
            )
        })
        .collect()
}

fn has(spec: &str, rule: &'static str, severity: Severity, line: usize) {
    let all = found(spec);
    assert!(
        all.contains(&(rule, severity, line)),
        "expected {rule} ({severity:?}) at line {line}, got {all:?}"
    );
}

fn lacks(spec: &str, rule: &str) {
    // A spec that does not parse lacks every finding but its errors: that proves nothing.
    let source = Source::new("farm.toml", spec);
    if let Err(e) = buildfarm::parse(&source, Path::new(""), None) {
        panic!("the spec must be valid to show a rule's absence:\n{e}");
    }
    let all = found(spec);
    assert!(
        all.iter().all(|(r, _, _)| *r != rule),
        "did not expect {rule}: {all:?}"
    );
}

/// A clean pool: pinned, a memory limit, two replicas.
const POOL: &str = "[[pool]]\narch = \"amd64\"\nreplicas = 2\nstorage = \"100Gi\"\nresources = { limits = { memory = \"8Gi\" } }\n";

#[test]
fn a_clean_farm_has_only_the_mode_notes() {
    assert_eq!(
        found(&format!("[network]\nallow = []\n{POOL}")),
        [
            ("image-digest", Severity::Note, 1),
            ("rootless-no-process-sandbox", Severity::Note, 1),
            ("userns-available", Severity::Note, 1)
        ]
    );
}

#[test]
fn gc_cap_against_the_volume() {
    has(
        &format!("[gc]\nmax_used = \"100GiB\"\n{POOL}"),
        "gc-cap-above-volume",
        Severity::Error,
        2,
    );
    has(
        &format!("[gc]\nmax_used = \"100%\"\n{POOL}"),
        "gc-cap-above-volume",
        Severity::Error,
        2,
    );
    has(
        &format!("[gc]\nmax_used = \"95GiB\"\n{POOL}"),
        "gc-cap-near-volume",
        Severity::Warning,
        2,
    );
    lacks(
        &format!("[gc]\nmax_used = \"75GiB\"\n{POOL}"),
        "gc-cap-near-volume",
    );
    lacks(
        &format!("[gc]\nmax_used = \"75GiB\"\n{POOL}"),
        "gc-cap-above-volume",
    );
    // "100GB" in BuildKit's reading is 100 GiB: exactly the 100Gi volume.
    has(
        &format!("[gc]\nmax_used = \"100GB\"\n{POOL}"),
        "gc-cap-above-volume",
        Severity::Error,
        2,
    );
}

#[test]
fn gc_floor_without_cap_and_above_the_volume() {
    has(
        &format!("[gc]\nreserved = \"10GB\"\n{POOL}"),
        "gc-floor-without-cap",
        Severity::Warning,
        2,
    );
    lacks(
        &format!("[gc]\nreserved = \"10GB\"\nmax_used = \"70GB\"\n{POOL}"),
        "gc-floor-without-cap",
    );
    has(
        &format!("[gc]\nreserved = \"200GB\"\n{POOL}"),
        "gc-floor-above-volume",
        Severity::Error,
        2,
    );
}

#[test]
fn gc_table_without_sizes() {
    has(
        &format!("[gc]\nkeep_duration = \"24h\"\n{POOL}"),
        "gc-without-sizes",
        Severity::Warning,
        1,
    );
    let d = lint(&format!("[gc]\nkeep_duration = \"24h\"\n{POOL}"));
    assert!(d.iter().any(|d| {
        d.message
            .ends_with("`keep_duration` has no effect without them")
    }));
    lacks(POOL, "gc-without-sizes");
}

#[test]
fn unpinned_images() {
    let spec = |image: &str| format!("image = \"{image}\"\nbuildkit_version = \"0.32.2\"\n{POOL}");
    has(
        &spec("moby/buildkit:master-rootless"),
        "image-unpinned",
        Severity::Warning,
        1,
    );
    has(
        &spec("moby/buildkit:rootless"),
        "image-unpinned",
        Severity::Warning,
        1,
    );
    has(
        &spec("moby/buildkit"),
        "image-unpinned",
        Severity::Warning,
        1,
    );
    lacks(
        &spec(&format!("moby/buildkit@sha256:{}", "0a".repeat(32))),
        "image-unpinned",
    );
    lacks(
        &format!("image = \"moby/buildkit:v0.30.0-rootless\"\n{POOL}"),
        "image-unpinned",
    );
}

#[test]
fn mode_and_image_must_agree() {
    has(
        &format!("image = \"moby/buildkit:v0.32.2\"\n{POOL}"),
        "image-mode-mismatch",
        Severity::Error,
        1,
    );
    has(
        &format!("mode = \"privileged\"\nimage = \"moby/buildkit:v0.32.2-rootless\"\n{POOL}"),
        "image-mode-mismatch",
        Severity::Error,
        2,
    );
    lacks(
        &format!("mode = \"privileged\"\nimage = \"moby/buildkit:v0.32.2\"\n{POOL}"),
        "image-mode-mismatch",
    );
}

#[test]
fn network_file_systems() {
    has(
        &format!("{POOL}storage_class = \"efs-sc\"\n"),
        "storage-network-fs",
        Severity::Warning,
        6,
    );
    has(
        &format!("{POOL}storage_class = \"nfs-client\"\n"),
        "storage-network-fs",
        Severity::Warning,
        6,
    );
    lacks(
        &format!("{POOL}storage_class = \"ebs-sc\"\n"),
        "storage-network-fs",
    );
}

#[test]
fn pools_without_memory_limits() {
    has(
        "[[pool]]\narch = \"amd64\"\nresources = { requests = { memory = \"1Gi\" } }\n",
        "memory-limit-missing",
        Severity::Warning,
        3,
    );
    has(
        "[[pool]]\narch = \"amd64\"\n",
        "memory-limit-missing",
        Severity::Warning,
        1,
    );
    lacks(POOL, "memory-limit-missing");
}

#[test]
fn replica_counts() {
    let spec = |n: u32| POOL.replace("replicas = 2", &format!("replicas = {n}"));
    has(&spec(0), "replicas-zero", Severity::Warning, 3);
    has(&spec(1), "single-replica", Severity::Note, 3);
    has(&spec(12), "slow-rollout", Severity::Note, 3);
    for rule in ["replicas-zero", "single-replica", "slow-rollout"] {
        lacks(&spec(2), rule);
    }
}

#[test]
fn deprecated_node_labels() {
    has(
        &format!("{POOL}node_selector = {{ \"beta.kubernetes.io/arch\" = \"amd64\" }}\n"),
        "deprecated-node-label",
        Severity::Warning,
        6,
    );
    lacks(
        &format!("{POOL}node_selector = {{ \"topology.kubernetes.io/zone\" = \"a\" }}\n"),
        "deprecated-node-label",
    );
}

#[test]
fn fields_the_target_kubernetes_lacks() {
    let volume = "[[extra_volume]]\nname = \"tools\"\nmount_path = \"/tools\"\nsource = { image = { reference = \"tools:1\" } }\n";
    has(
        &format!("kubernetes = \"1.30\"\n{volume}{POOL}"),
        "kubernetes-field-unsupported",
        Severity::Warning,
        2,
    );
    // Beta but off by default in 1.33 and 1.34; on by default from 1.35.
    has(
        &format!("kubernetes = \"1.34\"\n{volume}{POOL}"),
        "kubernetes-field-unsupported",
        Severity::Warning,
        2,
    );
    lacks(
        &format!("kubernetes = \"1.35\"\n{volume}{POOL}"),
        "kubernetes-field-unsupported",
    );
    let affinity = "affinity = { podAntiAffinity = { requiredDuringSchedulingIgnoredDuringExecution = [{ topologyKey = \"kubernetes.io/hostname\", matchLabelKeys = [\"pod-template-hash\"] }] } }\n";
    has(
        &format!("kubernetes = \"1.30\"\n{POOL}{affinity}"),
        "kubernetes-field-unsupported",
        Severity::Warning,
        7,
    );
}

#[test]
fn security_notes() {
    has(
        &format!("mode = \"privileged\"\n{POOL}"),
        "privileged-mode",
        Severity::Note,
        1,
    );
    lacks(
        &format!("mode = \"privileged\"\n{POOL}"),
        "rootless-no-process-sandbox",
    );
    has(
        &format!("create_namespace = false\n{POOL}"),
        "namespace-pod-security",
        Severity::Note,
        1,
    );
    has(
        &format!("[tls]\nmode = \"cert-manager\"\n{POOL}"),
        "cert-manager-restart",
        Severity::Note,
        1,
    );
    let userns = found(&format!(
        "mode = \"userns\"\nimage = \"moby/buildkit:v0.35.1@sha256:{}\"\nkubernetes = \"1.36\"\n[network]\nallow = []\n{POOL}",
        "0a".repeat(32)
    ));
    assert!(userns.is_empty(), "{userns:?}");
}

#[test]
fn buildkitd_passthrough_keys() {
    let spec = |t: &str| format!("{POOL}[buildkitd]\n{t}\n");
    has(
        &spec("worker.oci.cniPoolSze = 16"),
        "buildkitd-unknown-key",
        Severity::Warning,
        7,
    );
    let d = lint(&spec("worker.oci.cniPoolSze = 16"));
    assert!(d.iter().any(|d| {
        d.hint
            .as_deref()
            .is_some_and(|h| h.starts_with("did you mean `cniPoolSize`?"))
    }));
    has(
        &spec("registry.\"docker.io\".mirror = [\"m\"]"),
        "buildkitd-unknown-key",
        Severity::Warning,
        7,
    );
    has(
        &spec("worker.containerd.gckeepstorage = 1000"),
        "buildkitd-deprecated-key",
        Severity::Warning,
        7,
    );
    lacks(
        &spec(
            "worker.oci.cniPoolsize = 16\nWORKER.OCI.max-parallelism = 4\nregistry.\"docker.io\".mirrors = [\"m\"]\nregistry.\"r:5000\".http = true\nfrontend.\"dockerfile.v0\".enabled = true\nworker.oci.labels.team = \"ci\"",
        ),
        "buildkitd-unknown-key",
    );
    let old = format!(
        "image = \"moby/buildkit:v0.16.0-rootless\"\n{POOL}[buildkitd]\nworker.containerd.reservedSpace = 1000\n"
    );
    // At the key's own line, below the `[buildkitd]` header.
    has(&old, "buildkitd-unknown-key", Severity::Warning, 8);
}

#[test]
fn parse_errors_are_findings() {
    has(
        "[[pool]]\narch = \"amd64\"\nreplica = 2\n",
        "unknown-key",
        Severity::Error,
        3,
    );
    has(
        "mode = \"rootles\"\n[[pool]]\narch = \"amd64\"\n",
        "unknown-value",
        Severity::Error,
        1,
    );
}

fn issue(certs: &Path, spec: &str) {
    let farm =
        buildfarm::parse(&Source::new("farm.toml", spec), Path::new(""), Some(certs)).unwrap();
    buildfarm::ensure_certs(&farm, &mut Vec::new()).unwrap();
}

#[test]
fn certificate_audit() {
    let certs = tempfile::tempdir().unwrap();
    let spec = format!("[tls]\nclient_days = 10\n[[tls.client]]\nname = \"ci\"\n{POOL}");
    issue(certs.path(), &spec);
    let rules = |spec: &str| {
        lint_in(spec, certs.path())
            .iter()
            .map(|d| (d.rule.name(), d.severity))
            .collect::<Vec<_>>()
    };
    let r = rules(&spec);
    assert!(r.contains(&("cert-expiring", Severity::Warning)), "{r:?}");
    assert!(!r.iter().any(|(rule, _)| *rule == "cert-san-missing"));

    // The spec grows a pool: the certificate on disk no longer covers it.
    let grown = format!(
        "{spec}[[pool]]\narch = \"arm64\"\nreplicas = 2\nresources = {{ limits = {{ memory = \"8Gi\" }} }}\n"
    );
    assert!(rules(&grown).contains(&("cert-san-missing", Severity::Warning)));

    fs::set_permissions(
        certs.path().join("daemon/tls.key"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    assert!(rules(&spec).contains(&("key-permissions", Severity::Warning)));

    fs::copy(
        certs.path().join("client/ci/tls.key"),
        certs.path().join("daemon/tls.key"),
    )
    .unwrap();
    assert!(rules(&spec).contains(&("cert-key-mismatch", Severity::Error)));
}

#[test]
fn lint_writes_nothing() {
    let certs = tempfile::tempdir().unwrap();
    let dir = certs.path().join("never");
    lint_in(POOL, &dir);
    assert!(!dir.exists());
}

const MIXED: &str = "mode = \"privileged\"\nimage = \"moby/buildkit:latest\"\nbuildkit_version = \"0.32.2\"\n[gc]\nmax_used = \"120GB\"\n[[pool]]\narch = \"amd64\"\nreplicas = 2\nstorage = \"100Gi\"\n";

#[test]
fn every_format_is_pinned() {
    let findings = lint(MIXED);
    for (name, format) in [
        ("human", buildfarm::Format::Human),
        ("json", buildfarm::Format::Json),
        ("github", buildfarm::Format::Github),
        ("gitlab", buildfarm::Format::Gitlab),
    ] {
        insta::assert_snapshot!(
            format!("lint_{name}"),
            buildfarm::format_findings(&findings, format)
        );
    }
    let json: serde_json::Value = serde_json::from_str(&buildfarm::format_findings(
        &findings,
        buildfarm::Format::Gitlab,
    ))
    .unwrap();
    let prints: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].as_str().unwrap())
        .collect();
    let mut unique = prints.clone();
    unique.dedup();
    assert_eq!(prints.len(), unique.len(), "fingerprints are distinct");
}

#[test]
fn exit_codes_follow_the_worst_finding() {
    let clean = format!("[network]\nallow = []\n{POOL}");
    let warned = clean.replace("resources = { limits = { memory = \"8Gi\" } }\n", "");
    let t = Test::new()
        .spec(&clean)
        .run(&["lint"])
        .status(0) // notes only
        .run(&["lint", "--deny-warnings"])
        .status(0)
        .spec(&warned)
        .run(&["lint"])
        .status(0) // warnings pass by default
        .run(&["lint", "--deny-warnings"])
        .status(1)
        .spec(MIXED)
        .run(&["lint"])
        .status(1)
        .run(&["lint", "--format", "xml"])
        .status(2);
    assert!(!t.path("certs").exists(), "lint issues no certificates");
}

#[test]
fn image_vulnerable_names_the_advisories_and_the_fix() {
    let spec = format!("image = \"moby/buildkit:v0.32.2-rootless\"\n{POOL}");
    has(&spec, "image-vulnerable", Severity::Warning, 1);
    let d = lint(&spec);
    let v = d.iter().find(|d| d.rule == "image-vulnerable").unwrap();
    assert!(v.message.contains("GHSA-w26x-xg27-7qjc"), "{}", v.message);
    assert!(v.message.contains("GHSA-2f5p-x9ph-g97x"), "{}", v.message);
    assert!(
        v.hint
            .as_deref()
            .unwrap()
            .starts_with("upgrade to v0.34.2 or newer"),
        "{:?}",
        v.hint
    );
    // The fixed patch of the same minor is clean; the pinned release is clean.
    lacks(
        &format!("image = \"moby/buildkit:v0.34.2-rootless\"\n{POOL}"),
        "image-vulnerable",
    );
    lacks(POOL, "image-vulnerable");
    // A warning: `--deny-warnings` turns it into a failing lint.
    Test::new()
        .spec(&spec)
        .run(&["lint", "--deny-warnings"])
        .status(1);
}

#[test]
fn a_digest_pinned_image_is_judged_by_its_buildkit_version() {
    let spec = format!(
        "image = \"moby/buildkit@sha256:{}\"\nbuildkit_version = \"0.33.0\"\n{POOL}",
        "a".repeat(64)
    );
    // The finding sits on the line that says which release it is.
    has(&spec, "image-vulnerable", Severity::Warning, 2);
}

#[test]
fn image_outdated_when_a_newer_patch_exists() {
    has(
        &format!("image = \"moby/buildkit:v0.34.1-rootless\"\n{POOL}"),
        "image-outdated",
        Severity::Note,
        1,
    );
    let d = lint(&format!(
        "image = \"moby/buildkit:v0.35.0-rootless\"\n{POOL}"
    ));
    let n = d.iter().find(|d| d.rule == "image-outdated").unwrap();
    assert!(n.message.ends_with("v0.35.1 (2026-11-19)"), "{}", n.message);
    lacks(POOL, "image-outdated");
}

#[test]
fn kubernetes_eol_for_targets_past_their_end_of_life() {
    has(
        &format!("kubernetes = \"1.30\"\n{POOL}"),
        "kubernetes-eol",
        Severity::Note,
        1,
    );
    let d = lint(&format!("kubernetes = \"1.30\"\n{POOL}"));
    let n = d.iter().find(|d| d.rule == "kubernetes-eol").unwrap();
    assert!(n.message.contains("2025-07-15"), "{}", n.message);
    lacks(&format!("kubernetes = \"1.37\"\n{POOL}"), "kubernetes-eol");
    lacks(POOL, "kubernetes-eol");
}

#[test]
fn userns_is_suggested_where_the_target_runs_it() {
    has(
        &format!("kubernetes = \"1.36\"\n{POOL}"),
        "userns-available",
        Severity::Note,
        1,
    );
    let d = lint(&format!(
        "mode = \"privileged\"\nkubernetes = \"1.36\"\n{POOL}"
    ));
    let n = d.iter().find(|d| d.rule == "userns-available").unwrap();
    assert!(n.message.contains("stable since 1.36"), "{}", n.message);
    assert!(n.hint.as_deref().unwrap().contains("Linux 6.3+"));
    lacks(
        &format!("kubernetes = \"1.32\"\n{POOL}"),
        "userns-available",
    );
}

#[test]
fn deprecated_debug_key_is_reported_from_the_table() {
    let spec = format!("{POOL}[buildkitd]\ntrace = true\n");
    has(&spec, "buildkitd-deprecated-key", Severity::Warning, 7);
    let d = lint(&spec);
    let w = d
        .iter()
        .find(|d| d.rule == "buildkitd-deprecated-key")
        .unwrap();
    assert_eq!(w.hint.as_deref(), Some("use log.level"));
    // Before v0.30 `trace` is the only way, and `[log] level` does not exist yet.
    let old = format!(
        "image = \"moby/buildkit:v0.29.0-rootless\"\n{POOL}[buildkitd]\ntrace = true\nlog.level = \"debug\"\n"
    );
    let d = lint(&old);
    assert!(
        d.iter().all(|d| d.rule != "buildkitd-deprecated-key"),
        "{d:?}"
    );
    assert!(
        d.iter()
            .any(|d| d.rule == "buildkitd-unknown-key" && d.message.contains("log.level"))
    );
}

#[test]
fn network_reachability_is_reported() {
    // No client namespace and no `[network] allow`: only port-forward reaches the farm.
    has(POOL, "network-unreachable", Severity::Warning, 1);
    lacks(
        &format!("[network]\nallow = []\n{POOL}"),
        "network-unreachable",
    );
    lacks(
        &format!("[network]\nallow = [{{ namespace = \"ci\" }}]\n{POOL}"),
        "network-unreachable",
    );
    lacks(
        &format!("[[tls.client]]\nname = \"ci\"\nnamespace = \"ci\"\n{POOL}"),
        "network-unreachable",
    );
    has(
        &format!("network_policy = false\n{POOL}"),
        "network-policy-off",
        Severity::Note,
        1,
    );
    lacks(
        &format!("network_policy = false\n{POOL}"),
        "network-unreachable",
    );
}

#[test]
fn host_path_volumes_are_reported() {
    let volume = |source: &str| {
        format!("[[extra_volume]]\nname = \"v\"\nmount_path = \"/v\"\nsource = {source}\n{POOL}")
    };
    has(
        &volume("{ hostPath = { path = \"/var/run\" } }"),
        "extra-volume-host-path",
        Severity::Warning,
        1,
    );
    lacks(
        &volume("{ configMap = { name = \"ca\" } }"),
        "extra-volume-host-path",
    );
}

#[test]
fn digest_pinning_is_suggested_for_tagged_images() {
    has(POOL, "image-digest", Severity::Note, 1);
    let digest = "0a".repeat(32);
    lacks(
        &format!("image = \"moby/buildkit:v0.35.1-rootless@sha256:{digest}\"\n{POOL}"),
        "image-digest",
    );
}

#[test]
fn a_namespace_the_farm_does_not_create_is_told_its_pod_security_level() {
    let d = lint(&format!("create_namespace = false\n{POOL}"));
    let n = d
        .iter()
        .find(|d| d.rule == "namespace-pod-security")
        .unwrap();
    assert!(
        n.message.contains("Pod Security level `privileged`"),
        "{}",
        n.message
    );
    assert!(
        n.message.contains("seccomp and AppArmor `Unconfined`"),
        "{}",
        n.message
    );
    let d = lint(&format!(
        "create_namespace = false\nmode = \"privileged\"\n{POOL}"
    ));
    let n = d
        .iter()
        .find(|d| d.rule == "namespace-pod-security")
        .unwrap();
    assert!(
        n.message.ends_with("a `privileged` container"),
        "{}",
        n.message
    );
}

#[test]
fn readme_lists_every_rule() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for rule in buildfarm::Rule::ALL {
        let severity = rule.severity().as_str();
        let row = format!("| `{}` | {severity} | {} |", rule.name(), rule.summary());
        assert!(readme.contains(&row), "README lacks the row:\n{row}");
    }
}

/// A spec refused as a whole (too large, not UTF-8, unreadable, nested past the parser's limit)
/// is still a report in the format CI asked for, naming its rule and its place.
#[test]
fn spec_level_refusals_are_reported_in_every_format() {
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    let not_utf8 = fs::read(bad.join("invalid-utf8.toml")).unwrap();
    let deep = fs::read(bad.join("toml-deep-key.toml")).unwrap();
    let large = vec![b'#'; (4 << 20) + 1];
    // (what, file bytes or None for "no such file", rule, line, exit code)
    type Case<'a> = (&'a str, Option<&'a [u8]>, &'a str, u64, i32);
    let cases: [Case; 4] = [
        ("not UTF-8", Some(&not_utf8), "invalid-utf8", 2, 1),
        ("nested too deeply", Some(&deep), "toml-syntax", 3, 1),
        ("over 4 MiB", Some(&large), "spec-too-large", 1, 1),
        ("missing", None, "spec-unreadable", 1, 2),
    ];
    for (what, bytes, rule, line, code) in cases {
        let test = match bytes {
            Some(b) => Test::new().file("spec.toml", b),
            None => Test::new(),
        };
        let test = test
            .run(&["--spec", "spec.toml", "lint", "--format", "json"])
            .status(code);
        let report: serde_json::Value = serde_json::from_str(&test.stdout())
            .unwrap_or_else(|e| panic!("{what}: no JSON report ({e}): {:?}", test.stdout()));
        let finding = &report[0];
        assert_eq!(finding["rule"], rule, "{what}: {report}");
        assert_eq!(finding["file"], "spec.toml", "{what}");
        assert_eq!(finding["line"], line, "{what}");
        let test = test
            .run(&["--spec", "spec.toml", "lint", "--format", "github"])
            .status(code)
            .stdout_has(&format!("file=spec.toml,line={line},"))
            .stdout_has(&format!("title={rule}::"));
        let test = test
            .run(&["--spec", "spec.toml", "lint", "--format", "gitlab"])
            .status(code);
        let report: serde_json::Value = serde_json::from_str(&test.stdout()).unwrap();
        assert_eq!(report[0]["check_name"], rule, "{what}");
        if code == 1 {
            // People see the rule too; an unreadable file stays a plain I/O error for them.
            test.run(&["--spec", "spec.toml", "lint"])
                .status(1)
                .stdout_has(&format!("error[{rule}]: "))
                .stdout_has(&format!("--> spec.toml:{line}:"));
        } else {
            test.run(&["--spec", "spec.toml", "lint"])
                .status(2)
                .stderr_has("failed to read `spec.toml`");
        }
    }
}

/// `[log] level` came with v0.30.0 (moby/buildkit#6732 is in its tag), and `debug` is
/// deprecated from there: a v0.30 farm may use the one and is told about the other.
#[test]
fn log_level_is_known_from_v0_30() {
    let image = "image = \"moby/buildkit:v0.30.0-rootless\"\n";
    lacks(
        &format!("{image}{POOL}[buildkitd]\nlog = {{ level = \"debug\" }}\n"),
        "buildkitd-unknown-key",
    );
    let old = "image = \"moby/buildkit:v0.29.0-rootless\"\n";
    has(
        &format!("{old}{POOL}[buildkitd]\nlog = {{ level = \"debug\" }}\n"),
        "buildkitd-unknown-key",
        Severity::Warning,
        8,
    );
}

/// A patch release's note (not an advisory) rides along with `image-outdated`.
#[test]
fn image_outdated_names_what_the_skipped_patch_changed() {
    let spec = format!("image = \"moby/buildkit:v0.34.0-rootless\"\n{POOL}");
    let all = lint(&spec);
    let d = all
        .iter()
        .find(|d| d.rule.name() == "image-outdated")
        .expect("image-outdated");
    assert!(
        d.message.contains("v0.34.1: a rebuild with a newer Go"),
        "{}",
        d.message
    );
}

/// The tables say when they age: `versions` and lint, 90 days after the tables' date (today
/// from BUILDFARM_TODAY, never the clock, in tests).
#[test]
fn tables_say_when_they_are_stale() {
    use buildfarm::releases::{date, days, tables_checked};
    // The dates 90 and 91 days after the tables' date.
    let date = |n: i64| date(days(tables_checked()).unwrap() + n);
    let spec = format!("{POOL}[network]\nallow = []\n");
    let fresh = Test::new()
        .spec(&spec)
        .env("BUILDFARM_TODAY", &date(90))
        .run(&["lint"]);
    assert!(
        !fresh.stdout().contains("tables-stale"),
        "{}",
        fresh.stdout()
    );
    let fresh = fresh.run(&["versions"]).status(0);
    assert!(!fresh.stdout().contains("days old"), "{}", fresh.stdout());
    let stale = Test::new()
        .spec(&spec)
        .env("BUILDFARM_TODAY", &date(91))
        .run(&["lint"])
        .stdout_has("note[tables-stale]: this buildfarm's release knowledge is 91 days old; a newer buildfarm knows newer BuildKit and Kubernetes releases")
        .run(&["versions"])
        .status(0)
        .stdout_has("release knowledge is 91 days old")
        .run(&["versions", "--format", "json"])
        .status(0);
    let doc: serde_json::Value = serde_json::from_str(&stale.stdout()).unwrap();
    assert_eq!(doc["stale_days"], 91);
    stale
        .env("BUILDFARM_TODAY", "2027-02-30")
        .run(&["versions"])
        .status(2)
        .stderr_has("BUILDFARM_TODAY=\"2027-02-30\" is not a date");
}

/// With trust domains lint audits the client CAs too: a readable client CA key is found, and a
/// client certificate its own CA did not sign is refused as from another CA.
#[test]
fn the_client_cas_of_trust_domains_are_audited() {
    let certs = tempfile::tempdir().unwrap();
    let spec = format!(
        "mode = \"userns\"\n[[tls.client]]\nname = \"a\"\npools = [\"amd64\"]\n[[tls.client]]\nname = \"b\"\npools = [\"amd64\"]\n{POOL}"
    );
    issue(certs.path(), &spec);
    let rules = || {
        lint_in(&spec, certs.path())
            .iter()
            .map(|d| (d.rule.name(), d.severity))
            .collect::<Vec<_>>()
    };
    assert!(
        !rules()
            .iter()
            .any(|(r, _)| r.starts_with("cert-") || *r == "key-permissions"),
        "{:?}",
        rules()
    );
    let key = certs.path().join("client-ca/a/ca.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(rules().contains(&("key-permissions", Severity::Warning)));
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    // Client `a` holding `b`'s certificate: not signed by `a`'s own CA.
    for f in ["tls.crt", "tls.key"] {
        fs::copy(
            certs.path().join("client/b").join(f),
            certs.path().join("client/a").join(f),
        )
        .unwrap();
    }
    assert!(
        rules().contains(&("cert-untrusted", Severity::Error)),
        "{:?}",
        rules()
    );
}
