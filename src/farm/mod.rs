//! The farm spec: `farm.toml` → `RawFarm` (raw.rs) → checks (validate/) → `Farm`.
//! `Farm` is complete (defaults applied) and consistent; everything downstream trusts it.
//! Object, DNS and endpoint names are built in `names.rs` and nowhere else.

pub mod defaults;
pub mod names;
pub mod raw;
pub mod releases;
pub mod size;
pub mod spans;
pub mod syntax;
mod validate;
pub mod version;

use std::path::{Path, PathBuf};

use anyhow::Context;
use indexmap::IndexMap;

use crate::closed::closed_set;
use crate::diagnostic::{Diagnostic, Invalid, Source};
use crate::profile::{Mode, Profile};
use crate::rule::Rule;
use size::DiskSpace;
use version::{KubeVersion, Version};

/// The label every namespace carries with its own name (set by Kubernetes since 1.21).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Debug, Clone)]
pub struct Farm {
    /// The spec as written, and where each key is (`image`, `gc.max_used`, `pool.0.storage`):
    /// later findings (lint) point at the line that causes them.
    pub source: Source,
    pub spans: spans::Spans,
    pub name: String,
    pub namespace: String,
    pub create_namespace: bool,
    pub mode: Mode,
    pub profile: Profile,
    pub image: String,
    pub buildkit: Version,
    pub kubernetes: KubeVersion,
    pub port: u16,
    pub cluster_domain: String,
    pub debug: bool,
    pub metrics_port: Option<u16>,
    /// Render a ServiceMonitor / PodMonitor for the metrics port.
    pub service_monitor: bool,
    pub pod_monitor: bool,
    /// Render the NetworkPolicy (`network_policy`, default true).
    pub network_policy: bool,
    pub network: Network,
    pub extra_args: Vec<String>,
    pub drain_seconds: u32,
    /// A read-only root filesystem with the profile's writable folders as emptyDirs.
    pub read_only_root: bool,
    pub probes: Probes,
    pub tls: Tls,
    pub gc: Option<Gc>,
    pub history: Option<History>,
    /// Merged over the generated buildkitd.toml.
    pub buildkitd: toml::Table,
    pub extra_volumes: Vec<Volume>,
    pub pools: Vec<Pool>,
}

/// Who may reach the daemons and what builds may reach.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Network {
    /// Build-port clients besides the `[[tls.client]]` namespaces; `None` when not written
    /// (an explicit `allow = []` means "port-forward only", on purpose).
    pub allow: Option<Vec<Peer>>,
    pub metrics_from: Vec<Peer>,
    /// `None`: egress open.
    pub egress: Option<Vec<Peer>>,
}

closed_set! {
    /// How the farm is reached from outside (`[expose] type`).
    pub enum ExposeType {
        /// A LoadBalancer Service per pool (and per daemon with `per_pod`).
        LoadBalancer = "loadbalancer",
        /// Gateway API TLSRoutes in passthrough mode on an existing Gateway.
        Gateway = "gateway",
        /// Not reached from outside (a pool's way out of the farm's `[expose]`).
        None = "none",
    }
}

/// `[expose]`, as it applies to one pool: the pool's keys over the farm's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expose {
    /// `LoadBalancer` or `Gateway` (a pool with `none` has no `Expose`).
    pub kind: ExposeType,
    /// External names are `<name>-<pool>.<domain>` and `<name>-<pool>-<i>.<domain>`.
    pub domain: Option<String>,
    /// Who may reach the load balancers; empty: anyone (lint warns).
    pub source_ranges: Vec<String>,
    pub annotations: IndexMap<String, String>,
    /// The pool load balancer's fixed address.
    pub ip: Option<String>,
    /// A load balancer (or TLSRoute) per daemon too.
    pub per_pod: bool,
    /// The Gateway the TLSRoutes attach to (`type = "gateway"`).
    pub gateway: Option<GatewayRef>,
}

/// An existing Gateway's TLS listener.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GatewayRef {
    pub name: String,
    /// `None`: the farm's namespace.
    pub namespace: Option<String>,
    pub section_name: Option<String>,
    /// The listener's port, for clients.
    pub port: u16,
}

impl Expose {
    /// The port clients outside connect to: the Gateway listener's, or the Service's.
    pub fn port(&self, service_port: u16) -> u16 {
        self.gateway.as_ref().map_or(service_port, |g| g.port)
    }
}

/// A NetworkPolicy peer, as the spec names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Pods {
        /// `kubernetes.io/metadata.name` or other namespace labels; `None`: the farm's namespace.
        namespace_labels: Option<IndexMap<String, String>>,
        pod_labels: Option<IndexMap<String, String>>,
        ports: Vec<u16>,
    },
    Cidr {
        cidr: String,
        ports: Vec<u16>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probes {
    pub timeout_seconds: u32,
    pub readiness_period_seconds: u32,
    pub liveness_period_seconds: u32,
    pub liveness_failure_threshold: u32,
    pub startup_seconds: u32,
}

closed_set! {
    /// Who issues the certificates (`tls.mode`).
    pub enum TlsMode {
        /// buildfarm issues the certificates into `tls.dir` and renders the Secrets.
        Generated = "generated",
        /// cert-manager issues them from rendered Issuers and Certificates.
        CertManager = "cert-manager",
        /// An existing Secret, named by `tls.secret`.
        External = "external",
    }
}

closed_set! {
    /// Key algorithm of every issued certificate (`tls.key`); Go's crypto/tls (buildkitd)
    /// accepts all three.
    pub enum KeyAlgorithm {
        EcdsaP256 = "ecdsa-p256",
        EcdsaP384 = "ecdsa-p384",
        Ed25519 = "ed25519",
    }
}

closed_set! {
    /// CPU architectures a pool can have, as Kubernetes names them (`kubernetes.io/arch`).
    pub enum Arch {
        Amd64 = "amd64",
        Arm64 = "arm64",
        Arm = "arm",
        Ppc64le = "ppc64le",
        S390x = "s390x",
        Riscv64 = "riscv64",
        I386 = "386",
    }
}

impl Arch {
    /// The OCI platform buildx and BuildKit name the arch by (`linux/arm/v7` for `arm`).
    pub fn platform(self) -> String {
        match self {
            Arch::Arm => "linux/arm/v7".into(),
            other => format!("linux/{other}"),
        }
    }
}

closed_set! {
    /// How a pool's StatefulSet starts its pods (`pod_management_policy`).
    pub enum PodManagementPolicy {
        Parallel = "Parallel",
        OrderedReady = "OrderedReady",
    }
}

closed_set! {
    pub enum TolerationOperator {
        Equal = "Equal",
        Exists = "Exists",
    }
}

closed_set! {
    pub enum TolerationEffect {
        NoSchedule = "NoSchedule",
        PreferNoSchedule = "PreferNoSchedule",
        NoExecute = "NoExecute",
    }
}

#[derive(Debug, Clone)]
pub struct Tls {
    pub mode: TlsMode,
    /// Resolved against the folder farm.toml is in (or overridden by `--certs`).
    pub dir: PathBuf,
    /// The kubernetes.io/tls Secret the daemons mount.
    pub secret: String,
    pub server_days: u32,
    pub client_days: u32,
    pub ca_days: u32,
    pub key: KeyAlgorithm,
    pub extra_sans: Vec<String>,
    pub clients: Vec<Client>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub name: String,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gc {
    pub reserved: Option<DiskSpace>,
    pub max_used: Option<DiskSpace>,
    pub min_free: Option<DiskSpace>,
    pub keep_duration: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub max_age_seconds: u64,
    pub max_entries: u32,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Volume {
    pub name: String,
    pub mount_path: String,
    pub read_only: bool,
    pub source: toml::Table,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub name: String,
    pub arch: Arch,
    pub replicas: u32,
    pub storage: Option<Storage>,
    pub storage_class: Option<String>,
    pub node_selector: IndexMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub requests: IndexMap<String, String>,
    pub limits: IndexMap<String, String>,
    pub pod_annotations: IndexMap<String, String>,
    pub affinity: Option<toml::Table>,
    pub priority_class_name: Option<String>,
    pub pod_management_policy: PodManagementPolicy,
    /// How the pool is reached from outside: its `[pool.expose]` over the farm's `[expose]`.
    pub expose: Option<Expose>,
    /// Scaled with demand (`[pool.autoscale]`); `replicas` is then the starting size.
    pub autoscale: Option<Autoscale>,
    /// What a pod's cache volume does when the pool shrinks.
    pub volume_on_scale_down: VolumePolicy,
}

impl Pool {
    /// How many ordinals the pool's daemons can have: `max` when it autoscales, else `replicas`.
    /// Per-daemon names, certificate SANs and pinning cover all of them.
    pub fn ordinals(&self) -> u32 {
        self.autoscale.as_ref().map_or(self.replicas, |a| a.max)
    }
}

/// `[pool.autoscale]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Autoscale {
    pub min: u32,
    pub max: u32,
    pub signal: Signal,
    /// The scale-down stabilisation window.
    pub scale_down_seconds: u32,
}

/// What an autoscaled pool follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Builds in flight per daemon, through KEDA and Prometheus.
    Builds {
        per_pod: u32,
        server_address: String,
        /// `None`: buildfarm's query on BuildKit's build metrics.
        query: Option<String>,
    },
    /// CPU utilisation in percent of the request, through a HorizontalPodAutoscaler.
    Cpu { percent: u32 },
}

closed_set! {
    /// `volume_on_scale_down`: a StatefulSet's `persistentVolumeClaimRetentionPolicy.whenScaled`.
    pub enum VolumePolicy {
        /// The volume stays for the pod that comes back.
        Retain = "retain",
        /// The volume goes with the pod.
        Delete = "delete",
    }
}

/// A cache volume: the quantity as written (it goes into the PVC) and its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    pub quantity: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Toleration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub operator: TolerationOperator,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect: Option<TolerationEffect>,
    #[serde(rename = "tolerationSeconds", skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

impl Farm {
    /// The source ranges of every pool's load balancers, each once, in spec order.
    pub fn outside_ranges(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for e in self.pools.iter().filter_map(|p| p.expose.as_ref()) {
            for r in &e.source_ranges {
                if !out.contains(&r.as_str()) {
                    out.push(r);
                }
            }
        }
        out
    }

    /// The namespaces of the Gateways that route to the pools, each once.
    pub fn gateway_namespaces(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for g in self
            .pools
            .iter()
            .filter_map(|p| p.expose.as_ref()?.gateway.as_ref())
        {
            let ns = g.namespace.as_deref().unwrap_or(&self.namespace);
            if !out.contains(&ns) {
                out.push(ns);
            }
        }
        out
    }

    /// Where the `[expose]` key `key` that pool `index` uses is written: its own table's, else
    /// the farm's; for a key written nowhere, the table that sets the pool's `type`.
    pub fn expose_path(&self, index: usize, key: &str) -> String {
        let own = format!("pool.{index}.expose");
        for table in [own.as_str(), "expose"] {
            if self.spans.value(&format!("{table}.{key}")).is_some() {
                return format!("{table}.{key}");
            }
        }
        match self.spans.value(&format!("{own}.type")) {
            Some(_) => own,
            None => "expose".into(),
        }
    }

    /// A finding about `path` (or its nearest written parent, else the top of the file).
    /// With the rule's default severity (`.severity(..)` overrides it).
    pub fn finding(&self, rule: Rule, path: &str, message: impl Into<String>) -> Diagnostic {
        // A misspelled path would silently point at its parent: every rule's case in tests/bad
        // runs this in a debug build.
        debug_assert!(is_key_path(path), "`{path}` is no farm.toml key path");
        let mut at = path;
        let span = loop {
            if let Some(span) = self.spans.value(at) {
                break Some(span);
            }
            match at.rsplit_once('.') {
                Some((parent, _)) => at = parent,
                None => break None,
            }
        };
        self.source
            .error(span, message)
            .rule(rule)
            .severity(rule.severity())
    }

    /// A finding at the key `path` (as written, e.g. `["buildkitd", "worker", "oci", "gc"]`),
    /// at `fallback` (as for `finding`) when not found.
    pub fn finding_at_key(
        &self,
        rule: Rule,
        path: &[String],
        fallback: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        let at: Vec<spans::Seg> = path.iter().cloned().map(spans::Seg::Key).collect();
        match self.spans.key(&at) {
            Some(span) => self
                .source
                .error(Some(span), message)
                .rule(rule)
                .severity(rule.severity()),
            None => self.finding(rule, fallback, message),
        }
    }
}

/// Whether `path` (`gc.max_used`, `pool.0.replicas`) is a key farm.toml can hold, by its schema.
#[cfg(debug_assertions)]
fn is_key_path(path: &str) -> bool {
    use serde_json::Value;
    static SCHEMA: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let root = SCHEMA.get_or_init(|| serde_json::from_str(&schema()).expect("the schema is JSON"));
    // Each node a path step can reach: through `$ref`s and `anyOf` alternatives.
    fn step<'a>(root: &'a Value, node: &'a Value, seg: &str, out: &mut Vec<&'a Value>) {
        if let Some(name) = node["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            return step(root, &root["$defs"][name], seg, out);
        }
        for alt in node["anyOf"].as_array().into_iter().flatten() {
            step(root, alt, seg, out);
        }
        let next = match seg.parse::<usize>() {
            Ok(_) => &node["items"],
            Err(_) => &node["properties"][seg],
        };
        if !next.is_null() {
            out.push(next);
        } else if matches!(
            node["additionalProperties"],
            Value::Object(_) | Value::Bool(true)
        ) {
            // A map of the user's own keys (`node_selector`): anything below it, dots and all.
            out.push(&Value::Bool(true));
        }
    }
    let mut nodes = vec![root];
    for seg in path.split('.') {
        if nodes.iter().any(|n| n.is_boolean()) {
            return true;
        }
        let mut next = Vec::new();
        for node in nodes {
            step(root, node, seg, &mut next);
        }
        nodes = next;
    }
    !nodes.is_empty()
}

#[cfg(not(debug_assertions))]
fn is_key_path(_: &str) -> bool {
    true
}

/// The JSON Schema of farm.toml, derived from `RawFarm` (its `///` docs are the descriptions).
pub fn schema() -> String {
    let mut schema = schemars::schema_for!(raw::RawFarm);
    schema.insert("title".into(), "buildfarm farm.toml".into());
    serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n"
}

/// Where a spec comes from.
pub enum Origin<'a> {
    /// A farm.toml the user named or that exists in the current folder.
    File(&'a Path),
    /// No farm.toml: the embedded default farm.
    BuiltIn,
}

/// The largest spec read: a farm of a thousand pools is under 300 KiB.
pub const MAX_SPEC_BYTES: u64 = 4 << 20;

/// Reads a spec: its text, and the folder its relative paths (`tls.dir`) start from. Only a
/// regular file of at most `MAX_SPEC_BYTES` is read (a FIFO would block, `/dev/zero` never
/// ends); text that is not UTF-8 is invalid input, located at its first bad byte.
pub fn read(origin: Origin<'_>) -> anyhow::Result<(Source, PathBuf)> {
    Ok(match origin {
        Origin::File(path) => {
            let name = path.display().to_string();
            let meta =
                std::fs::metadata(path).with_context(|| format!("failed to read `{name}`"))?;
            if !meta.is_file() {
                anyhow::bail!(
                    "`{name}` is not a regular file: --spec takes a farm.toml, not a device, FIFO or folder"
                );
            }
            let mut bytes = Vec::new();
            let file =
                std::fs::File::open(path).with_context(|| format!("failed to read `{name}`"))?;
            std::io::Read::read_to_end(
                &mut std::io::Read::take(file, MAX_SPEC_BYTES + 1),
                &mut bytes,
            )
            .with_context(|| format!("failed to read `{name}`"))?;
            if bytes.len() as u64 > MAX_SPEC_BYTES {
                // The file as a whole: its name, no excerpt.
                let d = Source::new(name.as_str(), String::new())
                    .error(
                        None,
                        format!(
                            "`{name}` is larger than {} MiB, the most a farm.toml may be",
                            MAX_SPEC_BYTES >> 20
                        ),
                    )
                    .rule(Rule::SpecTooLarge)
                    .hint("a farm of a thousand pools is under 300 KiB: is this the right file?");
                return Err(Invalid::from(d).into());
            }
            let text = match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    let at = e.utf8_error().valid_up_to();
                    // Locate the bad byte in the valid text before it; show the line up to there.
                    let valid = String::from_utf8_lossy(&e.as_bytes()[..at]).into_owned();
                    let source = Source::new(name, valid);
                    let d = source
                        .error(
                            Some(at..at),
                            format!("the spec is not UTF-8: byte {at} is not valid UTF-8"),
                        )
                        .rule(Rule::InvalidUtf8)
                        .hint("save farm.toml as UTF-8");
                    return Err(Invalid::from(d).into());
                }
            };
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (Source::new(name, text), base)
        }
        Origin::BuiltIn => (
            Source::new("<built-in farm>", defaults::BUILT_IN_FARM),
            PathBuf::new(),
        ),
    })
}

/// Reads and checks a spec. `certs_dir` (from `--certs`) overrides `tls.dir`.
pub fn load(origin: Origin<'_>, certs_dir: Option<&Path>) -> anyhow::Result<Farm> {
    let (source, base) = read(origin)?;
    Ok(parse(&source, &base, certs_dir)?)
}

/// Parses and checks spec text; relative paths in it are taken from `base`. Every problem is
/// reported, sorted by position, not just the first.
pub fn parse(source: &Source, base: &Path, certs_dir: Option<&Path>) -> Result<Farm, Invalid> {
    let (raw, mut problems) = parse_raw(source);
    let checked = raw.map(|(raw, spans)| validate::check(raw, spans, source, base, certs_dir));
    match checked {
        Some(Ok(farm)) if problems.is_empty() => return Ok(farm),
        Some(Err(Invalid(more))) => problems.extend(more),
        _ => {}
    }
    problems.sort_by_key(|d| d.location.as_ref().map(|l| (l.line, l.col)));
    Err(Invalid(problems))
}

/// At most this many shape problems are collected from one file.
const MAX_SHAPE_PROBLEMS: usize = 100;

/// The raw spec and every shape problem (syntax, unknown keys, wrong types). Serde stops at the
/// first problem, so each one found is cut out of the parsed document and the rest read again.
/// Only unknown keys leave a spec worth checking further: a value cut out for its type would
/// look missing and cause follow-on errors.
fn parse_raw(source: &Source) -> (Option<(raw::RawFarm, spans::Spans)>, Vec<Diagnostic>) {
    let (mut doc, syntax) = toml::de::DeTable::parse_recoverable(&source.text);
    if !syntax.is_empty() {
        return (None, syntax.iter().map(|e| toml_error(source, e)).collect());
    }
    let spans = spans::Spans::of(doc.get_ref());
    let mut problems = Vec::new();
    while problems.len() < MAX_SHAPE_PROBLEMS {
        let parsed = <raw::RawFarm as serde::Deserialize>::deserialize(
            toml::de::Deserializer::from(doc.clone()),
        );
        match parsed {
            Ok(raw) => {
                let only_unknown_keys = problems
                    .iter()
                    .all(|d: &Diagnostic| d.rule == "unknown-key");
                return (only_unknown_keys.then_some((raw, spans)), problems);
            }
            Err(e) => {
                problems.push(toml_error(source, &e));
                let removed = e.span().is_some_and(|span| remove_at(doc.get_mut(), &span));
                if !removed {
                    break;
                }
            }
        }
    }
    (None, problems)
}

/// Removes the entry whose key or value sits at `span` (for a bad array element, the array).
fn remove_at(table: &mut toml::de::DeTable<'_>, span: &std::ops::Range<usize>) -> bool {
    use toml::de::DeValue;
    let within = |outer: std::ops::Range<usize>| outer.start <= span.start && span.end <= outer.end;
    let mut hit = None;
    for (key, value) in table.iter_mut() {
        if key.span() == *span || value.span() == *span {
            hit = Some(key.get_ref().to_string());
            break;
        }
        let found = match value.get_mut() {
            DeValue::Table(t) => remove_at(t, span),
            DeValue::Array(items) => {
                let in_a_table = items.iter_mut().any(|item| remove_in(item.get_mut(), span));
                if !in_a_table && items.iter().any(|item| within(item.span())) {
                    hit = Some(key.get_ref().to_string());
                    break;
                }
                in_a_table
            }
            _ => false,
        };
        if found {
            return true;
        }
    }
    hit.is_some_and(|key| table.remove(key.as_str()).is_some())
}

fn remove_in(value: &mut toml::de::DeValue<'_>, span: &std::ops::Range<usize>) -> bool {
    match value {
        toml::de::DeValue::Table(t) => remove_at(t, span),
        _ => false,
    }
}

/// A TOML or shape error, with the unknown-key case turned into a did-you-mean.
fn toml_error(source: &Source, err: &toml::de::Error) -> Diagnostic {
    let message = err.message().trim_end();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let hint = match crate::suggest::did_you_mean(field, known.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("known keys here: {}", crate::suggest::one_of(&known)),
        };
        let d = source.error(err.span(), format!("unknown key `{field}`"));
        return d.rule(Rule::UnknownKey).hint(hint);
    }
    let first = message.lines().next().unwrap_or(message);
    if err.span().is_none() && first.contains("recursion limit") {
        // The parser gives up without a place: point at the most deeply nested line.
        let d = source.error(Some(deepest_line(&source.text)), "keys nested too deeply");
        return d
            .rule(Rule::TomlSyntax)
            .hint("no farm.toml key is more than a few levels deep: is this the right file?");
    }
    let d = source.error(err.span(), first.to_string());
    if first.starts_with("invalid type") || first.starts_with("invalid value") {
        d.rule(Rule::InvalidType)
            .hint("see the farm.toml reference in README.md for the expected type")
    } else {
        d.rule(Rule::TomlSyntax)
    }
}

/// The span of the line with the most nesting marks (`.`, `[`, `{`), where a parser that hit
/// its recursion limit was.
fn deepest_line(text: &str) -> std::ops::Range<usize> {
    let mut best = (0, 0..0);
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let marks = line
            .bytes()
            .filter(|b| matches!(b, b'.' | b'[' | b'{'))
            .count();
        if marks > best.0 {
            best = (marks, start..start + line.trim_end().len());
        }
        start += line.len();
    }
    best.1.start..best.1.start
}

#[cfg(all(test, debug_assertions))]
mod key_path_tests {
    #[test]
    fn key_paths_are_checked_against_the_schema() {
        for good in [
            "tls",
            "gc.max_used",
            "pool.0.replicas",
            "pool.3.affinity",
            "network",
        ] {
            assert!(super::is_key_path(good), "{good}");
        }
        for bad in ["gc.max_use", "pool.replicas", "pool.0.replica", "tsl", ""] {
            assert!(!super::is_key_path(bad), "{bad}");
        }
    }
}
