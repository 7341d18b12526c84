//! The binary as users and CI scripts see it: exit codes, stderr, what is written and what is not.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::common::{Test, kind, parse_stream, stderr};

#[test]
fn render_without_a_spec_uses_the_built_in_farm() {
    let mut t = Test::new();
    t = t.run(&["render"]).status(0);
    assert!(
        t.stderr()
            .starts_with("note: no farm.toml here, using the built-in farm")
    );
    let objects = parse_stream(&t.stdout());
    assert_eq!(kind(&objects, "StatefulSet").len(), 2);
    for f in [
        "ca.crt",
        "ca.key",
        "daemon/tls.key",
        "client/default/tls.key",
    ] {
        assert!(t.path("certs").join(f).exists(), "{f}");
    }
}

#[test]
fn render_is_idempotent_across_runs() {
    let mut t = Test::new().spec("[[pool]]\narch = \"arm64\"\n");
    let first = t.output_of(&["render"]);
    let second = t.output_of(&["render"]);
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(first.stdout, second.stdout);
    assert!(stderr(&first).contains("created a new CA"));
    assert!(
        stderr(&second).is_empty(),
        "nothing to say the second time: {}",
        stderr(&second)
    );
}

#[test]
fn cert_files_are_private() {
    let mut t = Test::new();
    t = t.run(&["render"]).status(0);
    let mode = |p: &str| {
        fs::metadata(t.path("certs").join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    for key in ["ca.key", "daemon/tls.key", "client/default/tls.key"] {
        assert_eq!(mode(key), 0o600, "{key}");
    }
    for folder in ["", "daemon", "client/default"] {
        assert_eq!(mode(folder), 0o700, "{folder}");
    }
}

#[test]
fn invalid_spec_exits_1_names_the_place_and_writes_nothing() {
    Test::new()
        .spec("name = \"ci\"\nmode = \"rootles\"\n[[pool]]\narch = \"amd64\"\n")
        .run(&["render", "--out", "deploy"])
        .status(1)
        .stderr_is(
            "error: unknown mode `rootles`\n --> farm.toml:2:8\n  |\n2 | mode = \"rootles\"\n  |        ^^^^^^^^^\n  \
             = hint: expected `rootless`, `privileged` or `userns`; did you mean `rootless`?\n\n\
             error: 1 problem found; nothing was written\n",
        )
        .no_stdout()
        .absent("deploy")
        .absent("certs");
}

#[test]
fn missing_spec_file_is_an_io_error() {
    let t = Test::new()
        .run(&["--spec", "nope.toml", "render"])
        .status(2);
    assert!(
        t.stderr()
            .starts_with("error: failed to read `nope.toml`\ncaused by: "),
        "{}",
        t.stderr()
    );
}

#[test]
fn usage_errors_exit_2() {
    let t = Test::new();
    let t = t
        .run(&["rendr"])
        .status(2)
        .stderr_has("unrecognized subcommand 'rendr'");
    let t = t
        .run(&["render", "--bogus"])
        .status(2)
        .stderr_has("unexpected argument '--bogus'");
    t.run(&[]).status(2).stderr_has("Usage: buildfarm");
}

#[test]
fn help_teaches() {
    Test::new()
        .run(&["--help"])
        .status(0)
        .stdout_has("buildfarm render | kubectl apply -f -")
        .stdout_has("Exit codes: 0 ok, 1 invalid input")
        .run(&["render", "--help"])
        .status(0)
        .stdout_has("--no-secrets")
        .stdout_has("--out <DIR>");
}

#[test]
fn out_writes_one_file_per_object_and_a_kustomization() {
    let mut t = Test::new();
    let out = t.output_of(&["render", "--out", "deploy"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let deploy = t.path("deploy");
    let mut names: Vec<String> = fs::read_dir(&deploy)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names[0], "00-namespace-buildkit.yaml");
    assert!(
        names.contains(&"03-secret-buildkitd-daemon-tls.yaml".to_string()),
        "{names:?}"
    );
    let secret_mode = fs::metadata(deploy.join("03-secret-buildkitd-daemon-tls.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(secret_mode & 0o777, 0o600);
    let kustomization = fs::read_to_string(deploy.join("kustomization.yaml")).unwrap();
    let listed: Vec<&str> = kustomization
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .collect();
    assert_eq!(
        listed,
        names
            .iter()
            .filter(|n| *n != "kustomization.yaml")
            .map(String::as_str)
            .collect::<Vec<_>>()
    );

    // The files hold exactly the stream, in order.
    let stream = t.output_of(&["render"]).stdout;
    let joined = listed
        .iter()
        .map(|f| fs::read_to_string(deploy.join(f)).unwrap())
        .collect::<Vec<_>>()
        .join("---\n");
    assert_eq!(joined.as_bytes(), stream.as_slice());
}

#[test]
fn out_replaces_its_own_folder_and_drops_stale_files() {
    let mut t = Test::new();
    let spec = t.path("farm.toml");
    fs::write(
        &spec,
        "[[pool]]\narch = \"amd64\"\n[[pool]]\narch = \"arm64\"\n",
    )
    .unwrap();
    t = t.run(&["render", "--out", "deploy"]).status(0);
    fs::write(&spec, "[[pool]]\narch = \"amd64\"\n").unwrap();
    t = t
        .run(&["render", "--out", "deploy", "--no-secrets"])
        .status(0);
    let names: Vec<String> = fs::read_dir(t.path("deploy"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains("arm64") && !n.contains("secret")),
        "{names:?}"
    );
    let leftovers: Vec<_> = fs::read_dir(t.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("buildfarm-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn out_refuses_a_folder_it_did_not_write() {
    let mut t = Test::new();
    let mine = t.path("mine");
    fs::create_dir(&mine).unwrap();
    fs::write(mine.join("notes.txt"), "keep me").unwrap();
    t = t.run(&["render", "--out", "mine"]).status(2);
    assert!(
        t.stderr().contains("refusing to replace `mine`"),
        "{}",
        t.stderr()
    );
    assert_eq!(
        fs::read_to_string(mine.join("notes.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn out_never_writes_through_a_symlink() {
    let mut t = Test::new();
    // A folder buildfarm wrote, and a link to it planted where the output goes.
    t = t.run(&["render", "--out", "real"]).status(0);
    let before: Vec<_> = fs::read_dir(t.path("real"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    std::os::unix::fs::symlink(t.path("real"), t.path("deploy")).unwrap();
    let out = t.output_of(&["render", "--out", "deploy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("refusing to replace `deploy`: it is a symbolic link"),
        "{}",
        stderr(&out)
    );
    assert!(
        fs::symlink_metadata(t.path("deploy"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let after: Vec<_> = fs::read_dir(t.path("real"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(before, after);
    // Links planted beside the output are left alone and never written through, and the
    // staging folders (fresh, random names) are gone afterwards.
    let elsewhere = tempfile::tempdir().unwrap();
    for name in [".out.buildfarm-new-1", ".out.buildfarm-old-1"] {
        std::os::unix::fs::symlink(elsewhere.path(), t.path(name)).unwrap();
    }
    t = t.run(&["render", "--out", "out"]).status(0);
    t = t.run(&["render", "--out", "out"]).status(0);
    assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    let beside: Vec<String> = fs::read_dir(t.path(""))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("buildfarm-") && !n.ends_with("-1"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
}

#[test]
fn half_a_leaf_pair_is_refused_not_reissued() {
    let t = Test::new()
        .spec("[[pool]]\narch = \"amd64\"\n")
        .run(&["render"])
        .status(0);
    let key = t.path("certs/daemon/tls.key");
    fs::remove_file(&key).unwrap();
    let crt_before = fs::read(t.path("certs/daemon/tls.crt")).unwrap();
    let t = t
        .run(&["render"])
        .status(1)
        .stderr_has("error: `certs/daemon/tls.crt` has no key beside it (`certs/daemon/tls.key`)\n")
        .stderr_has("hint: remove the folder to have a new pair issued")
        .no_stdout()
        .absent("certs/daemon/tls.key");
    assert_eq!(
        fs::read(t.path("certs/daemon/tls.crt")).unwrap(),
        crt_before
    );
    // The other half alone: the same rule, named the other way round.
    fs::remove_file(t.path("certs/daemon/tls.crt")).unwrap();
    fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    t.run(&["render"]).status(1).stderr_has(
        "error: `certs/daemon/tls.key` has no certificate beside it (`certs/daemon/tls.crt`)\n",
    );
}

#[test]
fn a_lone_ca_certificate_is_refused_not_replaced() {
    let mut t = Test::new().spec("[[pool]]\narch = \"amd64\"\n");
    fs::create_dir(t.path("certs")).unwrap();
    fs::write(t.path("certs/ca.crt"), "-----BEGIN CERTIFICATE-----\n").unwrap();
    t = t.run(&["render"]).status(1);
    assert!(
        t.stderr()
            .starts_with("error: `certs/ca.crt` has no key beside it (`certs/ca.key`)\n"),
        "{}",
        t.stderr()
    );
    assert!(!t.path("certs/ca.key").exists());
}

#[test]
fn a_corrupt_ca_key_is_refused() {
    let mut t = Test::new().spec("[[pool]]\narch = \"amd64\"\n");
    t = t.run(&["render"]).status(0);
    fs::write(t.path("certs/ca.key"), "not a key").unwrap();
    fs::remove_dir_all(t.path("certs/daemon")).unwrap();
    t = t.run(&["render"]).status(1);
    assert!(
        t.stderr()
            .starts_with("error: `certs/ca.key` cannot be used: it is not a usable private key"),
        "{}",
        t.stderr()
    );
}

/// A one-pool farm, rendered with `--out deploy`.
fn rendered_to_deploy() -> Test {
    Test::new()
        .spec("[[pool]]\narch = \"amd64\"\n")
        .run(&["render", "--out", "deploy"])
        .status(0)
}

#[test]
fn check_passes_on_a_fresh_out_folder_and_catches_a_one_character_drift() {
    let mut t = rendered_to_deploy();
    let ok = t.output_of(&["render", "--check", "deploy"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(ok.stdout.is_empty());

    let sts = t.path("deploy/06-statefulset-buildkitd-amd64.yaml");
    let text = fs::read_to_string(&sts).unwrap();
    fs::write(&sts, text.replacen("replicas: 2", "replicas: 3", 1)).unwrap();
    t = t.run(&["render", "--check", "deploy"]).status(1);
    let diff = t.stdout();
    assert!(
        diff.starts_with(
            "--- a/06-statefulset-buildkitd-amd64.yaml\n+++ b/06-statefulset-buildkitd-amd64.yaml\n"
        ),
        "{diff}"
    );
    assert!(
        diff.contains("\n-  replicas: 3\n+  replicas: 2\n"),
        "{diff}"
    );
    assert!(t.stderr().starts_with(
        "error: `deploy` differs from the spec in 1 file: 06-statefulset-buildkitd-amd64.yaml\n"
    ));
}

#[test]
fn check_reports_missing_and_unexpected_files() {
    let mut t = rendered_to_deploy();
    fs::remove_file(t.path("deploy/07-poddisruptionbudget-buildkitd-amd64.yaml")).unwrap();
    fs::write(t.path("deploy/99-stray.yaml"), "kind: Stray\n").unwrap();
    t = t.run(&["render", "--check", "deploy"]).status(1);
    assert!(
        t.stderr()
            .contains("in 2 files: 07-poddisruptionbudget-buildkitd-amd64.yaml, 99-stray.yaml"),
        "{}",
        t.stderr()
    );
}

#[test]
fn check_compares_secrets_by_certificate_not_by_bytes() {
    let mut t = rendered_to_deploy();
    // The same certificates, written differently: reordered keys and a block-style `data`.
    let secret = t.path("deploy/03-secret-buildkitd-daemon-tls.yaml");
    let mut doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&fs::read_to_string(&secret).unwrap()).unwrap();
    let data = doc["data"].as_mapping().unwrap().clone();
    let mut reordered = serde_yaml_ng::Mapping::new();
    for key in ["tls.key", "tls.crt", "ca.crt"] {
        reordered.insert(key.into(), data[key].clone());
    }
    doc["data"] = reordered.into();
    fs::write(&secret, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
    let same = t.output_of(&["render", "--check", "deploy"]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));

    // A new daemon certificate is a real drift, reported without printing key material.
    fs::remove_dir_all(t.path("certs/daemon")).unwrap();
    t = t.run(&["certs", "generate"]).status(0);
    t = t.run(&["render", "--check", "deploy"]).status(1);
    let stdout = t.stdout();
    assert!(
        stdout.contains("03-secret-buildkitd-daemon-tls.yaml: the Secret holds other certificates"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("tls.key:"),
        "no key material in the output"
    );
}

#[test]
fn check_issues_no_certificates_and_writes_nothing() {
    let mut t = Test::new().spec("[[pool]]\narch = \"amd64\"\n");
    fs::create_dir(t.path("deploy")).unwrap();
    t = t.run(&["render", "--check", "deploy"]).status(1);
    assert!(
        t.stderr()
            .starts_with("error: no complete set of certificates in `certs`\n"),
        "{}",
        t.stderr()
    );
    assert!(!t.path("certs").exists());
    assert_eq!(fs::read_dir(t.path("deploy")).unwrap().count(), 0);
}

#[test]
fn bash_completion_completes_subcommands() {
    let mut t = Test::new();
    let script = t.output_of(&["completions", "bash"]);
    assert_eq!(script.status.code(), Some(0));
    fs::write(t.path("buildfarm.bash"), &script.stdout).unwrap();
    let out = Command::new("bash")
        .args(["-c", "source ./buildfarm.bash; COMP_WORDS=(buildfarm ce); COMP_CWORD=1; _buildfarm buildfarm ce buildfarm; echo \"${COMPREPLY[*]}\""])
        .current_dir(t.path(""))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "certs");
    for shell in ["zsh", "fish"] {
        t = t.run(&["completions", shell]).status(0);
        assert!(t.stdout().contains("render"), "{shell}");
    }
}

#[test]
fn man_page_documents_every_command() {
    let mut t = Test::new();
    t = t.run(&["man"]).status(0);
    let page = t.stdout();
    assert!(page.contains(".TH buildfarm 1") && page.contains(".SH NAME"));
    for command in ["render", "lint", "certs", "client", "completions"] {
        assert!(page.contains(command), "{command}");
    }
}

#[test]
fn quiet_and_verbose_only_change_stderr() {
    let mut t = Test::new();
    let normal = t.output_of(&["render"]);
    let quiet = t.output_of(&["render", "--quiet"]);
    let verbose = t.output_of(&["--verbose", "render"]);
    assert!(stderr(&normal).starts_with("note: no farm.toml here"));
    assert_eq!(stderr(&quiet), "");
    assert!(
        stderr(&verbose).contains("info: using the certificates in `certs`"),
        "{}",
        stderr(&verbose)
    );
    assert_eq!(normal.stdout, quiet.stdout);
    assert_eq!(normal.stdout, verbose.stdout);
    t.run(&["render", "-q", "-v"]).status(2);
}

#[test]
fn init_writes_a_farm_that_renders_and_lints_cleanly() {
    let mut t = Test::new();
    let out = t.output_of(&["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = fs::read_to_string(t.path("farm.toml")).unwrap();
    // Every key of farm.toml's schema is named, with its explanation.
    let missing = unnamed_keys(&text, &["metrics_port"]);
    assert!(missing.is_empty(), "init names none of {missing:?}");
    t = t.run(&["lint", "--deny-warnings"]).status(0);
    let rendered = t.output_of(&["render"]);
    assert_eq!(
        kind(
            &parse_stream(&String::from_utf8(rendered.stdout).unwrap()),
            "StatefulSet"
        )
        .len(),
        2
    );
}

#[test]
fn init_takes_mode_and_arches_and_never_overwrites_unasked() {
    let mut t = Test::new();
    t = t
        .run(&["init", "--mode", "userns", "--arch", "amd64,arm64,s390x"])
        .status(0);
    let again = t.output_of(&["init"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).starts_with("error: `farm.toml` exists; pass --force to replace it"));
    let text = fs::read_to_string(t.path("farm.toml")).unwrap();
    // The default target (the oldest supported Kubernetes) runs user namespaces: no pin needed.
    assert!(text.contains("mode = \"userns\"") && text.contains("\n# kubernetes = \"1.35\""));
    assert_eq!(text.matches("\n[[pool]]").count(), 3);
    t = t.run(&["lint", "--deny-warnings"]).status(0);

    t = t.run(&["init", "--arch", "mips", "--force"]).status(2);
    let err = t.stderr();
    assert!(
        err.starts_with("error: invalid value 'mips' for '--arch <ARCH>'")
            && err.contains("possible values: amd64, arm64, arm, ppc64le, s390x, riscv64, 386"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(t.path("farm.toml")).unwrap(),
        text,
        "left as it was"
    );
    t = t
        .run(&["init", "--mode", "privileged", "--force"])
        .status(0);
    assert!(
        fs::read_to_string(t.path("farm.toml"))
            .unwrap()
            .contains("mode = \"privileged\"")
    );
}

#[test]
fn spec_must_be_a_small_regular_utf8_file() {
    let mut t = Test::new();
    // A FIFO would block and /dev/zero never ends: both refused before reading, as usage errors.
    let fifo = t.path("farm.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for path in [
        fifo.to_str().unwrap(),
        "/dev/zero",
        t.path("").to_str().unwrap(),
    ] {
        let out = t.output_of(&["--spec", path, "lint"]);
        assert_eq!(out.status.code(), Some(2), "{path}");
        assert_eq!(
            stderr(&out),
            format!(
                "error: `{path}` is not a regular file: --spec takes a farm.toml, not a device, FIFO or folder\n"
            )
        );
    }
    // Too large: invalid input, read no further than the limit.
    let big = t.path("big.toml");
    fs::write(&big, "#".repeat(5 << 20)).unwrap();
    t = t
        .run(&["--spec", big.to_str().unwrap(), "render"])
        .status(1);
    assert!(
        t.stderr()
            .contains("is larger than 4 MiB, the most a farm.toml may be")
    );
    // Not UTF-8: invalid input, located at the first bad byte.
    let latin1 = t.path("latin1.toml");
    fs::write(&latin1, b"name = \"x\"\nmode = \"r\xe9\"\n").unwrap();
    t = t
        .run(&["--spec", latin1.to_str().unwrap(), "render"])
        .status(1);
    let err = t.stderr();
    assert!(
        err.starts_with("error: the spec is not UTF-8: byte 20 is not valid UTF-8\n"),
        "{err}"
    );
    assert!(err.contains("latin1.toml:2:10"), "{err}");
    assert!(!t.path("certs").exists(), "nothing written");
}

#[test]
fn diagnostics_cannot_drive_the_terminal() {
    let t = Test::new()
        .spec("name = \"x\u{1b}[2J\u{1b}[31mfake\u{202e}\"\n[[pool]]\narch = \"amd64\"\n")
        .run(&["render"])
        .status(1)
        .stderr_has("x\\u{1b}[2J\\u{1b}[31mfake\\u{202e}");
    let err = t.stderr();
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{202e}'),
        "{err:?}"
    );
}

#[test]
fn client_commands_refuse_a_pool_without_daemons() {
    let mut t =
        Test::new().spec("[[pool]]\narch = \"amd64\"\nreplicas = 0\n[[pool]]\narch = \"arm64\"\n");
    for args in [
        &["client", "buildctl", "--key", "group/project"][..],
        &["client", "endpoint", "--key", "group/project"],
        &["client", "buildx"],
        &["client", "gitlab"],
        &["client", "github"],
    ] {
        t = t.run(args).status(1);
        let err = t.stderr();
        assert!(
            err.starts_with("error: pool `amd64` has no daemons (`replicas = 0`): no client can reach it\n --> farm.toml:3:12\n"),
            "{args:?}: {err}"
        );
    }
    // The pool that has daemons still works.
    t.run(&["client", "endpoint", "--pool", "arm64", "--key", "k"])
        .status(0);
}

#[test]
fn render_refuses_what_lint_calls_an_error() {
    let mut t = Test::new();
    let spec = "[gc]\nmax_used = \"120GB\"\n[[pool]]\narch = \"amd64\"\nstorage = \"100Gi\"\n";
    t = t.spec(spec);
    let lint = t.output_of(&["lint", "--format", "json"]);
    assert_eq!(lint.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&lint.stdout).contains("gc-cap-above-volume"));
    for args in [&["render"][..], &["render", "--out", "deploy"]] {
        let out = t.output_of(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out)
                .starts_with("error: `gc.max_used` (120 GiB) does not fit the pool `amd64`")
        );
        assert!(out.stdout.is_empty());
    }
    assert!(
        !t.path("certs").exists() && !t.path("deploy").exists(),
        "nothing written"
    );
}

/// Every key path of `buildfarm schema` (`tls.client.name`, `pool.autoscale.min`, ...), walked
/// through `$ref`s, `anyOf` and arrays, except free-form tables (`buildkitd`, `affinity`, ...).
fn schema_keys() -> Vec<String> {
    let mut t = Test::new();
    let out = t.output_of(&["schema"]);
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    fn resolve<'a>(s: &'a serde_json::Value, root: &'a serde_json::Value) -> &'a serde_json::Value {
        if let Some(r) = s.get("$ref").and_then(|r| r.as_str()) {
            let name = r.rsplit('/').next().unwrap();
            return resolve(&root["$defs"][name], root);
        }
        for k in ["anyOf", "oneOf", "allOf"] {
            if let Some(list) = s.get(k).and_then(|l| l.as_array())
                && let Some(found) = list
                    .iter()
                    .map(|x| resolve(x, root))
                    .find(|x| x.get("properties").is_some() || x.get("items").is_some())
            {
                return found;
            }
        }
        s
    }
    fn walk(s: &serde_json::Value, root: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        let s = resolve(s, root);
        if let Some(items) = s.get("items") {
            return walk(items, root, prefix, out);
        }
        for (key, value) in s
            .get("properties")
            .and_then(|p| p.as_object())
            .into_iter()
            .flatten()
        {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            out.push(path.clone());
            walk(value, root, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&schema, &schema, "", &mut out);
    out
}

/// The schema's keys whose last segment `text` never names as a key (`key =`, `[key]`,
/// `key.`), less `allowed`.
fn unnamed_keys(text: &str, allowed: &[&str]) -> Vec<String> {
    let named = |seg: &str| {
        text.match_indices(seg).any(|(at, _)| {
            let before = text[..at].chars().next_back().unwrap_or(' ');
            let after = text[at + seg.len()..].trim_start_matches(' ');
            " \n{[.,\"`#".contains(before)
                && (after.starts_with('=') || after.starts_with(']') || after.starts_with('.'))
        })
    };
    schema_keys()
        .into_iter()
        .filter(|path| {
            let seg = path.rsplit('.').next().unwrap();
            !allowed.contains(&seg) && !named(seg)
        })
        .collect()
}

/// The README's farm.toml reference names every key of the schema.
#[test]
fn readme_reference_names_every_key_of_the_schema() {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("## farm.toml reference").unwrap();
    let block = &readme[start..];
    let open = block.find("```toml").unwrap();
    let close = open + block[open..].find("\n```\n").unwrap();
    let missing = unnamed_keys(&block[open..close], &[]);
    assert!(
        missing.is_empty(),
        "README's reference names none of {missing:?}"
    );
    assert!(schema_keys().len() > 100, "the walk finds the nested keys");
}
