//! The client side: the commands are parsed back like a shell would and checked flag by flag,
//! the snippets parse as YAML, and rendezvous hashing is stable and fair.

use std::path::{Path, PathBuf};

use buildfarm::preference;

use crate::common::{shell_words, stderr};

const TWO_ARCHES: &str = "[[tls.client]]\nname = \"ci\"\n[[pool]]\narch = \"amd64\"\nreplicas = 3\n[[pool]]\narch = \"arm64\"\n";

/// The two-arch farm named `build`, exposed through load balancers named under
/// `ci.example.com`, with `extra` in its `[expose]` table.
fn exposed(extra: &str) -> String {
    format!(
        "name = \"build\"\n[expose]\ntype = \"loadbalancer\"\ndomain = \"ci.example.com\"\nsource_ranges = [\"203.0.113.0/24\"]\n{extra}{TWO_ARCHES}"
    )
}

/// A farm folder with its certificates issued; runs `buildfarm client ARGS` there.
struct Farm {
    t: std::cell::RefCell<crate::common::Test>,
}

impl Farm {
    fn new(spec: &str) -> Farm {
        Farm {
            t: crate::common::farm_with_certs(spec),
        }
    }

    /// `buildfarm ARGS` in the farm's folder.
    fn run(&self, args: &[&str]) -> std::process::Output {
        self.t.borrow_mut().output_of(args)
    }

    /// A path in the farm's folder.
    fn path(&self, name: &str) -> PathBuf {
        self.t.borrow().path(name)
    }

    fn client(&self, args: &[&str]) -> String {
        let out = self.run(&[&["client"], args].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `buildfarm render` of the farm.
    fn render(&self) -> String {
        let out = self.run(&["render"]);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    fn daemon_sans(&self) -> Vec<String> {
        let pem = std::fs::read_to_string(self.path("certs/daemon/tls.crt")).unwrap();
        buildfarm::read_cert(&pem).unwrap().sans
    }
}

/// Whether a certificate SAN (possibly `*.`) covers `host`.
fn covers(san: &str, host: &str) -> bool {
    match san.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
        None => san == host,
    }
}

fn flag<'a>(words: &'a [String], name: &str) -> Vec<&'a str> {
    words
        .windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].as_str())
        .collect()
}

#[test]
fn buildx_commands_use_the_first_pool_and_append_the_rest() {
    let farm = Farm::new(TWO_ARCHES);
    let out = farm.client(&["buildx"]);
    let commands: Vec<Vec<String>> = out
        .lines()
        .filter(|l| l.starts_with("docker "))
        .map(shell_words)
        .collect();
    let creates: Vec<&Vec<String>> = commands.iter().filter(|w| w[2] == "create").collect();
    assert_eq!(creates.len(), 2);
    assert_eq!(commands.len(), 3, "two creates and the bootstrap");
    assert_eq!(
        commands[2],
        ["docker", "buildx", "inspect", "--bootstrap", "remote"]
    );
    let sans = farm.daemon_sans();
    for (i, (words, (node, platform))) in creates
        .into_iter()
        .zip([("amd64", "linux/amd64"), ("arm64", "linux/arm64")])
        .enumerate()
    {
        assert_eq!(words[..3], ["docker", "buildx", "create"]);
        assert_eq!(flag(words, "--name"), ["remote"]);
        assert_eq!(
            words.iter().filter(|w| *w == "--use").count(),
            usize::from(i == 0)
        );
        assert_eq!(
            words.iter().filter(|w| *w == "--append").count(),
            usize::from(i > 0)
        );
        assert_eq!(flag(words, "--node"), [node]);
        assert_eq!(flag(words, "--platform"), [platform]);
        assert_eq!(flag(words, "--driver"), ["remote"]);
        let opts: std::collections::HashMap<&str, &str> = flag(words, "--driver-opt")[0]
            .split(',')
            .map(|kv| kv.split_once('=').unwrap())
            .collect();
        for key in ["cacert", "cert", "key"] {
            assert!(
                Path::new(opts[key]).is_absolute() && Path::new(opts[key]).exists(),
                "{key}: {}",
                opts[key]
            );
        }
        assert!(
            opts["cacert"].ends_with("client/ci/ca.crt")
                && opts["key"].ends_with("client/ci/tls.key")
        );
        assert!(
            sans.iter().any(|s| covers(s, opts["servername"])),
            "servername {} is a SAN",
            opts["servername"]
        );
        let endpoint = words.last().unwrap();
        assert_eq!(
            *endpoint,
            format!("tcp://buildkitd-{node}.buildkit.svc:1234")
        );
    }
    // Connects once set up, so a TLS or name problem fails here, not in the first build.
    assert!(out.ends_with(
        "docker buildx inspect --bootstrap remote\n\
         # then: docker buildx build --platform linux/amd64,linux/arm64 .\n"
    ));
}

#[test]
fn buildx_through_port_forward_uses_distinct_local_ports() {
    let farm = Farm::new(TWO_ARCHES);
    let out = farm.client(&["buildx", "--via", "port-forward"]);
    let forwards: Vec<Vec<String>> = out
        .lines()
        .filter(|l| l.starts_with("kubectl "))
        .map(shell_words)
        .collect();
    let ports: Vec<&str> = forwards
        .iter()
        .map(|w| w[5].split_once(':').unwrap().0)
        .collect();
    assert_eq!(forwards.len(), 2);
    assert_ne!(ports[0], ports[1]);
    assert_eq!(
        forwards[0][..5],
        [
            "kubectl",
            "-n",
            "buildkit",
            "port-forward",
            "svc/buildkitd-amd64"
        ]
    );
    let creates: Vec<Vec<String>> = out
        .lines()
        .filter(|l| l.starts_with("docker "))
        .map(shell_words)
        .collect();
    for (words, port) in creates.iter().zip(&ports) {
        assert_eq!(*words.last().unwrap(), format!("tcp://127.0.0.1:{port}"));
    }
    assert!(farm.daemon_sans().contains(&"127.0.0.1".to_string()));
}

#[test]
fn paths_are_quoted_for_the_shell() {
    let farm = Farm::new(TWO_ARCHES);
    let out = farm.client(&["buildx", "--certs", "/mnt/ci certs/it's here"]);
    let words = shell_words(out.lines().next().unwrap());
    let opts = flag(&words, "--driver-opt")[0];
    assert!(
        opts.starts_with("cacert=/mnt/ci certs/it's here/ca.crt,"),
        "{opts}"
    );
}

#[test]
fn buildctl_exports_the_host_and_the_tls_flags() {
    let farm = Farm::new(TWO_ARCHES);
    let out = farm.client(&["buildctl", "--pool", "arm64"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "export BUILDKIT_HOST=tcp://buildkitd-arm64.buildkit.svc:1234"
    );
    let words = shell_words(lines[1]);
    // BuildKit v0.21+ reads the Secret's file names from one folder.
    let dir = flag(&words, "--tlsdir")[0];
    for f in ["ca.crt", "tls.crt", "tls.key"] {
        assert!(Path::new(dir).join(f).exists());
    }
    assert_eq!(
        flag(&words, "--tlsservername"),
        ["buildkitd-arm64.buildkit.svc"]
    );

    let old = Farm::new(&format!(
        "image = \"moby/buildkit:v0.16.0-rootless\"\n{TWO_ARCHES}"
    ));
    let words = shell_words(old.client(&["buildctl"]).lines().nth(1).unwrap());
    for (f, file) in [
        ("--tlscacert", "ca.crt"),
        ("--tlscert", "tls.crt"),
        ("--tlskey", "tls.key"),
    ] {
        assert!(
            flag(&words, f)[0].ends_with(&format!("client/ci/{file}")),
            "{f}"
        );
    }
}

#[test]
fn buildctl_with_a_key_pins_the_rendezvous_pod() {
    let farm = Farm::new(TWO_ARCHES);
    let out = farm.client(&["buildctl", "--key", "group/project"]);
    let best = preference("group/project", "buildkitd-amd64", 3)[0];
    let host = format!("buildkitd-amd64-{best}.buildkitd-amd64-headless.buildkit.svc");
    assert!(
        out.starts_with(&format!("export BUILDKIT_HOST=tcp://{host}:1234\n")),
        "{out}"
    );
    assert!(farm.daemon_sans().iter().any(|s| covers(s, &host)));
}

#[test]
fn endpoint_lists_pods_in_preference_order_and_the_cert_covers_them() {
    let farm = Farm::new(TWO_ARCHES);
    let one = farm.client(&["endpoint", "--key", "group/project"]);
    let all = farm.client(&["endpoint", "--key", "group/project", "--all"]);
    let order = preference("group/project", "buildkitd-amd64", 3);
    let expected: String = order
        .iter()
        .map(|i| format!("tcp://buildkitd-amd64-{i}.buildkitd-amd64-headless.buildkit.svc:1234\n"))
        .collect();
    assert_eq!(all, expected);
    assert_eq!(one, expected.lines().next().unwrap().to_string() + "\n");
    let sans = farm.daemon_sans();
    for line in all.lines() {
        let host = line
            .trim_start_matches("tcp://")
            .rsplit_once(':')
            .unwrap()
            .0;
        assert!(
            sans.iter().any(|s| covers(s, host)),
            "{host} is covered by {sans:?}"
        );
    }
}

#[test]
fn growing_a_pool_moves_about_a_quarter_of_the_keys_and_only_to_the_new_pod() {
    let keys: Vec<String> = (0..10_000)
        .map(|i| format!("group-{}/project-{i}", i % 97))
        .collect();
    let mut moved = 0;
    for key in &keys {
        let before = preference(key, "buildkitd-amd64", 3)[0];
        let after = preference(key, "buildkitd-amd64", 4)[0];
        if before != after {
            assert_eq!(after, 3, "{key} moved between old pods");
            moved += 1;
        }
    }
    assert!(
        (2_200..=2_800).contains(&moved),
        "{moved} of 10000 keys moved (expect about 2500)"
    );
}

#[test]
fn keys_spread_evenly_over_the_pods() {
    for replicas in [2u32, 3, 5] {
        let mut counts = vec![0u32; replicas as usize];
        for i in 0..10_000 {
            counts[preference(&format!("project-{i}"), "buildkitd-arm64", replicas)[0] as usize] +=
                1;
        }
        let fair = 10_000.0 / f64::from(replicas);
        for c in &counts {
            assert!(
                (f64::from(*c) - fair).abs() <= fair * 0.15,
                "{replicas} replicas: {counts:?}"
            );
        }
    }
}

#[test]
fn gitlab_snippets_parse_and_use_the_variables_they_declare() {
    let farm = Farm::new(TWO_ARCHES);
    for tool in ["buildctl", "buildx"] {
        let out = farm.client(&["gitlab", "--tool", tool]);
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
        let job = &doc["build-image"];
        let script = crate::common::strings(&job["script"]);
        for var in [
            "BUILDKIT_CA_CERT",
            "BUILDKIT_CLIENT_CERT",
            "BUILDKIT_CLIENT_KEY",
        ] {
            assert!(
                out.contains(&format!("#   {var}")),
                "{tool}: {var} is declared"
            );
            assert!(
                script.iter().any(|s| s.contains(&format!("${var}"))),
                "{tool}: {var} is used"
            );
        }
        // The push needs the job's registry credentials, set up before the first push.
        let login = script
            .iter()
            .position(|s| s.contains("$CI_REGISTRY_PASSWORD") && s.contains("$CI_REGISTRY_USER"))
            .unwrap_or_else(|| panic!("{tool}: no registry login in {script:?}"));
        let push = script.iter().position(|s| s.contains("push")).unwrap();
        assert!(login < push, "{tool}: login before push");
        if tool == "buildx" {
            let creates: Vec<Vec<String>> = script
                .iter()
                .filter(|s| s.starts_with("docker buildx create"))
                .map(|s| shell_words(s))
                .collect();
            assert_eq!(creates.len(), 2);
            assert!(
                creates[0].contains(&"--use".to_string())
                    && creates[1].contains(&"--append".to_string())
            );
            // Fails at setup, not in the build, when TLS or a name is wrong.
            let bootstrap = script
                .iter()
                .position(|s| *s == "docker buildx inspect --bootstrap farm")
                .expect("a bootstrap step");
            let last_create = script
                .iter()
                .rposition(|s| s.starts_with("docker buildx create"));
            let build = script
                .iter()
                .position(|s| s.starts_with("docker buildx build"));
            assert!(last_create < Some(bootstrap) && Some(bootstrap) < build);
        } else {
            assert_eq!(job["image"]["entrypoint"][0].as_str(), Some(""));
            assert_eq!(
                job["variables"]["BUILDKIT_HOST"].as_str(),
                Some("tcp://buildkitd-amd64.buildkit.svc:1234")
            );
        }
    }
}

/// The script lines of `client ARGS`' GitLab job.
fn gitlab_script(farm: &Farm, args: &[&str]) -> Vec<String> {
    let out = farm.client(args);
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
    doc["build-image"]["script"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn gitlab_buildctl_login_writes_a_docker_config_buildctl_reads() {
    let farm = Farm::new(TWO_ARCHES);
    let script: Vec<String> = gitlab_script(&farm, &["gitlab", "--tool", "buildctl"])
        .into_iter()
        .filter(|s| s.starts_with("buildfarm_login"))
        .collect();
    assert_eq!(script.len(), 2, "the function and its call: {script:?}");
    let home = tempfile::tempdir().unwrap();
    // A login a before_script made stays.
    std::fs::create_dir(home.path().join(".docker")).unwrap();
    let earlier = "{\n\t\"auths\": {\n\t\t\"other.example\": {\n\t\t\t\"auth\": \"b3RoZXI6bG9naW4=\"\n\t\t}\n\t},\n\t\"credsStore\": \"\"\n}\n";
    std::fs::write(home.path().join(".docker/config.json"), earlier).unwrap();
    let out = std::process::Command::new("sh")
        .args(["-euc", &script.join("\n")])
        .env("HOME", home.path())
        .env("CI_REGISTRY", "registry.example:5050")
        .env("CI_REGISTRY_USER", "gitlab-ci-token")
        .env("CI_REGISTRY_PASSWORD", "s3cr:et")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = std::fs::read_to_string(home.path().join(".docker/config.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    let auth = config["auths"]["registry.example:5050"]["auth"]
        .as_str()
        .unwrap();
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .unwrap();
    assert_eq!(decoded, b"gitlab-ci-token:s3cr:et");
    assert_eq!(config["auths"]["other.example"]["auth"], "b3RoZXI6bG9naW4=");
    assert_eq!(config["credsStore"], "");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cr:et"));
}

#[test]
fn github_step_parses_with_one_node_per_pool() {
    let farm = Farm::new(TWO_ARCHES);
    let out = farm.client(&["github", "--no-pin"]);
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
    // No pick step: the secrets check, then the setup.
    assert_eq!(doc.as_sequence().unwrap().len(), 2, "{out}");
    assert_eq!(
        doc[0]["name"].as_str(),
        Some("Check the BuildKit farm's secrets")
    );
    let step = &doc[1];
    assert_eq!(step["uses"].as_str(), Some("docker/setup-buildx-action@v4"));
    let with = &step["with"];
    assert_eq!(with["driver"].as_str(), Some("remote"));
    assert_eq!(
        with["endpoint"].as_str(),
        Some("tcp://buildkitd-amd64.buildkit.svc:1234")
    );
    assert_eq!(with["platforms"].as_str(), Some("linux/amd64"));
    let appended: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(with["append"].as_str().unwrap()).unwrap();
    assert_eq!(appended[0]["platforms"].as_str(), Some("linux/arm64"));
    assert_eq!(
        appended[0]["driver-opts"][0].as_str(),
        Some("servername=buildkitd-arm64.buildkit.svc")
    );
    let env = step["env"].as_mapping().unwrap();
    for node in 0..2 {
        for part in ["CACERT", "CERT", "KEY"] {
            let var = format!("BUILDER_NODE_{node}_AUTH_TLS_{part}");
            let value = env
                .get(var.as_str())
                .and_then(|v| v.as_str())
                .unwrap_or_else(|| panic!("{var}"));
            let secret = value
                .trim_start_matches("${{ secrets.")
                .trim_end_matches(" }}");
            let header: String = out.lines().take_while(|l| l.starts_with('#')).collect();
            assert!(
                header.contains(secret),
                "{secret} is declared in the header"
            );
        }
    }
}

#[test]
fn sidecar_snippet_and_patch_parse() {
    let farm = Farm::new(TWO_ARCHES);
    let snippet: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&farm.client(&["sidecar"])).unwrap();
    // A native sidecar: it starts before the job and stops after it, so the job pod completes.
    assert!(snippet.get("containers").is_none());
    let c = &snippet["initContainers"][0];
    assert_eq!(c["restartPolicy"].as_str(), Some("Always"));
    assert_eq!(
        c["securityContext"]["seccompProfile"]["type"].as_str(),
        Some("Unconfined")
    );
    assert_eq!(
        c["securityContext"]["appArmorProfile"]["type"].as_str(),
        Some("Unconfined")
    );
    let args: Vec<&str> = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        args[..2],
        ["--addr", "unix:///run/buildkit-shared/buildkitd.sock"]
    );
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let volumes: Vec<&str> = snippet["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(mounts, volumes);

    let patch: serde_yaml_ng::Value = serde_yaml_ng::from_str(&farm.client(&[
        "sidecar",
        "--format",
        "patch",
        "--target",
        "StatefulSet/gitlab-runner",
    ]))
    .unwrap();
    assert_eq!(patch["kind"].as_str(), Some("StatefulSet"));
    assert_eq!(patch["metadata"]["name"].as_str(), Some("gitlab-runner"));
    assert_eq!(
        patch["spec"]["template"]["spec"]["initContainers"],
        snippet["initContainers"]
    );
}

#[test]
fn the_sidecar_is_locked_down_like_the_farms_daemons() {
    let farm = Farm::new(TWO_ARCHES);
    let snippet: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&farm.client(&["sidecar"])).unwrap();
    let sidecar = &snippet["initContainers"][0];
    // The same securityContext as a rootless daemon of the farm (one shared template block).
    let objects = crate::common::parse_stream(&farm.render());
    let sts = crate::common::kind(&objects, "StatefulSet")[0];
    let daemon = crate::common::container(sts);
    assert_eq!(sidecar["securityContext"], daemon["securityContext"]);
    let sc = &sidecar["securityContext"];
    assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(sc["capabilities"]["drop"][0].as_str(), Some("ALL"));
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    // Over the read-only root, the folders it writes, named so they cannot clash with the job's.
    let mounts: Vec<(&str, &str)> = sidecar["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap(),
                m["mountPath"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        mounts.contains(&("buildkit-runtime", "/run/user/1000")),
        "{mounts:?}"
    );
    assert!(mounts.iter().all(|(name, _)| name.starts_with("buildkit-")));

    // A writable root: neither the flag nor the extra folders.
    let writable = Farm::new(&format!("read_only_root_filesystem = false\n{TWO_ARCHES}"));
    let snippet: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&writable.client(&["sidecar"])).unwrap();
    let sidecar = &snippet["initContainers"][0];
    assert!(
        sidecar["securityContext"]
            .get("readOnlyRootFilesystem")
            .is_none()
    );
    assert_eq!(snippet["volumes"].as_sequence().unwrap().len(), 2);
}

#[test]
fn sidecar_is_a_plain_container_before_native_sidecars() {
    let farm = Farm::new(&format!("kubernetes = \"1.28\"\n{TWO_ARCHES}"));
    let snippet: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&farm.client(&["sidecar"])).unwrap();
    assert!(snippet.get("initContainers").is_none());
    let c = &snippet["containers"][0];
    assert!(c.get("restartPolicy").is_none());
    // No AppArmor field before 1.30 either.
    assert!(c["securityContext"].get("appArmorProfile").is_none());
}

#[test]
fn unknown_clients_and_pools_are_refused_with_a_suggestion() {
    let farm = Farm::new(TWO_ARCHES);
    let out = farm.run(&["client", "buildctl", "--pool", "arm46"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: no pool is named `arm46`\n")
            && err.contains("did you mean `arm64`?"),
        "{err}"
    );
    let out = farm.run(&["client", "buildx", "--client", "cj"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: no `[[tls.client]]` is named `cj`\n")
            && err.contains("the spec's clients: `ci`"),
        "{err}"
    );
}

#[test]
fn a_relative_certs_folder_is_said_to_be_resolved_here() {
    let t = crate::common::Test::new()
        .spec(TWO_ARCHES)
        .run(&["client", "buildx", "--certs", "ci/certs"])
        .status(0)
        .stderr_has("note: `--certs ci/certs` is relative: the commands use `");
    let resolved = t.path("ci/certs");
    let expected = format!("cacert={}/ca.crt", resolved.display());
    let t = t.stdout_has(&expected);
    // An absolute folder is taken as written, without a note.
    t.run(&["client", "buildx", "--certs", "/etc/ci/certs"])
        .status(0)
        .stdout_has("cacert=/etc/ci/certs/ca.crt")
        .stderr_lacks("--certs");
}

#[test]
fn buildx_via_external_uses_each_pools_external_name() {
    let farm = Farm::new(&exposed(""));
    let out = farm.client(&["buildx", "--via", "external"]);
    let creates: Vec<Vec<String>> = out
        .lines()
        .filter(|l| l.starts_with("docker buildx create"))
        .map(shell_words)
        .collect();
    assert_eq!(creates.len(), 2);
    let sans = farm.daemon_sans();
    for (words, pool) in creates.iter().zip(["amd64", "arm64"]) {
        let host = format!("build-{pool}.ci.example.com");
        assert_eq!(words.last().unwrap(), &format!("tcp://{host}:1234"));
        let opts = flag(words, "--driver-opt")[0];
        assert!(opts.ends_with(&format!(",servername={host}")), "{opts}");
        assert!(
            sans.contains(&host),
            "{host} is a SAN of the daemon certificate"
        );
    }
    // A farm without external names says what to add, and prints nothing.
    let plain = Farm::new(TWO_ARCHES);
    let out = plain.run(&["client", "buildx", "--via", "external"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.starts_with("error: `--via external` needs the pools' external names"),
        "{err}"
    );
    assert!(err.contains("domain = \"ci.example.com\""), "{err}");
}

#[test]
fn github_step_via_external_names_every_node_by_its_external_name() {
    let farm = Farm::new(&exposed(""));
    let out = farm.client(&["github", "--via", "external"]);
    assert!(out.contains("# `[expose] source_ranges`"), "{out}");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
    let with = &doc[1]["with"];
    assert_eq!(
        with["endpoint"].as_str(),
        Some("tcp://build-amd64.ci.example.com:1234")
    );
    assert_eq!(
        with["driver-opts"].as_str(),
        Some("servername=build-amd64.ci.example.com")
    );
    let appended: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(with["append"].as_str().unwrap()).unwrap();
    assert_eq!(
        appended[0]["endpoint"].as_str(),
        Some("tcp://build-arm64.ci.example.com:1234")
    );
    assert_eq!(
        appended[0]["driver-opts"][0].as_str(),
        Some("servername=build-arm64.ci.example.com")
    );
    // A runner cannot port-forward: clap refuses it, and says what `--via` takes.
    for command in ["github", "gitlab", "buildctl", "endpoint"] {
        let mut args = vec!["client", command, "--via", "port-forward"];
        if command == "endpoint" {
            args.extend(["--key", "group/project"]);
        }
        let out = farm.run(&args);
        assert_eq!(out.status.code(), Some(2), "{command}");
        let err = stderr(&out);
        assert!(
            err.contains("invalid value 'port-forward' for '--via <VIA>'")
                && err.contains("[possible values: service, external]"),
            "{command}: {err}"
        );
    }
}

#[test]
fn gitlab_jobs_via_external_use_the_external_names() {
    let farm = Farm::new(&exposed(""));
    let script = |tool: &str| -> Vec<Vec<String>> {
        let out = farm.client(&["gitlab", "--tool", tool, "--via", "external"]);
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
        let job = &doc["build-image"];
        if tool == "buildctl" {
            assert_eq!(
                job["variables"]["BUILDKIT_HOST"].as_str(),
                Some("tcp://build-amd64.ci.example.com:1234")
            );
        }
        job["script"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|s| shell_words(s.as_str().unwrap()))
            .collect()
    };
    // The build runs through `buildfarm_build`, which adds the certificate hint on failure.
    let build = script("buildctl")
        .into_iter()
        .find(|w| w[0] == "buildfarm_build" && w[1] == "buildctl")
        .map(|w| w[1..].to_vec())
        .unwrap();
    assert_eq!(
        flag(&build, "--tlsservername"),
        ["build-amd64.ci.example.com"]
    );
    let creates: Vec<Vec<String>> = script("buildx")
        .into_iter()
        .filter(|w| w.get(2).map(String::as_str) == Some("create"))
        .collect();
    for (words, pool) in creates.iter().zip(["amd64", "arm64"]) {
        let host = format!("build-{pool}.ci.example.com");
        assert_eq!(words.last().unwrap(), &format!("tcp://{host}:1234"));
        assert!(flag(words, "--driver-opt")[0].ends_with(&format!("servername={host}")));
    }
    assert_eq!(creates.len(), 2);
}

#[test]
fn buildctl_via_external_uses_the_pools_external_name() {
    let farm = Farm::new(&exposed(""));
    let out = farm.client(&["buildctl", "--pool", "arm64", "--via", "external"]);
    let host = "build-arm64.ci.example.com";
    assert!(
        out.starts_with(&format!("export BUILDKIT_HOST=tcp://{host}:1234\n")),
        "{out}"
    );
    let function = out.lines().nth(1).unwrap();
    assert!(
        function.contains(&format!("--tlsservername {host} ")),
        "{function}"
    );
    // Without per-pod names, a pinned client cannot reach its pod from outside: say what to add.
    let args = [
        "client",
        "buildctl",
        "--via",
        "external",
        "--key",
        "group/project",
    ];
    let refused = farm.run(&args);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("add `per_pod = true` and a `domain`"));
    assert!(refused.stdout.is_empty());
}

#[test]
fn per_pod_exposure_pins_a_project_to_its_pod_from_outside() {
    let farm = Farm::new(&exposed("per_pod = true\n"));
    let key = "group/project";
    // The same pods in the same order as inside the cluster, by their external names.
    let inside = farm.client(&["endpoint", "--key", key, "--all"]);
    let outside = farm.client(&["endpoint", "--key", key, "--all", "--via", "external"]);
    let ordinal = |line: &str, suffix: &str| -> String {
        let host = line.trim_start_matches("tcp://").trim_end_matches(":1234");
        host.strip_suffix(suffix)
            .unwrap_or_else(|| panic!("{line}"))
            .to_string()
    };
    let inside: Vec<String> = inside
        .lines()
        .map(|l| ordinal(l, ".build-amd64-headless.buildkit.svc"))
        .collect();
    let outside: Vec<String> = outside
        .lines()
        .map(|l| ordinal(l, ".ci.example.com"))
        .collect();
    assert_eq!(inside.len(), 3);
    assert_eq!(inside, outside);
    // Each pod's name is in the daemon certificate, and buildctl pins to the first.
    let sans = farm.daemon_sans();
    for pod in &outside {
        assert!(sans.contains(&format!("{pod}.ci.example.com")), "{pod}");
    }
    let out = farm.client(&["buildctl", "--via", "external", "--key", key]);
    let first = format!("tcp://{}.ci.example.com:1234", outside[0]);
    assert!(
        out.starts_with(&format!("export BUILDKIT_HOST={first}\n")),
        "{out}"
    );
}

/// The GitLab buildctl job's shell definitions (`buildfarm_pods`, `buildfarm_answers`,
/// `buildfarm_pick`) and the line that picks the pod (`BUILDKIT_POD=...`), runnable.
fn gitlab_pin_functions(farm: &Farm) -> String {
    let script = gitlab_script(farm, &["gitlab"]);
    let names = ["pods", "answers", "hint", "pick"].map(|f| format!("buildfarm_{f}() {{"));
    let defs: Vec<&String> = script
        .iter()
        .filter(|s| names.iter().any(|n| s.starts_with(n.as_str())))
        .collect();
    assert_eq!(defs.len(), 4, "{defs:?}");
    let pick = script
        .iter()
        .find(|s| s.starts_with("BUILDKIT_POD="))
        .unwrap();
    format!(
        "{}\n{pick}\n",
        defs.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    )
}

#[test]
fn gitlab_pins_each_project_to_the_pod_client_endpoint_names_under_dash_and_bash() {
    let farm = Farm::new(TWO_ARCHES);
    let dir = &farm.path("");
    let keys: Vec<String> = (0..1000)
        .map(|i| format!("group-{}/project {i}", i % 7))
        .collect();
    std::fs::write(dir.join("keys.txt"), keys.join("\n") + "\n").unwrap();
    let script = gitlab_pin_functions(&farm)
        + "while IFS= read -r key; do buildfarm_pods \"$key\" buildkitd-amd64 3 | tr '\\n' ' '; echo; done < keys.txt\n";
    std::fs::write(dir.join("pods.sh"), script).unwrap();
    let expected: Vec<String> = keys
        .iter()
        .map(|k| {
            preference(k, "buildkitd-amd64", 3)
                .iter()
                .map(|i| format!("{i} "))
                .collect()
        })
        .collect();
    for shell in ["dash", "bash"] {
        let out = std::process::Command::new(shell)
            .arg("pods.sh")
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let got: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
        assert_eq!(got.len(), keys.len(), "{shell}");
        for ((key, want), got) in keys.iter().zip(&expected).zip(&got) {
            assert_eq!(got, want, "{shell}: key {key:?}");
        }
    }
    // And `client endpoint` names the same first pod.
    let first = farm.client(&["endpoint", "--key", &keys[0]]);
    let ordinal = expected[0].split(' ').next().unwrap();
    assert!(
        first.starts_with(&format!("tcp://buildkitd-amd64-{ordinal}.")),
        "{first}"
    );
}

#[test]
fn gitlab_pin_falls_back_to_the_next_pod_then_the_service() {
    let farm = Farm::new(TWO_ARCHES);
    let dir = &farm.path("");
    // A fake buildctl: the daemons named in DOWN do not answer.
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = "#!/bin/sh\nfor down in $DOWN; do case \"$*\" in *\"tcp://$down:\"*) exit 1;; esac; done\nexit 0\n";
    std::fs::write(bin.join("buildctl"), fake).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("buildctl"), std::fs::Permissions::from_mode(0o755)).unwrap();
    // The job's own pick, for CI_PROJECT_PATH.
    let script = gitlab_pin_functions(&farm) + "echo \"$BUILDKIT_POD\"\n";
    std::fs::write(dir.join("pick.sh"), script).unwrap();
    let order = preference("group/project", "buildkitd-amd64", 3);
    let pod = |i: u32| format!("buildkitd-amd64-{i}.buildkitd-amd64-headless.buildkit.svc");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let pick = |down: &[String]| {
        let out = std::process::Command::new("dash")
            .arg("pick.sh")
            .current_dir(dir)
            .env("PATH", &path)
            .env("DOWN", down.join(" "))
            .env("CI_PROJECT_PATH", "group/project")
            .env("BUILDKIT_CA_CERT", "ca.crt")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(pick(&[]), pod(order[0]));
    assert_eq!(
        pick(&[pod(order[0])]),
        pod(order[1]),
        "the first pod is stopped"
    );
    let all: Vec<String> = order.iter().map(|&i| pod(i)).collect();
    assert_eq!(
        pick(&all),
        "buildkitd-amd64.buildkit.svc",
        "none answers: the Service"
    );
}

#[test]
fn gitlab_pinning_follows_key_var_and_no_pin_restores_the_service() {
    let farm = Farm::new(TWO_ARCHES);
    let out = farm.client(&["gitlab", "--key-var", "CI_PROJECT_ID"]);
    assert!(
        out.contains("buildfarm_pick \\\"$CI_PROJECT_ID\\\""),
        "{out}"
    );
    let unpinned = farm.client(&["gitlab", "--no-pin"]);
    assert!(!unpinned.contains("buildfarm_pick"), "{unpinned}");
    assert!(unpinned.contains("--tlsservername buildkitd-amd64.buildkit.svc build"));
    let bad = farm.run(&["client", "gitlab", "--key-var", "CI-PATH"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("is not a variable name"));
}

#[test]
fn gitlab_pins_from_outside_through_per_pod_names() {
    let per_pod = Farm::new(&exposed("per_pod = true\n"));
    let script = gitlab_script(&per_pod, &["gitlab", "--via", "external"]);
    let pick = script
        .iter()
        .find(|s| s.starts_with("BUILDKIT_POD="))
        .unwrap();
    // Pods `build-amd64-<i>.ci.example.com`, else the pool's own name.
    assert!(
        pick.contains("buildfarm_pick \"$CI_PROJECT_PATH\" build-amd64 3 ci.example.com 1234 build-amd64.ci.example.com"),
        "{pick}"
    );
    // Without per-pod names there is nothing to pin to from outside: the pool's name, as before.
    let pooled = Farm::new(&exposed(""));
    let out = pooled.client(&["gitlab", "--via", "external"]);
    assert!(!out.contains("buildfarm_pick"), "{out}");
    assert!(
        out.contains("--tlsservername build-amd64.ci.example.com build"),
        "{out}"
    );
}

/// A fake `docker` for the buildx jobs' pick: a probe builder (`buildfarm-probe`) answers
/// unless its host is in `$DOWN`; every call is logged to `docker.log`, and for the GitHub
/// step the client key's mode when the probe runs.
const FAKE_DOCKER: &str = r#"#!/bin/sh
echo "$*" >> "$LOG"
case "$*" in
  "buildx create --name buildfarm-probe "*)
    for word in "$@"; do last=$word; done
    host=${last#tcp://}; echo "${host%:*}" > "$STATE"
    if [ -n "$RUNNER_TEMP" ]; then stat -c %a "$RUNNER_TEMP/buildfarm-tls/tls.key" >> "$KEYMODE"; fi ;;
  "buildx inspect --bootstrap buildfarm-probe")
    for down in $DOWN; do [ "$down" = "$(cat "$STATE")" ] && exit 1; done ;;
esac
exit 0
"#;

/// A folder with the fake `docker` on PATH; runs `script` under dash with `env`, returns the
/// log of docker calls.
fn run_with_fake_docker(
    script: &str,
    down: &[String],
    env: &[(&str, &str)],
) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("docker"), FAKE_DOCKER).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("docker"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("job.sh"), script).unwrap();
    for file in ["ca.crt", "tls.crt", "tls.key"] {
        std::fs::write(dir.path().join(file), "stand-in\n").unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = std::process::Command::new("dash")
        .arg("-e")
        .arg("job.sh")
        .current_dir(dir.path())
        .env("PATH", path)
        .env("DOWN", down.join(" "))
        .env("LOG", dir.path().join("docker.log"))
        .env("STATE", dir.path().join("probe"))
        .env("KEYMODE", dir.path().join("keymode"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let log = std::fs::read_to_string(dir.path().join("docker.log")).unwrap();
    (log, dir)
}

/// The endpoint each `docker buildx create --name farm` line of `log` gives its node.
fn farm_nodes(log: &str, builder: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.starts_with(&format!("buildx create --name {builder} ")))
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect()
}

#[test]
fn gitlab_buildx_job_pins_every_pool_and_skips_a_stopped_pod() {
    let farm = Farm::new(TWO_ARCHES);
    let script = gitlab_script(&farm, &["gitlab", "--tool", "buildx"]).join("\n") + "\n";
    let key = "group/project";
    let pod =
        |pool: &str, i: u32| format!("buildkitd-{pool}-{i}.buildkitd-{pool}-headless.buildkit.svc");
    let amd = preference(key, "buildkitd-amd64", 3);
    let arm = preference(key, "buildkitd-arm64", 2);
    // The job checks its File variables first: files in the job's folder.
    let env = [
        ("CI_PROJECT_PATH", key),
        ("BUILDKIT_CA_CERT", "ca.crt"),
        ("BUILDKIT_CLIENT_CERT", "tls.crt"),
        ("BUILDKIT_CLIENT_KEY", "tls.key"),
    ];
    let (log, _dir) = run_with_fake_docker(&script, &[], &env);
    assert_eq!(
        farm_nodes(&log, "farm"),
        [
            format!("tcp://{}:1234", pod("amd64", amd[0])),
            format!("tcp://{}:1234", pod("arm64", arm[0]))
        ]
    );
    // The probe carried the client's certificate and the pod's name.
    assert!(
        log.contains(&format!(
            "cacert=ca.crt,cert=tls.crt,key=tls.key,servername={}",
            pod("amd64", amd[0])
        )),
        "{log}"
    );
    // amd64's best pod is stopped: the next one in its order; arm64 keeps its own.
    let (log, _dir) = run_with_fake_docker(&script, &[pod("amd64", amd[0])], &env);
    assert_eq!(
        farm_nodes(&log, "farm"),
        [
            format!("tcp://{}:1234", pod("amd64", amd[1])),
            format!("tcp://{}:1234", pod("arm64", arm[0]))
        ]
    );
    // Every probe builder is removed again, and the farm is bootstrapped before the build.
    let probes = log.matches("buildx create --name buildfarm-probe").count();
    assert_eq!(log.matches("buildx rm buildfarm-probe").count(), probes);
    let lines: Vec<&str> = log.lines().collect();
    let bootstrap = lines
        .iter()
        .position(|l| *l == "buildx inspect --bootstrap farm")
        .unwrap();
    assert!(lines[bootstrap + 1].starts_with("buildx build"));
    // --no-pin: the pools' Services, and no probe.
    let unpinned = gitlab_script(&farm, &["gitlab", "--tool", "buildx", "--no-pin"]).join("\n");
    assert!(!unpinned.contains("buildfarm_pick"), "{unpinned}");
}

#[test]
fn github_pick_step_pins_every_pool_and_hands_the_pods_to_setup_buildx() {
    let farm = Farm::new(TWO_ARCHES);
    let out = farm.client(&["github"]);
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
    let (pick, setup) = (&doc[0], &doc[1]);
    assert_eq!(pick["id"].as_str(), Some("buildfarm"));
    // The repository reaches the script through the environment, never spliced into it.
    assert_eq!(
        pick["env"]["BUILDFARM_KEY"].as_str(),
        Some("${{ github.repository }}")
    );
    let run = pick["run"].as_str().unwrap();
    assert!(!run.contains("${{"), "{run}");
    let key = "octo/app";
    let runner_temp = tempfile::tempdir().unwrap();
    let outputs = runner_temp.path().join("outputs");
    let temp = runner_temp.path().display().to_string();
    let env = [
        ("BUILDFARM_KEY", key),
        ("RUNNER_TEMP", temp.as_str()),
        ("GITHUB_OUTPUT", outputs.to_str().unwrap()),
        ("BUILDFARM_TLS_CA", "-----BEGIN CERTIFICATE-----"),
        ("BUILDFARM_TLS_CERT", "-----BEGIN CERTIFICATE-----"),
        ("BUILDFARM_TLS_KEY", "-----BEGIN PRIVATE KEY-----"),
    ];
    let amd = preference(key, "buildkitd-amd64", 3);
    let arm = preference(key, "buildkitd-arm64", 2);
    let pod =
        |pool: &str, i: u32| format!("buildkitd-{pool}-{i}.buildkitd-{pool}-headless.buildkit.svc");
    let (log, dir) = run_with_fake_docker(run, &[pod("arm64", arm[0])], &env);
    let said = std::fs::read_to_string(&outputs).unwrap();
    assert_eq!(
        said,
        format!(
            "pod0={}\npod1={}\n",
            pod("amd64", amd[0]),
            pod("arm64", arm[1])
        )
    );
    assert!(
        log.contains(&format!("cacert={temp}/buildfarm-tls/ca.crt")),
        "{log}"
    );
    // The key was private while the probes ran, and is gone afterwards.
    let modes = std::fs::read_to_string(dir.path().join("keymode")).unwrap();
    assert!(modes.lines().all(|m| m == "600"), "{modes}");
    assert!(!runner_temp.path().join("buildfarm-tls").exists());
    // setup-buildx-action takes the picks as its nodes.
    let with = &setup["with"];
    assert_eq!(
        with["endpoint"].as_str(),
        Some("tcp://${{ steps.buildfarm.outputs.pod0 }}:1234")
    );
    assert_eq!(
        with["driver-opts"].as_str(),
        Some("servername=${{ steps.buildfarm.outputs.pod0 }}")
    );
    let appended: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(with["append"].as_str().unwrap()).unwrap();
    assert_eq!(
        appended[0]["endpoint"].as_str(),
        Some("tcp://${{ steps.buildfarm.outputs.pod1 }}:1234")
    );
    // Another key variable: no BUILDFARM_KEY, the workflow's own.
    let other = farm.client(&["github", "--key-var", "PROJECT"]);
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&other).unwrap();
    assert!(doc[0]["env"].get("BUILDFARM_KEY").is_none());
    assert!(
        doc[0]["run"]
            .as_str()
            .unwrap()
            .contains("buildfarm_pick \"$PROJECT\"")
    );
}

#[test]
fn buildx_with_a_key_lists_each_pools_pods_in_endpoint_order() {
    let farm = Farm::new(TWO_ARCHES);
    let key = "group/project";
    let out = farm.client(&["buildx", "--key", key]);
    let creates: Vec<Vec<String>> = out
        .lines()
        .filter(|l| l.starts_with("docker buildx create"))
        .map(shell_words)
        .collect();
    let mut want = Vec::new();
    for pool in ["amd64", "arm64"] {
        let all = farm.client(&["endpoint", "--key", key, "--pool", pool, "--all"]);
        want.extend(all.lines().map(|e| (pool, e.to_string())));
    }
    assert_eq!(creates.len(), want.len());
    for (i, (words, (pool, endpoint))) in creates.iter().zip(&want).enumerate() {
        assert_eq!(words.last().unwrap(), endpoint);
        assert_eq!(
            flag(words, "--platform"),
            [format!("linux/{pool}").as_str()]
        );
        let host = endpoint
            .trim_start_matches("tcp://")
            .trim_end_matches(":1234");
        assert!(flag(words, "--driver-opt")[0].ends_with(&format!("servername={host}")));
        assert_eq!(words.contains(&"--use".to_string()), i == 0);
    }
    let out = farm.run(&["client", "buildx", "--key", key, "--via", "port-forward"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn through_a_gateway_clients_use_its_port_and_every_daemon_has_its_name() {
    let spec = "name = \"build\"\n[expose]\ntype = \"gateway\"\ndomain = \"builds.example.com\"\ngateway = { name = \"shared\", port = 8443 }\n".to_string() + TWO_ARCHES;
    let farm = Farm::new(&spec);
    let key = "group/project";
    let best = preference(key, "build-amd64", 3)[0];
    assert_eq!(
        farm.client(&["endpoint", "--via", "external", "--key", key]),
        format!("tcp://build-amd64-{best}.builds.example.com:8443\n")
    );
    let out = farm.client(&["buildctl", "--via", "external"]);
    assert!(
        out.starts_with("export BUILDKIT_HOST=tcp://build-amd64.builds.example.com:8443\n"),
        "{out}"
    );
    // Per-daemon names by default: the GitLab job pins from outside too.
    let script = gitlab_script(&farm, &["gitlab", "--via", "external"]);
    let pick = script
        .iter()
        .find(|s| s.starts_with("BUILDKIT_POD="))
        .unwrap();
    assert!(
        pick.contains("build-amd64 3 builds.example.com 8443 build-amd64.builds.example.com"),
        "{pick}"
    );
    // Every one of those names is in the daemon certificate.
    let sans = farm.daemon_sans();
    for i in 0..3 {
        let host = format!("build-amd64-{i}.builds.example.com");
        assert!(sans.iter().any(|s| s == &host), "{host}");
    }
}

/// The pod spec a GitLab or ARC sidecar snippet describes: the sidecar joins the job's own
/// container, which reaches it through the shared socket.
fn assert_job_reaches_the_sidecar(spec: &serde_yaml_ng::Value, job: &str, native: bool) {
    let (sidecars, containers) = match native {
        true => (&spec["initContainers"], &spec["containers"]),
        false => (&spec["containers"], &spec["containers"]),
    };
    let sidecar = sidecars
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str() == Some("buildkitd"))
        .unwrap();
    assert_eq!(sidecar.get("restartPolicy").is_some(), native);
    let job = containers
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str() == Some(job))
        .unwrap_or_else(|| panic!("no `{job}` container"));
    let addr = sidecar["args"][1].as_str().unwrap();
    assert_eq!(job["env"][0]["name"].as_str(), Some("BUILDKIT_HOST"));
    assert_eq!(job["env"][0]["value"].as_str(), Some(addr));
    let socket_dir = |c: &serde_yaml_ng::Value| {
        c["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| m["name"].as_str() == Some("buildkit-socket"))
            .map(|m| m["mountPath"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(addr.starts_with(&format!("unix://{}/", socket_dir(sidecar))));
    assert_eq!(socket_dir(job), socket_dir(sidecar));
    let volumes: Vec<&str> = spec["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    for c in [sidecar, job] {
        for m in c["volumeMounts"].as_sequence().unwrap() {
            assert!(volumes.contains(&m["name"].as_str().unwrap()));
        }
    }
}

#[test]
fn sidecar_for_gitlabs_kubernetes_executor_patches_the_job_pod() {
    for (kubernetes, native) in [("1.35", true), ("1.28", false)] {
        let farm = Farm::new(&format!("kubernetes = \"{kubernetes}\"\n{TWO_ARCHES}"));
        let out = farm.client(&["sidecar", "--format", "gitlab"]);
        assert!(
            out.contains("FF_USE_ADVANCED_POD_SPEC_CONFIGURATION"),
            "{out}"
        );
        let config: toml::Table = toml::from_str(&out).unwrap();
        let pod_spec = &config["runners"]["kubernetes"]["pod_spec"][0];
        assert_eq!(pod_spec["patch_type"].as_str(), Some("strategic"));
        let patch: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(pod_spec["patch"].as_str().unwrap()).unwrap();
        // The job's main container is `build`: the patch merges into it by name.
        assert_job_reaches_the_sidecar(&patch, "build", native);
    }
}

#[test]
fn sidecar_for_actions_runner_controller_is_the_runner_pod_template() {
    let farm = Farm::new(TWO_ARCHES);
    let out = farm.client(&["sidecar", "--format", "arc"]);
    let values: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
    let spec = &values["template"]["spec"];
    assert_job_reaches_the_sidecar(spec, "runner", true);
    // The values replace the chart's template: the runner container is whole.
    let runner = &spec["containers"][0];
    assert_eq!(
        runner["image"].as_str(),
        Some("ghcr.io/actions/actions-runner:latest")
    );
    assert_eq!(runner["command"][0].as_str(), Some("/home/runner/run.sh"));
}

#[test]
fn an_autoscaled_pool_is_pinned_over_max_and_shrinking_hands_the_keys_back() {
    let spec = "name = \"build\"\n[metrics]\nport = 6060\n[[tls.client]]\nname = \"ci\"\n[[pool]]\narch = \"amd64\"\n[pool.autoscale]\nmin = 1\nmax = 4\nbuilds_per_pod = 2\nserver_address = \"http://prometheus:9090\"\n";
    let farm = Farm::new(spec);
    let key = "group/project";
    let all = farm.client(&["endpoint", "--key", key, "--all"]);
    let order: Vec<String> = preference(key, "build-amd64", 4)
        .iter()
        .map(|i| format!("tcp://build-amd64-{i}.build-amd64-headless.buildkit.svc:1234"))
        .collect();
    assert_eq!(all.lines().collect::<Vec<_>>(), order);
    // The CI job hashes over all 4 ordinals and falls back past pods that are not there.
    let pick = gitlab_script(&farm, &["gitlab"])
        .into_iter()
        .find(|s| s.starts_with("BUILDKIT_POD="))
        .unwrap();
    assert!(
        pick.contains("build-amd64 4 build-amd64-headless.buildkit.svc"),
        "{pick}"
    );
    // Growing from 3 to 4 daemons moves about a quarter of the keys, all to the new pod; with
    // pod 3 gone again, falling back to the next pod in order returns every key to its pod.
    let (mut moved, n) = (0, 1000);
    for k in 0..n {
        let key = format!("group-{}/project-{k}", k % 13);
        let with3 = preference(&key, "build-amd64", 3)[0];
        let over4 = preference(&key, "build-amd64", 4);
        if over4[0] != with3 {
            assert_eq!(over4[0], 3, "{key} moved to an old pod");
            moved += 1;
        }
        let back = over4.iter().copied().find(|&i| i < 3).unwrap();
        assert_eq!(back, with3, "{key}");
    }
    assert!((200..=300).contains(&moved), "{moved} of {n} keys moved");
}

/// The GitHub job checks its secrets before anything else: an empty one (a fork's pull request
/// gets none) fails the step at once, naming it, instead of a TLS error later.
#[test]
fn github_checks_its_secrets_first_and_names_the_missing_ones() {
    let farm = Farm::new(TWO_ARCHES);
    for args in [&["github"][..], &["github", "--no-pin"]] {
        let out = farm.client(args);
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
        let run = doc[0]["run"].as_str().unwrap();
        let check: String = run
            .lines()
            .take_while(|l| !l.starts_with("BUILDFARM_TLS_DIR="))
            .map(|l| format!("{l}\n"))
            .collect();
        let with = |ca: &str, key: &str| {
            std::process::Command::new("dash")
                .args(["-ec", &check])
                .env("BUILDFARM_TLS_CA", ca)
                .env("BUILDFARM_TLS_CERT", "cert")
                .env("BUILDFARM_TLS_KEY", key)
                .output()
                .unwrap()
        };
        let missing = with("", "");
        assert_eq!(missing.status.code(), Some(1), "{args:?}");
        let said = String::from_utf8_lossy(&missing.stdout);
        assert!(
            said.contains("::error::secret BUILDKIT_CA_CERT is empty")
                && said.contains("::error::secret BUILDKIT_CLIENT_KEY is empty")
                && !said.contains("BUILDKIT_CLIENT_CERT is empty")
                && said.contains("certs/client/ci/ca.crt")
                && said.contains("forks get no secrets"),
            "{said}"
        );
        assert!(with("ca", "key").status.success(), "{args:?}");
    }
}

/// Snippets that name a BuildKit image name the farm's own: a mirror, a tag, a digest as
/// written; `--image` overrides the job's. The sidecar, always rootless, takes the rootless
/// variant of a privileged farm's image from the same mirror.
#[test]
fn snippets_run_the_farms_own_image() {
    let mirrored = "registry.internal/mirror/moby/buildkit:v0.32.2-rootless@sha256:\
                    abababababababababababababababababababababababababababababababab";
    let spec = format!(
        "image = \"{mirrored}\"\n[[tls.client]]\nname = \"ci\"\n[[pool]]\narch = \"amd64\"\n"
    );
    let test = crate::common::Test::new()
        .spec(&spec)
        .run(&["client", "gitlab"])
        .status(0);
    let job: serde_yaml_ng::Value = serde_yaml_ng::from_str(&test.stdout()).unwrap();
    assert_eq!(job["build-image"]["image"]["name"].as_str(), Some(mirrored));
    let test = test
        .run(&["client", "gitlab", "--image", "buildkit:mine"])
        .status(0);
    let job: serde_yaml_ng::Value = serde_yaml_ng::from_str(&test.stdout()).unwrap();
    assert_eq!(
        job["build-image"]["image"]["name"].as_str(),
        Some("buildkit:mine")
    );
    let privileged = "mode = \"privileged\"\nimage = \"registry.internal/mirror/moby/buildkit:v0.32.2@sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\"\n[[pool]]\narch = \"amd64\"\n";
    crate::common::Test::new()
        .spec(privileged)
        .run(&["client", "sidecar"])
        .status(0)
        .stdout_has("image: \"registry.internal/mirror/moby/buildkit:v0.32.2-rootless\"")
        .run(&["client", "sidecar", "--image", "buildkit:mine-rootless"])
        .status(0)
        .stdout_has("image: \"buildkit:mine-rootless\"");
}

/// setup-buildx-action v4.0.0 removed the `config`, `config-inline` and `install` inputs: a
/// step that passes them fails on v4, so no snippet may emit them.
#[test]
fn github_steps_never_pass_inputs_setup_buildx_v4_removed() {
    let farm = Farm::new(TWO_ARCHES);
    for args in [&["github"][..], &["github", "--no-pin"]] {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&farm.client(args)).unwrap();
        for step in doc.as_sequence().unwrap() {
            if let Some(with) = step.get("with").and_then(|w| w.as_mapping()) {
                for removed in ["config", "config-inline", "install"] {
                    assert!(with.get(removed).is_none(), "{args:?}: `{removed}`");
                }
            }
        }
    }
}

/// The trust-domains example's spec and certificates in a Test folder.
fn trust_farm() -> crate::common::Test {
    let spec = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/trust-domains.toml"),
    )
    .unwrap();
    crate::common::Test::new()
        .spec(&spec)
        .run(&["certs", "generate"])
        .status(0)
}

/// With trust domains `client gitlab` writes a job per domain: the release client's on
/// protected refs only, with the protected variables, on the release pool; the fork client's
/// everywhere else, with variables of its own, on the fork pool. (CI runs both through a real
/// GitLab runner, which evaluates the rules: .ci/ci_job_check.py.)
#[test]
fn gitlab_jobs_follow_the_ci_context_into_their_domain() {
    let t = trust_farm()
        .run(&["client", "gitlab", "--no-pin"])
        .status(0);
    let jobs: serde_yaml_ng::Value = serde_yaml_ng::from_str(&t.stdout()).unwrap();
    let jobs = jobs.as_mapping().unwrap();
    let names: Vec<&str> = jobs.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(names, ["build-image", "build-image-untrusted"]);
    for (job, rule, pool, vars, not_vars) in [
        (
            "build-image",
            "$CI_COMMIT_REF_PROTECTED == \"true\"",
            "release",
            "$BUILDKIT_CLIENT_CERT",
            "UNTRUSTED",
        ),
        (
            "build-image-untrusted",
            "$CI_COMMIT_REF_PROTECTED != \"true\"",
            "forks",
            "$BUILDKIT_UNTRUSTED_CLIENT_CERT",
            "$BUILDKIT_CLIENT_CERT",
        ),
    ] {
        let j = &jobs[job];
        assert_eq!(j["rules"][0]["if"].as_str(), Some(rule), "{job}");
        let host = j["variables"]["BUILDKIT_HOST"].as_str().unwrap();
        assert_eq!(
            host,
            format!("tcp://buildkit-{pool}.buildkit.svc:1234"),
            "{job}"
        );
        let script = crate::common::strings(&j["script"]);
        let build = script.last().unwrap();
        assert!(build.contains(vars), "{job}: {build}");
        assert!(!build.contains(not_vars), "{job}: {build}");
    }
    // `--client` writes one job, for that client's domain.
    let t = t
        .run(&[
            "client", "gitlab", "--client", "forks", "--tool", "buildx", "--no-pin",
        ])
        .status(0);
    let out = t.stdout();
    assert!(out.contains("build-image-untrusted:"));
    assert!(!out.contains("buildkit-release"), "{out}");
}

/// A client is pointed at its own pools only, and `--pool` outside them is refused.
#[test]
fn a_client_is_pointed_at_its_own_pools_only() {
    let t = trust_farm()
        .run(&[
            "client", "buildctl", "--client", "forks", "--pool", "release",
        ])
        .status(1)
        .stderr_has(
            "client `forks` may not use pool `release`: its daemons refuse `forks`'s certificate",
        )
        .no_stdout();
    let t = t
        .run(&["client", "buildctl", "--client", "forks"])
        .status(0);
    assert!(t.stdout().contains("buildkit-forks"), "{}", t.stdout());
    let t = t
        .run(&["client", "buildx", "--client", "release"])
        .status(0);
    assert!(t.stdout().contains("buildkit-release"));
    assert!(!t.stdout().contains("buildkit-forks"), "{}", t.stdout());
}

/// GitHub: the release client's secrets behind an environment, never for a pull request; the
/// fork client's for pull requests from the repository's own branches, with secrets of its own.
#[test]
fn github_steps_name_their_domains_job_lines() {
    let t = trust_farm()
        .run(&["client", "github", "--client", "release"])
        .status(0);
    let out = t.stdout();
    assert!(
        out.contains(
            "#   if: github.event_name != 'pull_request'\n#   environment: buildfarm-release\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("secrets.BUILDKIT_CLIENT_KEY") && !out.contains("UNTRUSTED"),
        "{out}"
    );
    let steps: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
    assert_eq!(steps.as_sequence().unwrap().len(), 2);
    let t = t.run(&["client", "github", "--client", "forks"]).status(0);
    let out = t.stdout();
    assert!(out.contains("#   if: github.event_name == 'pull_request' && !github.event.pull_request.head.repo.fork\n"), "{out}");
    assert!(
        out.contains("secrets.BUILDKIT_UNTRUSTED_CLIENT_KEY")
            && !out.contains("secrets.BUILDKIT_CLIENT_KEY"),
        "{out}"
    );
    assert!(!out.contains("buildkit-release"), "{out}");
}
