//! Property tests: arbitrary specs (built from farm.toml's own keys with values of every type,
//! and plain garbage) through parse → lint → render must never panic, and whatever renders
//! must parse back as YAML.

use std::path::Path;

use proptest::prelude::*;

use buildfarm::Source;

const KEYS: &[&str] = &[
    "name",
    "namespace",
    "mode",
    "image",
    "buildkit_version",
    "kubernetes",
    "port",
    "cluster_domain",
    "debug",
    "metrics_port",
    "extra_args",
    "drain_seconds",
    "create_namespace",
    "network_policy",
];
const POOL_KEYS: &[&str] = &[
    "arch",
    "name",
    "replicas",
    "storage",
    "storage_class",
    "node_selector",
    "tolerations",
    "resources",
    "pod_annotations",
    "affinity",
    "priority_class_name",
    "pod_management_policy",
    "volume_on_scale_down",
    "autoscale",
    "expose",
];
const SECTIONS: &[(&str, &[&str])] = &[
    ("gc", &["reserved", "max_used", "min_free", "keep_duration"]),
    ("history", &["max_age", "max_entries"]),
    (
        "tls",
        &["mode", "dir", "secret", "server_days", "key", "extra_sans"],
    ),
    ("probes", &["timeout_seconds", "startup_seconds"]),
    ("metrics", &["port", "service_monitor", "pod_monitor"]),
    ("network", &["allow", "metrics_from", "egress"]),
    (
        "expose",
        &[
            "type",
            "domain",
            "source_ranges",
            "per_pod",
            "gateway",
            "ip",
        ],
    ),
];

/// A TOML value of any type, biased towards values the spec could plausibly hold.
fn value() -> impl Strategy<Value = String> {
    let plausible = prop::sample::select(vec![
        "\"amd64\"",
        "\"arm64\"",
        "\"rootless\"",
        "\"privileged\"",
        "\"userns\"",
        "\"100Gi\"",
        "\"50GB\"",
        "\"80%\"",
        "\"48h\"",
        "\"1.30\"",
        "\"1.33\"",
        "\"moby/buildkit:v0.16.0\"",
        "\"generated\"",
        "\"cert-manager\"",
        "\"external\"",
        "0",
        "1",
        "2",
        "-1",
        "1234",
        "true",
        "{}",
        "[]",
        "{ memory = \"8Gi\" }",
        "[{ key = \"a\", operator = \"Exists\" }]",
        "\"\"",
    ])
    .prop_map(String::from);
    let leaf = prop_oneof![
        plausible,
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        ".{0,12}".prop_map(|s| toml::Value::String(s).to_string()),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z]{1,6}", inner), 0..3).prop_map(|kv| format!(
                "{{ {} }}",
                kv.into_iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ]
    })
}

/// Values a key accepts; most generated values come from here so that many specs are valid
/// and the renderer is exercised, not only the parser.
fn valid(key: &str) -> &'static [&'static str] {
    match key {
        "name" => &["\"ci\"", "\"bk\""],
        "namespace" => &["\"builds\""],
        "mode" => &["\"rootless\"", "\"privileged\""],
        "image" => &[
            "\"moby/buildkit:v0.16.0-rootless\"",
            "\"moby/buildkit:v0.32.2-rootless\"",
        ],
        "kubernetes" => &["\"1.29\"", "\"1.34\""],
        "port" => &["1234", "8372"],
        "metrics_port" => &["6060"],
        "debug" | "create_namespace" | "network_policy" | "service_monitor" | "pod_monitor" => {
            &["true", "false"]
        }
        "allow" | "metrics_from" => &[
            "[{ namespace = \"ci\" }]",
            "[]",
            "[{ cidr = \"10.0.0.0/8\" }]",
        ],
        "egress" => &["[{ cidr = \"0.0.0.0/0\", ports = [443] }]", "[]"],
        "extra_args" => &["[\"--oci-max-parallelism\", \"4\"]"],
        "drain_seconds" => &["60"],
        "cluster_domain" => &["\"corp.internal\""],
        "arch" => &["\"amd64\"", "\"arm64\""],
        "replicas" => &["0", "1", "3"],
        "storage" => &["\"100Gi\"", "\"1Ti\"", "\"200G\""],
        "storage_class" => &["\"ssd\""],
        "node_selector" => &["{ disk = \"ssd\" }"],
        "tolerations" => &["[{ key = \"a\", operator = \"Exists\" }]"],
        "resources" => &["{ limits = { memory = \"8Gi\" } }"],
        "pod_annotations" => &["{ note = \"x: y\" }"],
        "affinity" => &["{ nodeAffinity = {} }"],
        "priority_class_name" => &["\"high\""],
        "pod_management_policy" => &["\"OrderedReady\""],
        "reserved" | "min_free" => &["\"10GB\""],
        "max_used" => &["\"60%\"", "\"50GB\""],
        "keep_duration" | "max_age" => &["\"48h\""],
        "max_entries" => &["10"],
        "dir" => &["\"pki\""],
        "server_days" | "timeout_seconds" | "startup_seconds" => &["30"],
        "key" => &["\"ed25519\"", "\"ecdsa-p384\""],
        "extra_sans" => &["[\"a.example\", \"10.0.0.1\"]"],
        "volume_on_scale_down" => &["\"retain\"", "\"delete\""],
        "autoscale" => &[
            "{ min = 1, max = 4, cpu = 70 }",
            "{ min = 0, max = 3, builds_per_pod = 2, server_address = \"http://p:9090\" }",
            "{ min = 6, max = 4, cpu = 70 }",
            "{ max = 2 }",
        ],
        "expose" => &[
            "{ type = \"none\" }",
            "{ type = \"loadbalancer\", source_ranges = [\"10.0.0.0/8\"], ip = \"10.1.2.3\" }",
            "{ type = \"gateway\", domain = \"x.example.com\", gateway = { name = \"g\" } }",
            "{ per_pod = true }",
        ],
        "type" => &["\"loadbalancer\"", "\"gateway\""],
        "domain" => &["\"ci.example.com\""],
        "source_ranges" => &["[\"203.0.113.0/24\"]"],
        "per_pod" => &["true", "false"],
        "gateway" => &["{ name = \"shared\", port = 443 }"],
        "ip" => &["\"198.51.100.7\""],
        _ => &["1"],
    }
}

fn value_for(key: &'static str) -> BoxedStrategy<String> {
    prop_oneof![4 => prop::sample::select(valid(key)).prop_map(String::from), 1 => value()].boxed()
}

fn entries(
    keys: &'static [&'static str],
    n: std::ops::Range<usize>,
) -> impl Strategy<Value = Vec<(&'static str, String)>> {
    prop::collection::vec(
        prop::sample::select(keys).prop_flat_map(|k| value_for(k).prop_map(move |v| (k, v))),
        n,
    )
}

fn spec() -> impl Strategy<Value = String> {
    let top = entries(KEYS, 0..5);
    let section = prop::collection::vec(
        prop::sample::select(SECTIONS)
            .prop_flat_map(|(name, keys)| entries(keys, 0..3).prop_map(move |kv| (name, kv))),
        0..2,
    );
    let pools = prop::collection::vec(entries(POOL_KEYS, 0..5), 0..3);
    (top, section, pools).prop_map(|(top, sections, pools)| {
        let mut out = String::new();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in top {
            if seen.insert(k) {
                out.push_str(&format!("{k} = {v}\n"));
            }
        }
        for (name, kv) in sections {
            if !seen.insert(name) {
                continue;
            }
            out.push_str(&format!("[{name}]\n"));
            let mut keys = std::collections::HashSet::new();
            for (k, v) in kv {
                if keys.insert(k) {
                    out.push_str(&format!("{k} = {v}\n"));
                }
            }
        }
        for (i, pool) in pools.into_iter().enumerate() {
            out.push_str(&format!("[[pool]]\narch = \"amd64\"\nname = \"p{i}\"\n"));
            let mut keys = std::collections::HashSet::from(["arch", "name"]);
            for (k, v) in pool {
                if keys.insert(k) {
                    out.push_str(&format!("{k} = {v}\n"));
                }
            }
        }
        out
    })
}

fn exercise(text: &str) {
    let certs = tempfile::tempdir().unwrap();
    let source = Source::new("farm.toml", text);
    let findings = crate::common::lint(&source, certs.path());
    for d in &findings {
        assert!(!d.message.is_empty());
        let _ = d.with_rule();
    }
    for format in [
        buildfarm::Format::Json,
        buildfarm::Format::Github,
        buildfarm::Format::Gitlab,
    ] {
        let _ = buildfarm::format_findings(&findings, format);
    }
    if let Ok(yaml) = buildfarm::render_str(text, certs.path()) {
        crate::common::parse_stream(&yaml);
    }
    every_subcommand(&source, certs.path());
}

/// `client` and `certs` subcommands, as the binary runs them: any answer but a panic, and the
/// YAML ones parse.
fn every_subcommand(source: &Source, certs: &Path) {
    let Ok(farm) = buildfarm::parse(source, Path::new(""), Some(certs)) else {
        return;
    };
    use clap::Parser;
    let parse = |args: &[&str]| {
        buildfarm::Cli::try_parse_from([&["buildfarm"], args].concat())
            .expect("the fuzz's own command lines parse")
            .command
    };
    let yaml_out = ["gitlab", "github", "sidecar"];
    for args in [
        &["client", "buildx"][..],
        &["client", "buildx", "--via", "port-forward"],
        &["client", "buildctl", "--key", "group/project"],
        &["client", "endpoint", "--key", "group/project", "--all"],
        &["client", "gitlab"],
        &["client", "gitlab", "--tool", "buildx"],
        &["client", "github"],
        &["client", "sidecar"],
        &[
            "client",
            "sidecar",
            "--format",
            "patch",
            "--target",
            "Deployment/runner",
        ],
        &["certs", "generate"],
        &["certs", "show", "--format", "json"],
        &["certs", "renew", "--within", "400"],
        &["certs", "rotate-ca"],
        &["certs", "rotate-ca", "--finish"],
    ] {
        let result = match parse(args) {
            buildfarm::Command::Client(c) => buildfarm::client_text(&farm, c),
            buildfarm::Command::Certs(c) => buildfarm::certs_text(&farm, c),
            _ => unreachable!("only client and certs commands are listed"),
        };
        if let Ok(text) = result
            && yaml_out.contains(&args[1])
        {
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text)
                .unwrap_or_else(|e| panic!("{args:?}: {e}\n{text}"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn specs_from_the_grammar_never_panic(text in spec()) {
        exercise(&text);
    }

    #[test]
    fn garbage_never_panics(text in ".{0,200}") {
        exercise(&text);
    }
}
