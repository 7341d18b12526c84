//! Rendering: every example is snapshotted and its parsed objects checked for the properties
//! that make a farm work (selectors, mounts, names, TLS, version-correct buildkitd.toml).

use std::path::Path;

use base64::Engine as _;
use serde_yaml_ng::Value;

use crate::common::{
    self, Test, buildkitd_toml, container, kind, named, parse_stream, render_str, selects, str_of,
};

const GIB: i64 = 1 << 30;

fn render_example(name: &str) -> Vec<Value> {
    let certs = tempfile::tempdir().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    parse_stream(&common::render_file(&path, certs.path()))
}

#[test]
fn examples_render_and_match_their_snapshots() {
    let mut settings = insta::Settings::clone_current();
    // Certificates are the one random input: redact key material, not the structure around it.
    settings.add_filter(
        r"(ca\.crt|tls\.crt|tls\.key): [A-Za-z0-9+/=]+",
        "$1: [base64 PEM]",
    );
    // A pool's client CAs (trust domains), PEM in a ConfigMap: one line per certificate.
    settings.add_filter(
        r"(?s)-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----",
        "[PEM certificate]",
    );
    settings.add_filter(
        r#"checksum/config: "[0-9a-f]{64}""#,
        r#"checksum/config: "[sha256]""#,
    );
    settings.bind(|| {
        insta::glob!("../examples", "*.toml", |path| {
            let certs = tempfile::tempdir().unwrap();
            let yaml = common::render_file(path, certs.path());
            assert_well_formed(&parse_stream(&yaml));
            insta::assert_snapshot!(yaml);
        });
    });
}

/// What every farm must satisfy, whatever its spec: named invariants, farm-wide and per pool.
fn assert_well_formed(objects: &[Value]) {
    every_object_carries_the_recommended_labels(objects);
    every_secret_is_tls_pem(objects);
    let statefulsets = kind(objects, "StatefulSet");
    assert!(!statefulsets.is_empty(), "a farm has at least one pool");
    for sts in statefulsets {
        services_and_budget_select_exactly_their_pool(objects, sts);
        every_mount_has_exactly_one_volume_and_back(sts);
        the_daemon_reads_the_mounted_config_and_certificates(objects, sts);
        probes_and_drain_use_the_daemons_own_socket_and_port(objects, sts);
        pods_are_placed_by_arch_and_hold_no_api_token(sts);
        let config = buildkitd_toml(objects, sts);
        let version = str_of(&sts["metadata"]["labels"]["app.kubernetes.io/version"]);
        assert_gc_keys_fit_the_version(&config, version);
    }
}

fn every_object_carries_the_recommended_labels(objects: &[Value]) {
    for o in objects {
        let labels = &o["metadata"]["labels"];
        for key in ["name", "instance", "component", "version", "managed-by"] {
            let key = format!("app.kubernetes.io/{key}");
            assert!(
                labels[key.as_str()].is_string(),
                "{} lacks {key}",
                o["metadata"]["name"].as_str().unwrap()
            );
        }
    }
}

fn every_secret_is_tls_pem(objects: &[Value]) {
    for secret in kind(objects, "Secret") {
        assert_eq!(secret["type"].as_str(), Some("kubernetes.io/tls"));
        let keys: Vec<&str> = secret["data"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(keys, ["ca.crt", "tls.crt", "tls.key"]);
        for key in keys {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(str_of(&secret["data"][key]))
                .unwrap();
            assert!(
                String::from_utf8(pem).unwrap().starts_with("-----BEGIN "),
                "{key} is PEM"
            );
        }
    }
}

/// The pool's selector matches its pods; its headless Service (the StatefulSet's
/// `serviceName`), Service and PodDisruptionBudget select them, and no other pool's.
fn services_and_budget_select_exactly_their_pool(objects: &[Value], sts: &Value) {
    let name = str_of(&sts["metadata"]["name"]);
    let pod_labels = &sts["spec"]["template"]["metadata"]["labels"];
    assert!(
        selects(&sts["spec"]["selector"]["matchLabels"], pod_labels),
        "{name}: selector ⊆ pod labels"
    );
    let headless = named(objects, "Service", str_of(&sts["spec"]["serviceName"]));
    assert_eq!(
        headless["metadata"]["namespace"],
        sts["metadata"]["namespace"]
    );
    assert_eq!(
        headless["spec"]["clusterIP"].as_str(),
        Some("None"),
        "{name}: serviceName is headless"
    );
    assert!(selects(&headless["spec"]["selector"], pod_labels));
    let service = named(objects, "Service", name);
    assert_eq!(service["spec"]["type"].as_str(), Some("ClusterIP"));
    assert!(
        selects(&service["spec"]["selector"], pod_labels),
        "{name}: Service selects its pods"
    );
    let pdb = named(objects, "PodDisruptionBudget", name);
    assert!(selects(&pdb["spec"]["selector"]["matchLabels"], pod_labels));
    for other in kind(objects, "StatefulSet")
        .into_iter()
        .filter(|o| o["metadata"]["name"] != sts["metadata"]["name"])
    {
        let other_pods = &other["spec"]["template"]["metadata"]["labels"];
        assert!(
            !selects(&service["spec"]["selector"], other_pods),
            "{name}: Service selects only its pool"
        );
    }
}

fn every_mount_has_exactly_one_volume_and_back(sts: &Value) {
    let name = str_of(&sts["metadata"]["name"]);
    let volumes: Vec<&str> = sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| str_of(&v["name"]))
        .collect();
    let claims: Vec<&str> = sts["spec"]["volumeClaimTemplates"]
        .as_sequence()
        .map(|s| s.iter().map(|v| str_of(&v["metadata"]["name"])).collect())
        .unwrap_or_default();
    let mounts = container(sts)["volumeMounts"].as_sequence().unwrap();
    for m in mounts {
        let v = str_of(&m["name"]);
        assert!(
            volumes.contains(&v) ^ claims.contains(&v),
            "{name}: mount `{v}` has exactly one volume"
        );
    }
    for v in volumes.iter().chain(&claims) {
        assert!(
            mounts.iter().any(|m| m["name"].as_str() == Some(v)),
            "{name}: volume `{v}` is mounted"
        );
    }
}

fn mount_path<'a>(sts: &'a Value, volume: &str) -> &'a str {
    let mounts = container(sts)["volumeMounts"].as_sequence().unwrap();
    let mount = mounts
        .iter()
        .find(|m| m["name"].as_str() == Some(volume))
        .unwrap_or_else(|| panic!("`{volume}` is mounted"));
    str_of(&mount["mountPath"])
}

/// `--config` names the mounted ConfigMap's file, whose `grpc.tls` names the mounted Secret's
/// files; the Secret is rendered when Secrets are.
fn the_daemon_reads_the_mounted_config_and_certificates(objects: &[Value], sts: &Value) {
    let name = str_of(&sts["metadata"]["name"]);
    let args: Vec<&str> = container(sts)["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    let config_at = args
        .iter()
        .position(|a| *a == "--config")
        .expect("--config is always passed");
    assert_eq!(
        args[config_at + 1],
        format!("{}/buildkitd.toml", mount_path(sts, "config"))
    );
    let config = buildkitd_toml(objects, sts);
    let tls = config["grpc"]["tls"].as_table().unwrap();
    let volumes = sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap();
    // With trust domains the pool's own ConfigMap of client CAs, rendered beside it.
    let client_cas = volumes
        .iter()
        .find(|v| v["name"].as_str() == Some("client-cas"));
    let ca_volume = match client_cas {
        Some(v) => {
            named(objects, "ConfigMap", str_of(&v["configMap"]["name"]));
            "client-cas"
        }
        None => "certs",
    };
    for (key, file, volume) in [
        ("cert", "tls.crt", "certs"),
        ("key", "tls.key", "certs"),
        ("ca", "ca.crt", ca_volume),
    ] {
        assert_eq!(
            tls[key].as_str().unwrap(),
            format!("{}/{file}", mount_path(sts, volume)),
            "{name}: grpc.tls.{key}"
        );
    }
    let certs_volume = sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"].as_str() == Some("certs"))
        .unwrap();
    let secret_name = str_of(&certs_volume["secret"]["secretName"]);
    if !kind(objects, "Secret").is_empty() {
        named(objects, "Secret", secret_name);
    }
}

/// The daemon listens on the container port and its own socket; the probes ask that socket
/// (with an explicit timeout) and the drain hook watches that port.
fn probes_and_drain_use_the_daemons_own_socket_and_port(objects: &[Value], sts: &Value) {
    let name = str_of(&sts["metadata"]["name"]);
    let c = container(sts);
    let config = buildkitd_toml(objects, sts);
    let addresses: Vec<&str> = config["grpc"]["address"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let port = c["ports"][0]["containerPort"].as_i64().unwrap();
    assert_eq!(addresses[0], format!("tcp://0.0.0.0:{port}"));
    let probe: Vec<&str> = c["readinessProbe"]["exec"]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    assert_eq!(
        probe[..3],
        ["buildctl", "--addr", addresses[1]],
        "{name}: probes use the daemon's socket"
    );
    assert!(
        c["readinessProbe"]["timeoutSeconds"].as_i64().unwrap() >= 5,
        "explicit, not the flaky 1 s default"
    );
    assert!(
        c["lifecycle"]["preStop"]["exec"]["command"][2]
            .as_str()
            .unwrap()
            .contains(&format!("{port:04X}"))
    );
    let pod = &sts["spec"]["template"]["spec"];
    assert!(pod["terminationGracePeriodSeconds"].as_i64().unwrap() >= 60);
}

fn pods_are_placed_by_arch_and_hold_no_api_token(sts: &Value) {
    let pod = &sts["spec"]["template"]["spec"];
    assert!(pod["nodeSelector"]["kubernetes.io/arch"].is_string());
    assert_eq!(pod["automountServiceAccountToken"].as_bool(), Some(false));
}

/// BuildKit ignores unknown keys: the wrong generation of GC keys would silently do nothing.
fn assert_gc_keys_fit_the_version(config: &toml::Table, version: &str) {
    let minor: u32 = version.split('.').nth(1).unwrap().parse().unwrap();
    let oci = config["worker"]["oci"].as_table().unwrap();
    let policies = oci
        .get("gcpolicy")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default();
    let tables = std::iter::once(oci).chain(policies.iter().map(|p| p.as_table().unwrap()));
    for t in tables {
        let keys: Vec<&str> = t.keys().map(String::as_str).collect();
        if minor >= 17 {
            assert!(
                !keys.contains(&"keepBytes") && !keys.contains(&"gckeepstorage"),
                "{version}: {keys:?}"
            );
        } else {
            for new in ["reservedSpace", "maxUsedSpace", "minFreeSpace"] {
                assert!(
                    !keys.contains(&new),
                    "{version} does not know {new}: {keys:?}"
                );
            }
        }
    }
    if minor < 17 && !policies.is_empty() {
        assert!(
            policies.iter().all(|p| p.get("keepBytes").is_some()),
            "{version}: every policy has a size"
        );
    }
}

#[test]
fn default_farm_is_rootless_on_two_arches_with_a_persistent_cache() {
    let objects = render_example("default.toml");
    let sts = kind(&objects, "StatefulSet");
    let arches: Vec<&str> = sts
        .iter()
        .map(|s| str_of(&s["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/arch"]))
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    for s in sts {
        assert_eq!(s["spec"]["replicas"].as_i64(), Some(2));
        assert_eq!(
            s["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
                .as_str(),
            Some("100Gi")
        );
        let pod = &s["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["fsGroup"].as_i64(), Some(1000));
        assert_eq!(
            pod["securityContext"]["fsGroupChangePolicy"].as_str(),
            Some("OnRootMismatch")
        );
        let sc = &container(s)["securityContext"];
        assert_eq!(
            (sc["runAsUser"].as_i64(), sc["runAsGroup"].as_i64()),
            (Some(1000), Some(1000))
        );
        assert_eq!(sc["seccompProfile"]["type"].as_str(), Some("Unconfined"));
        assert_eq!(sc["appArmorProfile"]["type"].as_str(), Some("Unconfined"));
        assert!(
            sc.get("allowPrivilegeEscalation").is_none(),
            "setuid newuidmap needs privilege escalation"
        );
        assert!(sc.get("privileged").is_none());
        let args = container(s)["args"].as_sequence().unwrap();
        assert!(
            args.iter()
                .any(|a| a.as_str() == Some("--oci-worker-no-process-sandbox"))
        );
        assert!(str_of(&container(s)["image"]).ends_with("v0.35.1-rootless"));
    }
    let ns = named(&objects, "Namespace", "buildkit");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"].as_str(),
        Some("privileged")
    );
}

#[test]
fn derived_gc_stays_below_the_volume() {
    let objects = render_example("default.toml");
    let config = buildkitd_toml(&objects, kind(&objects, "StatefulSet")[0]);
    let oci = &config["worker"]["oci"];
    let volume = 100 * GIB;
    let max_used = oci["maxUsedSpace"].as_integer().unwrap();
    let reserved = oci["reservedSpace"].as_integer().unwrap();
    let min_free = oci["minFreeSpace"].as_integer().unwrap();
    assert!(reserved < max_used && max_used < volume && max_used + min_free <= volume);
    assert_eq!(max_used, 75 * GIB);
    let cm = str_of(&kind(&objects, "ConfigMap")[0]["data"]["buildkitd.toml"]);
    assert!(
        cm.contains("# GC: derived from the 100Gi volume"),
        "the file says how: {cm}"
    );
}

#[test]
fn seed_002_keeps_its_new_gc_keys_history_and_placement() {
    let objects = render_example("002-crater-rootless.toml");
    let sts = kind(&objects, "StatefulSet");
    assert_eq!(sts.len(), 1);
    let s = sts[0];
    assert_eq!(s["spec"]["replicas"].as_i64(), Some(3));
    let claim = &s["spec"]["volumeClaimTemplates"][0]["spec"];
    assert_eq!(claim["storageClassName"].as_str(), Some("openebs-hostpath"));
    assert_eq!(
        claim["resources"]["requests"]["storage"].as_str(),
        Some("500Gi")
    );
    let pod = &s["spec"]["template"]["spec"];
    assert_eq!(
        pod["nodeSelector"]["node-role.kubernetes.io/control-plane"].as_str(),
        Some("")
    );
    assert_eq!(
        pod["tolerations"][0]["key"].as_str(),
        Some("node-role.kubernetes.io/control-plane")
    );
    assert_eq!(
        container(s)["resources"]["limits"]["memory"].as_str(),
        Some("96Gi")
    );

    let config = buildkitd_toml(&objects, s);
    // `debug = true` is deprecated from v0.31 (a warning at each start): `[log] level` instead.
    assert_eq!(config["log"]["level"].as_str(), Some("debug"));
    assert!(config.get("debug").is_none());
    assert_eq!(config["history"]["maxAge"].as_integer(), Some(96 * 3600));
    assert_eq!(config["history"]["maxEntries"].as_integer(), Some(100));
    let oci = &config["worker"]["oci"];
    assert_eq!(oci["cniPoolSize"].as_integer(), Some(16));
    // "50GB" in BuildKit's reading is 50 GiB, written as bytes so every release agrees.
    assert_eq!(oci["reservedSpace"].as_integer(), Some(50 * GIB));
    assert_eq!(oci["maxUsedSpace"].as_integer(), Some(400 * GIB));
    assert_eq!(oci["minFreeSpace"].as_integer(), Some(50 * GIB));
    let policies = oci["gcpolicy"].as_array().unwrap();
    assert_eq!(policies[0]["keepDuration"].as_integer(), Some(720 * 3600));
    assert_eq!(policies[3]["all"].as_bool(), Some(true));
    assert_eq!(policies[3]["maxUsedSpace"].as_integer(), Some(400 * GIB));
}

#[test]
fn seed_003_is_privileged_multiarch_with_a_gc_cap() {
    let objects = render_example("003-vouchercodes-multiarch.toml");
    let sts = kind(&objects, "StatefulSet");
    assert_eq!(
        sts.iter()
            .map(|s| str_of(&s["metadata"]["name"]))
            .collect::<Vec<_>>(),
        ["buildkitd-amd64", "buildkitd-arm64"]
    );
    for s in &sts {
        let pod = &s["spec"]["template"]["spec"];
        assert_eq!(
            container(s)["securityContext"]["privileged"].as_bool(),
            Some(true)
        );
        assert_eq!(pod["nodeSelector"]["buildkit"].as_str(), Some("exclusive"));
        assert_eq!(pod["tolerations"][0]["operator"].as_str(), Some("Exists"));
        let annotations = &s["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(
            annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"].as_str(),
            Some("false")
        );
        assert_eq!(
            s["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"].as_str(),
            Some("ebs-sc")
        );
        assert_eq!(
            str_of(&container(s)["args"][1]),
            "/etc/buildkit/buildkitd.toml"
        );
    }
    let config = buildkitd_toml(&objects, sts[0]);
    let policies = config["worker"]["oci"]["gcpolicy"].as_array().unwrap();
    assert_eq!(policies[0]["keepDuration"].as_integer(), Some(96 * 3600));
    for p in &policies[1..] {
        assert_eq!(p["maxUsedSpace"].as_integer(), Some(200 * GIB));
        assert!(p.get("keepBytes").is_none());
    }
}

#[test]
fn an_old_buildkit_gets_its_own_keys() {
    // v0.16: one size per GC policy (keepBytes), and `debug` rather than `[log] level`.
    let objects = render_example("legacy-kubernetes.toml");
    let s = kind(&objects, "StatefulSet")[0];
    assert!(str_of(&container(s)["image"]).ends_with("v0.16.0-rootless"));
    let config = buildkitd_toml(&objects, s);
    let policies = config["worker"]["oci"]["gcpolicy"].as_array().unwrap();
    assert!(policies[1]["keepBytes"].as_integer().is_some());
    assert!(policies.iter().all(|p| p.get("maxUsedSpace").is_none()));
    assert!(config["worker"]["oci"].get("reservedSpace").is_none());
    let dir = tempfile::tempdir().unwrap();
    // `[log] level` from v0.30.0 (moby/buildkit#6732 is in its tag), `debug` before.
    let debug = |image: &str| {
        let spec = format!(
            "debug = true\nimage = \"moby/buildkit:{image}\"\n[[pool]]\narch = \"amd64\"\n"
        );
        buildfarm::render_str(&spec, dir.path()).unwrap()
    };
    let yaml = debug("v0.29.0-rootless");
    assert!(
        yaml.contains("\n    debug = true\n") && !yaml.contains("[log]"),
        "{yaml}"
    );
    let yaml = debug("v0.30.0-rootless");
    assert!(
        yaml.contains("\n    [log]\n    level = \"debug\"\n") && !yaml.contains("debug = true"),
        "{yaml}"
    );
}

#[test]
fn seed_000_has_an_ephemeral_cache() {
    let objects = render_example("000-wikimedia-gitlab.toml");
    let s = kind(&objects, "StatefulSet")[0];
    assert!(s["spec"].get("volumeClaimTemplates").is_none());
    let volumes = s["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap();
    let state = volumes
        .iter()
        .find(|v| v["name"].as_str() == Some("state"))
        .unwrap();
    assert!(state["emptyDir"].is_mapping());
    let config = buildkitd_toml(&objects, s);
    assert!(
        config["worker"]["oci"].get("gcpolicy").is_none(),
        "no volume, no [gc]: BuildKit's defaults"
    );
}

#[test]
fn userns_runs_privileged_in_its_own_user_namespace() {
    let objects = render_example("userns-everything.toml");
    let big = named(&objects, "StatefulSet", "bk-big");
    let pod = &big["spec"]["template"]["spec"];
    assert_eq!(pod["hostUsers"].as_bool(), Some(false));
    assert_eq!(
        container(big)["securityContext"]["privileged"].as_bool(),
        Some(true)
    );
    assert_eq!(pod["priorityClassName"].as_str(), Some("ci-critical"));
    assert_eq!(
        big["spec"]["podManagementPolicy"].as_str(),
        Some("OrderedReady")
    );
    assert_eq!(
        container(big)["ports"][1]["containerPort"].as_i64(),
        Some(6060)
    );
    let mounts = container(big)["volumeMounts"].as_sequence().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["mountPath"].as_str() == Some("/etc/ssl/registry"))
    );
    // Two pools with different volumes get different GC, so each mounts its own file.
    let cm = &kind(&objects, "ConfigMap")[0]["data"];
    assert!(cm["buildkitd-big.toml"].is_string() && cm["buildkitd-small.toml"].is_string());
    let small = named(&objects, "StatefulSet", "bk-small");
    assert_ne!(
        buildkitd_toml(&objects, big),
        buildkitd_toml(&objects, small)
    );
    let config = buildkitd_toml(&objects, big);
    assert_eq!(
        config["grpc"]["debugAddress"].as_str(),
        Some("0.0.0.0:6060")
    );
    assert_eq!(
        config["registry"]["docker.io"]["mirrors"][0].as_str(),
        Some("mirror.corp.example")
    );
    let tol = &small["spec"]["template"]["spec"]["tolerations"][0];
    assert_eq!(tol["tolerationSeconds"].as_i64(), Some(300));
}

#[test]
fn apparmor_is_an_annotation_before_kubernetes_1_30() {
    let objects = render_example("legacy-kubernetes.toml");
    let s = kind(&objects, "StatefulSet")[0];
    let annotations = &s["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        annotations["container.apparmor.security.beta.kubernetes.io/buildkitd"].as_str(),
        Some("unconfined")
    );
    assert!(
        container(s)["securityContext"]
            .get("appArmorProfile")
            .is_none()
    );
    assert_eq!(
        container(s)["securityContext"]["seccompProfile"]["type"].as_str(),
        Some("Unconfined")
    );
}

#[test]
fn daemon_certificate_covers_every_service_name() {
    let objects = render_example("default.toml");
    let secret = kind(&objects, "Secret")[0];
    let pem = base64::engine::general_purpose::STANDARD
        .decode(str_of(&secret["data"]["tls.crt"]))
        .unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = pem.parse_x509().unwrap();
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => d.to_string(),
            x509_parser::extensions::GeneralName::IPAddress(ip) => format!("{ip:?}"),
            other => format!("{other:?}"),
        })
        .collect();
    for svc in kind(&objects, "Service")
        .iter()
        .filter(|s| s["spec"]["type"].as_str() == Some("ClusterIP"))
    {
        let name = str_of(&svc["metadata"]["name"]);
        for form in [
            name.to_string(),
            format!("{name}.buildkit"),
            format!("{name}.buildkit.svc"),
            format!("{name}.buildkit.svc.cluster.local"),
        ] {
            assert!(sans.contains(&form), "{form} missing from {sans:?}");
        }
        assert!(sans.contains(&format!("*.{name}-headless.buildkit.svc")));
    }
    assert!(sans.contains(&"localhost".to_string()));
    assert!(sans.contains(&"[127, 0, 0, 1]".to_string()), "{sans:?}");
}

#[test]
fn rendering_is_byte_identical_for_the_same_spec_and_certs() {
    let certs = tempfile::tempdir().unwrap();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/003-vouchercodes-multiarch.toml");
    let first = common::render_file(&path, certs.path());
    let second = common::render_file(&path, certs.path());
    assert_eq!(first, second);
    assert!(first.ends_with('\n') && !first.ends_with("\n\n"));
    assert!(
        first.lines().all(|l| !l.ends_with(' ')),
        "no trailing whitespace"
    );
}

#[test]
fn objects_come_out_in_kind_order() {
    let objects = render_example("003-vouchercodes-multiarch.toml");
    let kinds: Vec<&str> = objects.iter().map(|o| str_of(&o["kind"])).collect();
    let order = [
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "Service",
        "StatefulSet",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
        "PodMonitor",
    ];
    let rank = |k: &str| order.iter().position(|o| *o == k).unwrap();
    assert!(
        kinds.windows(2).all(|w| rank(w[0]) <= rank(w[1])),
        "{kinds:?}"
    );
    let services: Vec<&str> = kind(&objects, "Service")
        .iter()
        .map(|s| str_of(&s["metadata"]["name"]))
        .collect();
    assert_eq!(
        services,
        [
            "buildkitd-amd64",
            "buildkitd-amd64-headless",
            "buildkitd-arm64",
            "buildkitd-arm64-headless"
        ]
    );
}

#[test]
fn checksum_follows_config_and_certificates() {
    let certs = tempfile::tempdir().unwrap();
    let spec =
        |entries: u32| format!("[history]\nmax_entries = {entries}\n[[pool]]\narch = \"amd64\"\n");
    let render = |s: &str| parse_stream(&buildfarm::render_str(s, certs.path()).unwrap());
    let a = render(&spec(10));
    let b = render(&spec(10));
    let c = render(&spec(11));
    let sum = |o: &[Value]| common::pod_annotation(o, "checksum/config").to_string();
    assert_eq!(sum(&a), sum(&b));
    assert_ne!(sum(&a), sum(&c), "a config change rolls the pods");
    std::fs::remove_dir_all(certs.path().join("daemon")).unwrap();
    let d = render(&spec(10));
    assert_ne!(sum(&a), sum(&d), "a new daemon certificate rolls the pods");
}

#[test]
fn pools_share_a_config_file_exactly_when_their_files_agree() {
    let pool = |name: &str, storage: &str| {
        format!("[[pool]]\nname = \"{name}\"\narch = \"amd64\"\nstorage = \"{storage}\"\n")
    };
    let pools = [pool("a", "100Gi"), pool("b", "50Gi"), pool("c", "100Gi")].concat();
    let mount_key = |objects: &[Value], name: &str| {
        let sts = named(objects, "StatefulSet", name);
        let volumes = sts["spec"]["template"]["spec"]["volumes"]
            .as_sequence()
            .unwrap();
        let config = volumes.iter().find(|v| v["name"] == "config").unwrap();
        str_of(&config["configMap"]["items"][0]["key"]).to_string()
    };
    let sum = |objects: &[Value], name: &str| {
        let sts = named(objects, "StatefulSet", name);
        str_of(&sts["spec"]["template"]["metadata"]["annotations"]["checksum/config"]).to_string()
    };

    // GC derived from the volume: a file per pool; equal volumes, equal files and checksums.
    let (yaml, _certs) = render_str(&pools);
    let objects = parse_stream(&yaml);
    let data = kind(&objects, "ConfigMap")[0]["data"].as_mapping().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(mount_key(&objects, "buildkitd-b"), "buildkitd-b.toml");
    assert_eq!(data["buildkitd-a.toml"], data["buildkitd-c.toml"]);
    assert_ne!(data["buildkitd-a.toml"], data["buildkitd-b.toml"]);
    assert!(str_of(&data["buildkitd-b.toml"]).contains("50Gi"));
    assert_eq!(sum(&objects, "buildkitd-a"), sum(&objects, "buildkitd-c"));
    assert_ne!(sum(&objects, "buildkitd-a"), sum(&objects, "buildkitd-b"));

    // Sizes set in [gc]: the volumes no longer matter, so one file serves every pool.
    let (yaml, _certs) = render_str(&format!("[gc]\nmax_used = \"40GB\"\n{pools}"));
    let objects = parse_stream(&yaml);
    let data = kind(&objects, "ConfigMap")[0]["data"].as_mapping().unwrap();
    assert_eq!(data.len(), 1);
    assert!(str_of(&data["buildkitd.toml"]).contains("maxUsedSpace = 42949672960"));
    for name in ["buildkitd-a", "buildkitd-b", "buildkitd-c"] {
        assert_eq!(mount_key(&objects, name), "buildkitd.toml");
        assert_eq!(sum(&objects, name), sum(&objects, "buildkitd-a"));
    }
}

#[test]
fn hostile_strings_stay_data() {
    let hostile = r#"": \n- {}#&*!|>'"%@"#;
    let toml_str = |s: &str| toml::Value::String(s.to_string()).to_string();
    // (An image reference cannot carry such a string: the reference grammar refuses it.)
    let spec = format!(
        "extra_args = [{h}]\n\
         [buildkitd.registry.\"docker.io\"]\nmirrors = [{h}]\n\
         [[pool]]\narch = \"amd64\"\npod_annotations = {{ note = {h} }}\n",
        h = toml_str(hostile),
    );
    let (yaml, _certs) = render_str(&spec);
    let objects = parse_stream(&yaml);
    let kinds: Vec<&str> = objects.iter().map(|o| str_of(&o["kind"])).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "ConfigMap",
            "Secret",
            "Service",
            "Service",
            "StatefulSet",
            "PodDisruptionBudget",
            "NetworkPolicy"
        ],
        "exactly one document per object"
    );
    assert_eq!(common::pod_annotation(&objects, "note"), hostile);
    let sts = kind(&objects, "StatefulSet")[0];
    assert_eq!(
        container(sts)["args"]
            .as_sequence()
            .unwrap()
            .last()
            .unwrap()
            .as_str(),
        Some(hostile)
    );
    let config = buildkitd_toml(&objects, sts);
    assert_eq!(
        config["registry"]["docker.io"]["mirrors"][0].as_str(),
        Some(hostile)
    );
}

#[test]
fn no_secrets_leaves_only_the_secret_out() {
    let certs = tempfile::tempdir().unwrap();
    let farm = buildfarm::load(buildfarm::Origin::BuiltIn, Some(certs.path())).unwrap();
    let with = buildfarm::render_farm(&farm, buildfarm::RenderOptions { secrets: true }).unwrap();
    let without =
        buildfarm::render_farm(&farm, buildfarm::RenderOptions { secrets: false }).unwrap();
    let kept: Vec<_> = with
        .iter()
        .filter(|o| o.kind != buildfarm::Kind::Secret)
        .cloned()
        .collect();
    assert_eq!(without, kept);
    assert!(with.len() > without.len());
}

#[test]
fn external_tls_mounts_the_named_secret_and_renders_none() {
    let spec =
        "[tls]\nmode = \"external\"\nsecret = \"corp-buildkit-tls\"\n[[pool]]\narch = \"arm64\"\n";
    let (yaml, certs) = render_str(spec);
    let objects = parse_stream(&yaml);
    assert!(kind(&objects, "Secret").is_empty());
    assert!(
        std::fs::read_dir(certs.path()).unwrap().next().is_none(),
        "no certificates issued"
    );
    let sts = kind(&objects, "StatefulSet")[0];
    let volumes = sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v["secret"]["secretName"].as_str() == Some("corp-buildkit-tls"))
    );
}

#[test]
fn the_readme_reference_is_a_valid_farm() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("## farm.toml reference")
        .nth(1)
        .expect("the reference section");
    let spec = section
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let (yaml, _certs) = render_str(spec);
    let objects = parse_stream(&yaml);
    let sts = named(&objects, "StatefulSet", "buildkitd-amd64");
    assert_eq!(
        buildkitd_toml(&objects, sts)["worker"]["oci"]["cniPoolSize"].as_integer(),
        Some(16)
    );
}

/// The daemon pods' labels (every pool's pod template).
fn pod_labels(objects: &[Value]) -> Vec<&Value> {
    kind(objects, "StatefulSet")
        .iter()
        .map(|s| &s["spec"]["template"]["metadata"]["labels"])
        .collect()
}

#[test]
fn network_policy_admits_only_the_listed_clients() {
    let objects = render_example("003-vouchercodes-multiarch.toml");
    let np = kind(&objects, "NetworkPolicy");
    assert_eq!(np.len(), 1, "one policy for the farm");
    let spec = &np[0]["spec"];
    // It guards every daemon of every pool.
    for labels in pod_labels(&objects) {
        assert!(selects(&spec["podSelector"]["matchLabels"], labels));
    }
    assert_eq!(
        spec["policyTypes"],
        serde_yaml_ng::from_str::<Value>("[Ingress]").unwrap()
    );
    let rules = spec["ingress"].as_sequence().unwrap();
    assert_eq!(rules.len(), 1, "no metrics port, no metrics rule");
    assert_eq!(rules[0]["ports"][0]["port"].as_i64(), Some(1234));
    // The client that names a namespace is the one admitted.
    assert_eq!(
        rules[0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            .as_str(),
        Some("gitlab")
    );
    assert_eq!(rules[0]["from"].as_sequence().unwrap().len(), 1);
    assert!(
        spec.get("egress").is_none(),
        "egress stays open unless listed"
    );
}

#[test]
fn network_policy_with_metrics_and_egress() {
    let objects = render_example("userns-everything.toml");
    let spec = &kind(&objects, "NetworkPolicy")[0]["spec"];
    let types: Vec<&str> = spec["policyTypes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    assert_eq!(types, ["Ingress", "Egress"]);
    let rules = spec["ingress"].as_sequence().unwrap();
    let port_of = |r: &Value| r["ports"][0]["port"].as_i64().unwrap();
    assert_eq!(rules.iter().map(port_of).collect::<Vec<_>>(), [8372, 6060]);
    assert_eq!(
        rules[0]["from"][1]["ipBlock"]["cidr"].as_str(),
        Some("10.20.0.0/16")
    );
    // The metrics port: only Prometheus pods in `observability`.
    let from = &rules[1]["from"][0];
    assert_eq!(
        from["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as_str(),
        Some("observability")
    );
    assert_eq!(
        from["podSelector"]["matchLabels"]["app.kubernetes.io/name"].as_str(),
        Some("prometheus")
    );
    let egress = spec["egress"].as_sequence().unwrap();
    // DNS first, then what the spec lists.
    assert_eq!(egress[0]["ports"][0]["port"].as_i64(), Some(53));
    assert!(egress[0].get("to").is_none());
    assert_eq!(
        egress[1]["to"][0]["ipBlock"]["cidr"].as_str(),
        Some("0.0.0.0/0")
    );
    assert_eq!(egress[1]["ports"][0]["port"].as_i64(), Some(443));
    assert!(
        egress[2].get("ports").is_none(),
        "no ports: every port of the registry"
    );
}

#[test]
fn network_policy_can_admit_nobody_or_be_left_out() {
    let (yaml, _certs) = render_str("[network]\nallow = []\n[[pool]]\narch = \"amd64\"\n");
    let objects = parse_stream(&yaml);
    let spec = &kind(&objects, "NetworkPolicy")[0]["spec"];
    assert_eq!(
        spec["ingress"].as_sequence().map(Vec::len),
        Some(0),
        "ingress: [] denies all"
    );
    let (yaml, _certs) = render_str("network_policy = false\n[[pool]]\narch = \"amd64\"\n");
    assert!(kind(&parse_stream(&yaml), "NetworkPolicy").is_empty());
}

#[test]
fn service_monitor_scrapes_the_metrics_port_of_every_daemon() {
    let objects = render_example("userns-everything.toml");
    let service = named(&objects, "Service", "bk-metrics");
    for labels in pod_labels(&objects) {
        assert!(
            selects(&service["spec"]["selector"], labels),
            "the Service covers every pool"
        );
    }
    assert_eq!(
        service["spec"]["ports"][0]["name"].as_str(),
        Some("metrics")
    );
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"].as_str(),
        Some("metrics")
    );
    for s in kind(&objects, "StatefulSet") {
        let ports = container(s)["ports"].as_sequence().unwrap();
        assert!(
            ports.iter().any(|p| p["name"].as_str() == Some("metrics")
                && p["containerPort"].as_i64() == Some(6060))
        );
    }
    let monitor = named(&objects, "ServiceMonitor", "bk-metrics");
    assert_eq!(
        monitor["apiVersion"].as_str(),
        Some("monitoring.coreos.com/v1")
    );
    // It selects the metrics Service, and none of the build Services.
    for s in kind(&objects, "Service") {
        let picked = selects(
            &monitor["spec"]["selector"]["matchLabels"],
            &s["metadata"]["labels"],
        );
        assert_eq!(
            picked,
            str_of(&s["metadata"]["name"]) == "bk-metrics",
            "{}",
            str_of(&s["metadata"]["name"])
        );
    }
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"].as_str(),
        Some("metrics")
    );
}

#[test]
fn pod_monitor_selects_the_daemon_pods() {
    let (yaml, _certs) = render_str(
        "[metrics]\nport = 6060\npod_monitor = true\n[[pool]]\narch = \"amd64\"\n[[pool]]\narch = \"arm64\"\n",
    );
    let objects = parse_stream(&yaml);
    let monitor = named(&objects, "PodMonitor", "buildkitd-metrics");
    for labels in pod_labels(&objects) {
        assert!(selects(&monitor["spec"]["selector"]["matchLabels"], labels));
    }
    assert_eq!(
        monitor["spec"]["podMetricsEndpoints"][0]["port"].as_str(),
        Some("metrics")
    );
    assert!(kind(&objects, "ServiceMonitor").is_empty());
    // The default metrics_from: the `monitoring` namespace.
    let rules = kind(&objects, "NetworkPolicy")[0]["spec"]["ingress"]
        .as_sequence()
        .unwrap()
        .clone();
    let metrics = rules
        .iter()
        .find(|r| r["ports"][0]["port"].as_i64() == Some(6060))
        .unwrap();
    assert_eq!(
        metrics["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            .as_str(),
        Some("monitoring")
    );
}

/// The Prometheus Operator CRDs' own rules for the fields we write (operator v0.84,
/// example/prometheus-operator-crd/monitoring.coreos.com_{servicemonitors,podmonitors}.yaml):
/// `spec.selector` (a LabelSelector) and, for a ServiceMonitor, `spec.endpoints` are required;
/// an endpoint's `port` names a Service (or container) port, `path` is a string.
#[test]
fn monitors_hold_to_their_crd_schemas() {
    let (yaml, _certs) = render_str(
        "[metrics]\nport = 6060\nservice_monitor = true\npod_monitor = true\n[[pool]]\narch = \"amd64\"\n",
    );
    let objects = parse_stream(&yaml);
    for (kind_name, endpoints) in [
        ("ServiceMonitor", "endpoints"),
        ("PodMonitor", "podMetricsEndpoints"),
    ] {
        let m = kind(&objects, kind_name);
        assert_eq!(m.len(), 1, "{kind_name}");
        let m = m[0];
        assert_eq!(m["apiVersion"].as_str(), Some("monitoring.coreos.com/v1"));
        let spec = m["spec"].as_mapping().unwrap();
        let keys: Vec<&str> = spec.keys().map(|k| k.as_str().unwrap()).collect();
        assert_eq!(
            keys,
            ["selector", endpoints],
            "{kind_name}: only fields the CRD defines"
        );
        let labels = m["spec"]["selector"]["matchLabels"].as_mapping().unwrap();
        assert!(!labels.is_empty() && labels.values().all(Value::is_string));
        let list = m["spec"][endpoints].as_sequence().unwrap();
        assert!(!list.is_empty());
        for e in list {
            assert!(e["port"].is_string() && e["path"].as_str() == Some("/metrics"));
        }
    }
}

/// The preStop hook's script, run for real under `dash` and `bash` against fixture
/// `/proc/net/tcp` files; a fake `sleep` on PATH moves to the next fixture at each look.
#[test]
fn drain_waits_for_two_idle_looks_in_a_row() {
    let objects = render_example("default.toml");
    let sts = kind(&objects, "StatefulSet")[0];
    let command = &container(sts)["lifecycle"]["preStop"]["exec"]["command"];
    assert_eq!(str_of(&command[0]), "/bin/sh");
    let script = str_of(&command[2]);
    // Port 1234 is 04D2. A build connected, a LISTEN socket, and a client of another port.
    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    const LISTEN: &str = "   0: 00000000:04D2 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1\n";
    const BUILD: &str = "   1: 0A000005:04D2 0A000009:A1B2 01 00000000:00000000 00:00000000 00000000  1000        0 2 1\n";
    const OTHER: &str = "   2: 0A000005:1770 0A000009:A1B3 01 00000000:00000000 00:00000000 00000000  1000        0 3 1\n";
    let busy = format!("{HEADER}{LISTEN}{BUILD}");
    let idle = format!("{HEADER}{LISTEN}{OTHER}");
    for shell in ["dash", "bash"] {
        if std::process::Command::new(shell)
            .arg("-c")
            .arg("true")
            .status()
            .is_err()
        {
            panic!("{shell} is needed for this test");
        }
        // busy, idle (a client between two builds), busy again, then idle twice: done.
        let looks = [&busy, &idle, &busy, &idle, &idle, &busy];
        let dir = tempfile::tempdir().unwrap();
        for (i, text) in looks.iter().enumerate() {
            std::fs::write(dir.path().join(format!("look{i}")), text).unwrap();
        }
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let fake_sleep = format!(
            "#!/bin/sh\nn=$(cat {d}/count 2>/dev/null || echo 0)\ncp {d}/look$n {d}/tcp\n: > {d}/tcp6\necho $((n + 1)) > {d}/count\n",
            d = dir.path().display()
        );
        std::fs::write(bin.join("sleep"), fake_sleep).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("sleep"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let local = script.replace("/proc/net/", &format!("{}/", dir.path().display()));
        assert_ne!(local, script, "the script reads /proc/net/tcp");
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let out = std::process::Command::new("timeout")
            .args(["10", shell, "-c", &local])
            .env("PATH", path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let looked: usize = std::fs::read_to_string(dir.path().join("count"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(
            looked, 5,
            "{shell}: stops at the second idle look in a row, not the first"
        );
    }
}

#[test]
fn rootless_pods_are_hardened() {
    let objects = render_example("default.toml");
    for s in kind(&objects, "StatefulSet") {
        let c = container(s);
        let sc = &c["securityContext"];
        // Every capability dropped; back only what the setuid ID-map helpers need.
        assert_eq!(
            sc["capabilities"]["drop"],
            serde_yaml_ng::from_str::<Value>("[ALL]").unwrap()
        );
        let added: Vec<&str> = sc["capabilities"]["add"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(str_of)
            .collect();
        // Exactly the two CI's pod check proves necessary and sufficient (.ci/pod_check.py).
        assert_eq!(added, ["SETGID", "SETUID"]);
        assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
        // Where rootlesskit and buildkitd write: emptyDirs, mounted.
        let mounts: Vec<&str> = c["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|m| str_of(&m["mountPath"]))
            .collect();
        // `/tmp` too: rootlesskit's copy-up helper writes there whatever TMPDIR says, and
        // exits at start on a read-only /tmp.
        for path in [
            "/run/user/1000",
            "/home/user/.local/tmp",
            "/tmp",
            "/home/user/.local/share/buildkit",
        ] {
            assert!(mounts.contains(&path), "{path} is writable");
        }
        let volumes = s["spec"]["template"]["spec"]["volumes"]
            .as_sequence()
            .unwrap();
        for name in ["runtime", "tmp"] {
            let v = volumes
                .iter()
                .find(|v| v["name"].as_str() == Some(name))
                .unwrap();
            assert!(v["emptyDir"].is_mapping());
        }
        assert_eq!(
            c["imagePullPolicy"].as_str(),
            Some("Always"),
            "a tag resolves the same everywhere"
        );
    }
}

#[test]
fn privileged_pods_get_no_capability_list_and_a_writable_root() {
    // A capability list or a read-only root on a privileged container hardens nothing.
    let objects = render_example("003-vouchercodes-multiarch.toml");
    for s in kind(&objects, "StatefulSet") {
        let sc = &container(s)["securityContext"];
        assert!(sc.get("capabilities").is_none());
        assert!(sc.get("readOnlyRootFilesystem").is_none());
    }
    let certs = tempfile::tempdir().unwrap();
    let spec =
        "mode = \"privileged\"\nread_only_root_filesystem = true\n[[pool]]\narch = \"amd64\"\n";
    let err = buildfarm::render_str(spec, certs.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot run on a read-only root filesystem"),
        "{err}"
    );
}

#[test]
fn read_only_root_can_be_turned_off_and_digests_are_not_pulled_again() {
    let digest = "0a".repeat(32);
    let spec = format!(
        "read_only_root_filesystem = false\nimage = \"moby/buildkit@sha256:{digest}\"\nbuildkit_version = \"0.35.1\"\n[[pool]]\narch = \"amd64\"\n"
    );
    let (yaml, _certs) = render_str(&spec);
    let objects = parse_stream(&yaml);
    let s = kind(&objects, "StatefulSet")[0];
    let c = container(s);
    assert!(c["securityContext"].get("readOnlyRootFilesystem").is_none());
    let volumes = s["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap();
    assert!(
        volumes
            .iter()
            .all(|v| v["name"].as_str() != Some("runtime"))
    );
    assert_eq!(c["imagePullPolicy"].as_str(), Some("IfNotPresent"));
}

#[test]
fn pods_are_never_best_effort() {
    // No resources at all: the default requests.
    let (yaml, _certs) = render_str("[[pool]]\narch = \"amd64\"\n");
    let objects = parse_stream(&yaml);
    let r = &container(kind(&objects, "StatefulSet")[0])["resources"];
    assert_eq!(r["requests"]["cpu"].as_str(), Some("1"));
    assert_eq!(r["requests"]["memory"].as_str(), Some("2Gi"));
    // A limit alone: Kubernetes takes it as the request; no default request to contradict it.
    let (yaml, _certs) =
        render_str("[[pool]]\narch = \"amd64\"\nresources = { limits = { cpu = \"500m\" } }\n");
    let objects = parse_stream(&yaml);
    let r = &container(kind(&objects, "StatefulSet")[0])["resources"];
    assert!(r["requests"].get("cpu").is_none());
    assert_eq!(r["requests"]["memory"].as_str(), Some("2Gi"));
}

#[test]
fn exposed_pools_get_a_load_balancer_open_to_their_source_ranges_only() {
    let objects = render_example("expose-loadbalancer.toml");
    for pool in ["amd64", "arm64"] {
        let lb = named(&objects, "Service", &format!("build-{pool}-external"));
        let spec = &lb["spec"];
        assert_eq!(spec["type"].as_str(), Some("LoadBalancer"));
        // The client's address survives, so the NetworkPolicy can judge it.
        assert_eq!(spec["externalTrafficPolicy"].as_str(), Some("Local"));
        let ranges: Vec<&str> = spec["loadBalancerSourceRanges"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(str_of)
            .collect();
        assert_eq!(ranges, ["203.0.113.0/24", "2001:db8:c1::/48"]);
        let scheme =
            &lb["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"];
        assert_eq!(scheme.as_str(), Some("internet-facing"));
        // It selects exactly the pool's daemons, on the build port.
        let sts = named(&objects, "StatefulSet", &format!("build-{pool}"));
        assert!(selects(
            &spec["selector"],
            &sts["spec"]["template"]["metadata"]["labels"]
        ));
        assert_eq!(spec["ports"][0]["targetPort"].as_str(), Some("buildkitd"));
        // The in-cluster Service is unchanged.
        let internal = named(&objects, "Service", &format!("build-{pool}"));
        assert_eq!(internal["spec"]["type"].as_str(), Some("ClusterIP"));
    }
    // The NetworkPolicy admits the same ranges to the build port.
    let policy = kind(&objects, "NetworkPolicy")[0];
    let build = &policy["spec"]["ingress"][0];
    assert_eq!(build["ports"][0]["port"].as_i64(), Some(1234));
    let cidrs: Vec<&str> = build["from"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|peer| peer["ipBlock"]["cidr"].as_str())
        .collect();
    assert_eq!(cidrs, ["203.0.113.0/24", "2001:db8:c1::/48"]);
}

#[test]
fn external_names_join_the_daemon_certificate() {
    let spec = "name = \"build\"\n[expose]\ntype = \"loadbalancer\"\ndomain = \"ci.example.com\"\nsource_ranges = [\"203.0.113.0/24\"]\n[[pool]]\narch = \"amd64\"\n[[pool]]\narch = \"arm64\"\n";
    let (yaml, certs) = render_str(spec);
    let pem = std::fs::read_to_string(certs.path().join("daemon/tls.crt")).unwrap();
    let sans = buildfarm::read_cert(&pem).unwrap().sans;
    for host in ["build-amd64.ci.example.com", "build-arm64.ci.example.com"] {
        assert!(sans.iter().any(|s| s == host), "{host} in {sans:?}");
    }
    // Without a domain there is no external name to add; the Services still render.
    let (plain, certs) = render_str(&spec.replace("domain = \"ci.example.com\"\n", ""));
    let pem = std::fs::read_to_string(certs.path().join("daemon/tls.crt")).unwrap();
    let sans = buildfarm::read_cert(&pem).unwrap().sans;
    assert!(sans.iter().all(|s| !s.ends_with("example.com")), "{sans:?}");
    assert_eq!(
        kind(&parse_stream(&plain), "Service").len(),
        kind(&parse_stream(&yaml), "Service").len()
    );
}

#[test]
fn per_pod_load_balancers_each_select_one_daemon() {
    let spec = "name = \"build\"\n[expose]\ntype = \"loadbalancer\"\nsource_ranges = [\"203.0.113.0/24\"]\nper_pod = true\n[[pool]]\narch = \"amd64\"\nreplicas = 3\n";
    let (yaml, _certs) = render_str(spec);
    let objects = parse_stream(&yaml);
    let sts = named(&objects, "StatefulSet", "build-amd64");
    let pod_labels = |i: u32| {
        // What the StatefulSet controller gives pod `i`: the template's labels and its name.
        let mut labels = sts["spec"]["template"]["metadata"]["labels"].clone();
        let name = Value::from(format!("build-amd64-{i}"));
        labels
            .as_mapping_mut()
            .unwrap()
            .insert("statefulset.kubernetes.io/pod-name".into(), name);
        labels
    };
    for i in 0..3 {
        let lb = named(&objects, "Service", &format!("build-amd64-{i}-external"));
        assert_eq!(lb["spec"]["type"].as_str(), Some("LoadBalancer"));
        for j in 0..3 {
            assert_eq!(
                selects(&lb["spec"]["selector"], &pod_labels(j)),
                i == j,
                "load balancer {i} and pod {j}"
            );
        }
    }
    // The pool's own load balancer is still there, selecting every daemon.
    let pool_lb = named(&objects, "Service", "build-amd64-external");
    assert!((0..3).all(|j| selects(&pool_lb["spec"]["selector"], &pod_labels(j))));
}

/// The TLSRoute v1 CRD's structural schema for the fields we write (tests/crd/, with its
/// source): required fields, list bounds, name patterns, and no field the CRD lacks.
fn tlsroute_validator() -> jsonschema::Validator {
    let text = include_str!("crd/tlsroute-v1.json");
    let schema: serde_json::Value = serde_json::from_str(text).unwrap();
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

fn as_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap()
}

#[test]
fn tlsroutes_hold_to_their_crd_schema_and_route_each_name_to_its_daemons() {
    let spec = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/expose-gateway.toml"),
    )
    .unwrap();
    let (yaml, certs) = render_str(&spec);
    let objects = parse_stream(&yaml);
    let pem = std::fs::read_to_string(certs.path().join("daemon/tls.crt")).unwrap();
    let sans = buildfarm::read_cert(&pem).unwrap().sans;
    let validator = tlsroute_validator();
    let routes = kind(&objects, "TLSRoute");
    // One per pool and one per daemon: 2 pools, 3 + 2 daemons.
    assert_eq!(routes.len(), 2 + 5);
    for route in &routes {
        let errors: Vec<String> = validator
            .iter_errors(&as_json(route))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        let parent = &route["spec"]["parentRefs"][0];
        assert_eq!(str_of(&parent["name"]), "shared");
        assert_eq!(str_of(&parent["namespace"]), "gateways");
        assert_eq!(str_of(&parent["sectionName"]), "builds");
        let host = str_of(&route["spec"]["hostnames"][0]);
        assert!(sans.iter().any(|s| s == host), "{host} not in {sans:?}");
        assert_eq!(
            host,
            format!("{}.builds.example.com", str_of(&route["metadata"]["name"]))
        );
    }
    // Each route reaches, on the Service's own port, exactly the daemons its name promises.
    for (pool, replicas) in [("amd64", 3u32), ("arm64", 2)] {
        let sts = named(&objects, "StatefulSet", &format!("build-{pool}"));
        let pod = |i: u32| {
            let mut labels = sts["spec"]["template"]["metadata"]["labels"].clone();
            let name = Value::from(format!("build-{pool}-{i}"));
            labels
                .as_mapping_mut()
                .unwrap()
                .insert("statefulset.kubernetes.io/pod-name".into(), name);
            labels
        };
        let backend = |route: &str| {
            let r = named(&objects, "TLSRoute", route);
            let b = &r["spec"]["rules"][0]["backendRefs"][0];
            let service = named(&objects, "Service", str_of(&b["name"]));
            assert_eq!(b["port"], service["spec"]["ports"][0]["port"], "{route}");
            assert_eq!(str_of(&service["spec"]["type"]), "ClusterIP");
            service["spec"]["selector"].clone()
        };
        let whole = backend(&format!("build-{pool}"));
        assert!((0..replicas).all(|j| selects(&whole, &pod(j))));
        for i in 0..replicas {
            let one = backend(&format!("build-{pool}-{i}"));
            for j in 0..replicas {
                assert_eq!(selects(&one, &pod(j)), i == j, "route {i}, pod {j}");
            }
        }
    }
    // No load balancer of our own: the Gateway is the one.
    assert!(
        kind(&objects, "Service")
            .iter()
            .all(|s| s["spec"]["type"].as_str() != Some("LoadBalancer"))
    );
    // The Gateway's proxies connect from its namespace: the NetworkPolicy admits it.
    let build = &kind(&objects, "NetworkPolicy")[0]["spec"]["ingress"][0];
    let namespaces: Vec<&str> = build["from"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|p| {
            p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as_str()
        })
        .collect();
    assert!(namespaces.contains(&"gateways"), "{namespaces:?}");
}

#[test]
fn the_tlsroute_schema_catches_what_the_crd_refuses() {
    let validator = tlsroute_validator();
    let objects = render_example("expose-gateway.toml");
    let good = as_json(kind(&objects, "TLSRoute")[0]);
    assert!(validator.is_valid(&good));
    let broken = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut route = good.clone();
        edit(&mut route);
        !validator.is_valid(&route)
    };
    assert!(broken(
        &|r| r["apiVersion"] = "gateway.networking.k8s.io/v1alpha2".into()
    ));
    assert!(broken(&|r| r["spec"]["hostnames"] = serde_json::json!([])));
    assert!(broken(
        &|r| r["spec"]["hostnames"][0] = "Builds.Example.com".into()
    ));
    assert!(broken(&|r| {
        r["spec"]["rules"][0]["backendRefs"][0]
            .as_object_mut()
            .unwrap()
            .remove("port");
    }));
    assert!(broken(&|r| r["spec"]["hostname"] = "typo".into()));
}

#[test]
fn a_pool_expose_replaces_the_farm_keys_it_writes() {
    let spec = "name = \"build\"\n\
        [expose]\ntype = \"loadbalancer\"\ndomain = \"ci.example.com\"\nsource_ranges = [\"203.0.113.0/24\"]\n\
        [[pool]]\narch = \"amd64\"\n[pool.expose]\nip = \"198.51.100.7\"\n\
        [[pool]]\narch = \"arm64\"\n[pool.expose]\ntype = \"none\"\n\
        [[pool]]\nname = \"big\"\narch = \"amd64\"\nreplicas = 2\n[pool.expose]\ntype = \"gateway\"\ngateway = { name = \"shared\" }\n";
    let (yaml, certs) = render_str(spec);
    let objects = parse_stream(&yaml);
    // amd64: the farm's load balancer, with its own address.
    let lb = named(&objects, "Service", "build-amd64-external");
    assert_eq!(str_of(&lb["spec"]["loadBalancerIP"]), "198.51.100.7");
    assert_eq!(
        str_of(&lb["spec"]["loadBalancerSourceRanges"][0]),
        "203.0.113.0/24"
    );
    // arm64: inside only.
    let services: Vec<&str> = kind(&objects, "Service")
        .iter()
        .map(|s| str_of(&s["metadata"]["name"]))
        .collect();
    assert!(
        !services
            .iter()
            .any(|s| s.starts_with("build-arm64-external")),
        "{services:?}"
    );
    // big: TLSRoutes under the farm's domain, on a Gateway in the farm's namespace.
    let route = named(&objects, "TLSRoute", "build-big");
    assert_eq!(
        str_of(&route["spec"]["hostnames"][0]),
        "build-big.ci.example.com"
    );
    assert!(route["spec"]["parentRefs"][0].get("namespace").is_none());
    assert_eq!(kind(&objects, "TLSRoute").len(), 3);
    let pem = std::fs::read_to_string(certs.path().join("daemon/tls.crt")).unwrap();
    let sans = buildfarm::read_cert(&pem).unwrap().sans;
    let external: Vec<&String> = sans.iter().filter(|s| s.ends_with("example.com")).collect();
    assert_eq!(
        external,
        [
            "build-amd64.ci.example.com",
            "build-big.ci.example.com",
            "build-big-0.ci.example.com",
            "build-big-1.ci.example.com"
        ]
    );
}

fn scaledobject_validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("crd/scaledobject-v1alpha1.json")).unwrap();
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

/// What the StatefulSet controller names pod `i` of `sts`, against the query's pod matcher.
fn pod_regex_matches(query: &str, pod: &str) -> bool {
    // The query selects `pod=~"<sts>-[0-9]+"`: Prometheus anchors the regex at both ends.
    let start = query.find("pod=~\"").unwrap() + 6;
    let end = start + query[start..].find('"').unwrap();
    let prefix = query[start..end].strip_suffix("-[0-9]+").unwrap();
    pod.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[test]
fn a_pool_scaling_on_builds_leaves_its_size_to_keda() {
    let objects = render_example("autoscale-builds.toml");
    let sts = named(&objects, "StatefulSet", "build-amd64");
    // No size of our own to set back on every apply.
    assert!(sts["spec"].get("replicas").is_none());
    let so = as_json(named(&objects, "ScaledObject", "build-amd64"));
    let errors: Vec<String> = scaledobject_validator()
        .iter_errors(&so)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let spec = &so["spec"];
    assert_eq!(
        spec["scaleTargetRef"],
        serde_json::json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "build-amd64"})
    );
    assert_eq!(
        (
            spec["minReplicaCount"].as_u64(),
            spec["maxReplicaCount"].as_u64()
        ),
        (Some(1), Some(8))
    );
    // Scale down slowly and one daemon per drain; scale up at once.
    let behavior = &spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"];
    let down = &behavior["scaleDown"];
    assert_eq!(down["stabilizationWindowSeconds"], 1800);
    assert_eq!(
        down["policies"],
        serde_json::json!([{"type": "Pods", "value": 1, "periodSeconds": 1800}])
    );
    let grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(down["policies"][0]["periodSeconds"].as_u64().unwrap() >= grace.min(1800));
    assert_eq!(behavior["scaleUp"]["stabilizationWindowSeconds"], 0);
    let trigger = &spec["triggers"][0];
    assert_eq!(trigger["type"], "prometheus");
    let meta = &trigger["metadata"];
    assert_eq!(
        meta["serverAddress"],
        "http://prometheus-operated.monitoring.svc:9090"
    );
    assert_eq!(meta["threshold"], "2");
    let query = meta["query"].as_str().unwrap();
    assert!(
        query.contains("buildkit_build_duration_seconds")
            && query.contains("namespace=\"buildkit\""),
        "{query}"
    );
    assert!(query.ends_with(" or vector(0)"), "{query}");
    // Classic series first, the native histogram second: each has data in one ingestion mode
    // (CI asks the query of a real Prometheus both ways: .ci/prometheus_check.py).
    let classic = query.find("rate(buildkit_build_duration_seconds_sum{");
    let native = query.find("histogram_sum(rate(buildkit_build_duration_seconds{");
    assert!(
        matches!((classic, native), (Some(c), Some(n)) if c < n),
        "{query}"
    );
    for i in [0, 7, 12] {
        assert!(pod_regex_matches(query, &format!("build-amd64-{i}")));
    }
    assert!(
        !pod_regex_matches(query, "build-amd64-big-0")
            && !pod_regex_matches(query, "build-arm64-0")
    );
    // Removed pods' volumes stay for when they come back; the PDB never blocks a drain.
    assert_eq!(
        sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"].as_str(),
        Some("Retain")
    );
    let pdb = named(&objects, "PodDisruptionBudget", "build-amd64");
    assert_eq!(pdb["spec"]["maxUnavailable"].as_i64(), Some(1));
    assert!(pdb["spec"].get("minAvailable").is_none());
    assert!(kind(&objects, "HorizontalPodAutoscaler").is_empty());
}

#[test]
fn a_pool_scaling_to_zero_on_builds_is_refused_because_it_never_wakes() {
    let spec = "[metrics]\nport = 6060\n[[pool]]\narch = \"amd64\"\n[pool.autoscale]\nmin = 0\nmax = 4\nbuilds_per_pod = 2\nserver_address = \"http://prometheus:9090\"\n";
    Test::new()
        .spec(spec)
        .run(&["render"])
        .status(1)
        .no_stdout()
        .stderr_has("never wake")
        .stderr_has("min = 1")
        .run(&["lint"])
        .status(1)
        .stdout_has("error[autoscale-zero]");
    // One warm daemon is the way.
    Test::new()
        .spec(&spec.replace("min = 0", "min = 1"))
        .run(&["render"])
        .status(0);
}

#[test]
fn a_pool_scaling_on_cpu_gets_a_horizontal_pod_autoscaler() {
    let objects = render_example("autoscale-cpu.toml");
    for (pool, min, max, window, when_scaled) in [
        ("amd64", 2, 6, 1800, "Retain"),
        ("arm64", 2, 4, 900, "Delete"),
    ] {
        let name = format!("build-{pool}");
        let hpa = named(&objects, "HorizontalPodAutoscaler", &name);
        assert_eq!(str_of(&hpa["apiVersion"]), "autoscaling/v2");
        let spec = &hpa["spec"];
        assert_eq!(str_of(&spec["scaleTargetRef"]["kind"]), "StatefulSet");
        assert_eq!(str_of(&spec["scaleTargetRef"]["name"]), name);
        assert_eq!(
            (spec["minReplicas"].as_i64(), spec["maxReplicas"].as_i64()),
            (Some(min), Some(max))
        );
        let target = &spec["metrics"][0]["resource"];
        assert_eq!(str_of(&target["name"]), "cpu");
        assert_eq!(target["target"]["averageUtilization"].as_i64(), Some(70));
        assert_eq!(
            spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"].as_i64(),
            Some(window)
        );
        let sts = named(&objects, "StatefulSet", &name);
        assert!(sts["spec"].get("replicas").is_none());
        assert_eq!(
            str_of(&sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"]),
            when_scaled
        );
        // Utilisation is measured against the request the spec gives.
        assert!(
            container(sts)["resources"]["requests"]["cpu"]
                .as_str()
                .is_some()
        );
    }
    assert!(kind(&objects, "ScaledObject").is_empty());
}

#[test]
fn the_scaledobject_schema_catches_what_the_crd_refuses() {
    let v = scaledobject_validator();
    let good = as_json(kind(&render_example("autoscale-builds.toml"), "ScaledObject")[0]);
    assert!(v.is_valid(&good));
    let broken = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut so = good.clone();
        edit(&mut so);
        !v.is_valid(&so)
    };
    assert!(broken(&|s| {
        s["spec"].as_object_mut().unwrap().remove("triggers");
    }));
    assert!(broken(&|s| {
        s["spec"]["triggers"][0]
            .as_object_mut()
            .unwrap()
            .remove("metadata");
    }));
    assert!(broken(
        &|s| s["spec"]["triggers"][0]["metadata"]["threshold"] = 2.into()
    ));
    assert!(broken(
        &|s| s["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["policies"]
            [0]["periodSeconds"] = 3600.into()
    ));
    assert!(broken(&|s| {
        s["spec"]["scaleTargetRef"]
            .as_object_mut()
            .unwrap()
            .remove("name");
    }));
}

#[test]
fn a_fixed_pool_still_has_its_size_and_keeps_its_volumes() {
    let objects = render_example("default.toml");
    for sts in kind(&objects, "StatefulSet") {
        assert_eq!(sts["spec"]["replicas"].as_i64(), Some(2));
        assert_eq!(
            str_of(&sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"]),
            "Retain"
        );
    }
}

/// One list of a pool's objects: every example renders, per pool, exactly the objects
/// `names::pool_objects` lists (which the duplicate check reads), no more and no fewer.
#[test]
fn each_pool_renders_exactly_its_listed_objects() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let certs = tempfile::tempdir().unwrap();
        let farm = buildfarm::load(buildfarm::Origin::File(&path), Some(certs.path())).unwrap();
        let objects = parse_stream(&common::render_file(&path, certs.path()));
        for pool in &farm.pools {
            let mut listed: Vec<(String, String)> = buildfarm::pool_objects(&farm.name, pool)
                .into_iter()
                .map(|(part, name)| (part.kind().to_string(), name))
                .collect();
            let mut rendered: Vec<(String, String)> = objects
                .iter()
                .filter(|o| o["metadata"]["labels"]["buildfarm/pool"].as_str() == Some(&pool.name))
                .map(|o| {
                    (
                        str_of(&o["kind"]).to_string(),
                        str_of(&o["metadata"]["name"]).to_string(),
                    )
                })
                .collect();
            listed.sort();
            rendered.sort();
            assert_eq!(rendered, listed, "{}: pool `{}`", path.display(), pool.name);
        }
    }
}

/// With trust domains each pool has its own NetworkPolicy, selecting only its own pods and
/// admitting exactly the namespaces of the clients its `pools` allow; the untrusted pool reaches
/// only DNS and HTTPS; no farm-wide policy admits everyone everywhere.
#[test]
fn each_pool_admits_exactly_its_clients() {
    let objects = render_example("trust-domains.toml");
    let policies = kind(&objects, "NetworkPolicy");
    assert_eq!(policies.len(), 2, "one per pool, none farm-wide");
    for (pool, other, namespace) in [
        ("release", "forks", "ci-release"),
        ("forks", "release", "ci-forks"),
    ] {
        let np = named(&objects, "NetworkPolicy", &format!("buildkit-{pool}"));
        let selector = &np["spec"]["podSelector"]["matchLabels"];
        let pod_labels = |p: &str| {
            let sts = named(&objects, "StatefulSet", &format!("buildkit-{p}"));
            sts["spec"]["template"]["metadata"]["labels"].clone()
        };
        assert!(common::selects(selector, &pod_labels(pool)), "{pool}");
        assert!(
            !common::selects(selector, &pod_labels(other)),
            "{pool} selects {other}"
        );
        let from: Vec<&str> = np["spec"]["ingress"][0]["from"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|peer| {
                str_of(&peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"])
            })
            .collect();
        assert_eq!(from, [namespace], "{pool}");
    }
    let forks = named(&objects, "NetworkPolicy", "buildkit-forks");
    let egress = forks["spec"]["egress"].as_sequence().unwrap();
    let ports: Vec<i64> = egress
        .iter()
        .flat_map(|rule| rule["ports"].as_sequence().unwrap().iter())
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, [53, 53, 443, 443]);
    let release = named(&objects, "NetworkPolicy", "buildkit-release");
    assert!(
        release["spec"]["egress"].is_null(),
        "the trusted pool keeps the farm's egress"
    );
}

#[test]
fn runtime_class_reaches_only_its_pools_pods() {
    let spec = "name = \"bk\"\n[[pool]]\narch = \"amd64\"\nname = \"a\"\nruntime_class = \"kata\"\n[[pool]]\narch = \"amd64\"\nname = \"b\"\n";
    let (yaml, _certs) = common::render_str(spec);
    let objects = parse_stream(&yaml);
    let class = |p: &str| {
        let sts = named(&objects, "StatefulSet", &format!("bk-{p}"));
        sts["spec"]["template"]["spec"]["runtimeClassName"].clone()
    };
    assert_eq!(class("a").as_str(), Some("kata"));
    assert!(class("b").is_null());
}

/// A pool's own `[pool.gc]` replaces `[gc]` for its daemons only: its own buildkitd.toml, with
/// its cap and keep duration; the other pool keeps the farm's.
#[test]
fn a_pools_own_gc_replaces_the_farms_for_it_alone() {
    let objects = render_example("trust-domains.toml");
    let gc_of = |pool: &str| {
        let sts = named(&objects, "StatefulSet", &format!("buildkit-{pool}"));
        let config = buildkitd_toml(&objects, sts);
        config["worker"]["oci"]["gcpolicy"]
            .as_array()
            .unwrap()
            .clone()
    };
    let forks = gc_of("forks");
    let release = gc_of("release");
    let cap = |policies: &[toml::Value]| {
        policies.last().unwrap()["maxUsedSpace"]
            .as_integer()
            .unwrap()
    };
    assert_eq!(cap(&forks), 30 << 30, "`30GB` is read as GiB");
    assert_eq!(forks[0]["keepDuration"].as_integer(), Some(24 * 3600));
    // The release pool's GC is derived from its own 200Gi volume: 75%.
    assert_eq!(cap(&release), 150 << 30);
    let cm = named(&objects, "ConfigMap", "buildkit-config");
    let text = str_of(&cm["data"]["buildkitd-forks.toml"]);
    assert!(
        text.contains("# GC: from [pool.gc] in farm.toml: cap 30 GiB"),
        "{text}"
    );
}
