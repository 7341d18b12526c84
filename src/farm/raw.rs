//! `RawFarm`: farm.toml exactly as written. Unknown keys are errors, spans are kept for
//! every value checked later, nothing is defaulted here (that is `defaults.rs`' job).
//! The `///` docs on these fields are the farm.toml reference.

use std::borrow::Cow;
use std::ops::Range;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

type S<T> = Option<Spanned<T>>;

/// A value and where it is written. Wraps `toml::Spanned` so the JSON Schema of farm.toml can be
/// derived from these same types (its schema is the value's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spanned<T>(toml::Spanned<T>);

impl<T> Spanned<T> {
    pub(crate) fn span(&self) -> Range<usize> {
        self.0.span()
    }
    pub(crate) fn get_ref(&self) -> &T {
        self.0.get_ref()
    }
    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        toml::Spanned::deserialize(d).map(Spanned)
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFarm {
    /// Base name of every object (a DNS-1123 label starting with a letter). Default `buildkitd`.
    pub name: S<String>,
    /// Namespace of the farm. Default `buildkit`.
    pub namespace: S<String>,
    /// Render the Namespace object (with pod-security labels that admit the pods). Default true.
    pub create_namespace: Option<bool>,
    /// `rootless` (default), `privileged` or `userns`: selects a profile in `profiles/`.
    pub mode: S<String>,
    /// BuildKit image. Default: the profile's pinned release.
    pub image: S<String>,
    /// BuildKit version of `image` when its tag does not tell (a digest, `master`), e.g. `0.17.1`.
    pub buildkit_version: S<String>,
    /// Oldest Kubernetes version the farm must run on, e.g. `1.30`. Drives field choices.
    pub kubernetes: S<String>,
    /// TCP port buildkitd listens on. Default 1234.
    pub port: S<i64>,
    /// Cluster DNS domain, for certificate SANs. Default `cluster.local`.
    pub cluster_domain: S<String>,
    /// buildkitd debug logging. Default false.
    pub debug: Option<bool>,
    /// Serve Prometheus `/metrics` (buildkitd `debugAddress`, unauthenticated) on this port.
    /// The same as `[metrics] port`; write one of them.
    pub metrics_port: S<i64>,
    /// Prometheus scraping of buildkitd's unauthenticated metrics endpoint.
    pub metrics: Option<Spanned<RawMetrics>>,
    /// Render a NetworkPolicy that admits only the farm's clients to the build port. Default
    /// true: the daemons run every CI job's code.
    pub network_policy: S<bool>,
    /// Who may reach the daemons, and what builds may reach (with `network_policy`).
    pub network: Option<Spanned<RawNetwork>>,
    /// Reaching the farm from outside the cluster.
    pub expose: Option<Spanned<RawExpose>>,
    /// Extra buildkitd command-line arguments, appended after the profile's.
    pub extra_args: Option<Vec<Spanned<String>>>,
    /// Run the daemon on a read-only root filesystem, with emptyDirs where it writes. Default
    /// true where the mode's writable folders are known (rootless); false turns it off.
    pub read_only_root_filesystem: S<bool>,
    /// Seconds a stopping daemon waits for running builds before it is killed. Default 1800.
    pub drain_seconds: S<i64>,
    /// Health checks (all run `buildctl debug workers` on the local socket).
    pub probes: Option<Spanned<RawProbes>>,
    /// Certificates for mTLS between clients and daemons.
    pub tls: Option<Spanned<RawTls>>,
    /// Cache garbage collection. When absent, derived from each pool's volume size.
    pub gc: Option<Spanned<RawGc>>,
    /// Build history kept by buildkitd (BuildKit v0.11+).
    pub history: Option<Spanned<RawHistory>>,
    /// Merged into the generated buildkitd.toml, for options the spec does not model
    /// (registry mirrors, `worker.oci.cniPoolSize`, `worker.oci.max-parallelism`, …).
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub buildkitd: S<toml::Table>,
    /// Extra volumes mounted into every daemon (e.g. a registry CA bundle).
    pub extra_volume: Option<Vec<Spanned<RawVolume>>>,
    /// One pool of daemons per CPU architecture (or more, with distinct names).
    pub pool: Option<Spanned<Vec<Spanned<RawPool>>>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    /// Port of buildkitd's `debugAddress` (`/metrics` and pprof, no authentication): only
    /// `[network] metrics_from` may reach it.
    pub port: S<i64>,
    /// Render a Prometheus Operator ServiceMonitor (and the Service it scrapes). Default false.
    pub service_monitor: Option<bool>,
    /// Render a Prometheus Operator PodMonitor. Default false.
    pub pod_monitor: Option<bool>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    /// More clients of the build port, besides the namespaces of `[[tls.client]]` entries.
    pub allow: Option<Vec<Spanned<RawPeer>>>,
    /// Who may scrape the metrics port. Default: the namespace `monitoring`.
    pub metrics_from: Option<Vec<Spanned<RawPeer>>>,
    /// When set, builds may reach only these (and DNS); when absent, egress is open.
    pub egress: Option<Vec<Spanned<RawPeer>>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpose {
    /// `loadbalancer`: a LoadBalancer Service `<name>-<pool>-external` per pool; `gateway`:
    /// Gateway API TLSRoutes (passthrough) on an existing Gateway; `none` (in a pool): that
    /// pool stays inside the cluster.
    #[serde(rename = "type")]
    pub kind: S<String>,
    /// DNS domain the external names live under: `<name>-<pool>.<domain>` and
    /// `<name>-<pool>-<i>.<domain>` (they join the daemon certificate's SANs).
    pub domain: S<String>,
    /// CIDRs that may reach the load balancers (`loadBalancerSourceRanges`, and the
    /// NetworkPolicy admits them). Without them the build port faces the internet.
    pub source_ranges: Option<Vec<Spanned<String>>>,
    /// Annotations of the load balancer Services (cloud load balancer options).
    pub annotations: Option<IndexMap<String, Spanned<String>>>,
    /// A fixed address for the pool's load balancer (`loadBalancerIP`), e.g. a reserved IP.
    pub ip: S<String>,
    /// A name per daemon too, so a client pinned to a pod reaches it from outside: with
    /// `loadbalancer` a LoadBalancer each (`<name>-<pool>-<i>-external`; default false), with
    /// `gateway` a TLSRoute each (default true).
    pub per_pod: Option<bool>,
    /// The Gateway the TLSRoutes attach to (`type = "gateway"`): `{ name, namespace,
    /// section_name, port }`.
    pub gateway: Option<Spanned<RawGateway>>,
}

/// An existing Gateway with a TLS listener in `Passthrough` mode.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGateway {
    /// The Gateway's name.
    pub name: S<String>,
    /// Its namespace. Default: the farm's.
    pub namespace: S<String>,
    /// The listener to attach to (its `name`). Default: every listener that accepts TLSRoutes.
    pub section_name: S<String>,
    /// The listener's port, which clients connect to. Default 443.
    pub port: S<i64>,
}

/// A peer of a NetworkPolicy: pods (by namespace name or labels, and pod labels), or a CIDR.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPeer {
    /// A namespace, by name.
    pub namespace: S<String>,
    /// Namespaces with these labels.
    pub namespace_labels: Option<IndexMap<String, Spanned<String>>>,
    /// Pods with these labels (in the farm's namespace unless a namespace is named too).
    pub pod_labels: Option<IndexMap<String, Spanned<String>>>,
    /// An IP block, e.g. `"203.0.113.0/24"`, for clients or destinations outside the cluster.
    pub cidr: S<String>,
    /// Destination TCP ports (`egress` only). Default: every port.
    pub ports: Option<Vec<Spanned<i64>>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProbes {
    /// Seconds each probe may take before it counts as failed. Default 10.
    pub timeout_seconds: S<i64>,
    /// Seconds between readiness checks. Default 10.
    pub readiness_period_seconds: S<i64>,
    /// Seconds between liveness checks. Default 60.
    pub liveness_period_seconds: S<i64>,
    /// Failed liveness checks in a row before a restart. Default 5 (so 5 minutes by default).
    pub liveness_failure_threshold: S<i64>,
    /// Seconds a daemon may take to start before it is restarted. Default 300.
    pub startup_seconds: S<i64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    /// `generated` (default: buildfarm issues the certs into `dir`), `cert-manager` (rendered
    /// Issuers and Certificates) or `external` (an existing kubernetes.io/tls Secret, `secret`).
    pub mode: S<String>,
    /// Where generated certificates live, relative to farm.toml. Default `certs`.
    pub dir: S<String>,
    /// Secret holding `ca.crt`, `tls.crt` and `tls.key` (external mode).
    pub secret: S<String>,
    /// Days a daemon certificate is valid. Default 365.
    pub server_days: S<i64>,
    /// Days a client certificate is valid. Default 365.
    pub client_days: S<i64>,
    /// Days the CA is valid. Default 3650.
    pub ca_days: S<i64>,
    /// `ecdsa-p256` (default), `ecdsa-p384` or `ed25519`.
    pub key: S<String>,
    /// More names (DNS or IP) the daemon certificate covers, e.g. an ingress host.
    pub extra_sans: Option<Vec<Spanned<String>>>,
    /// CI clients that get a certificate. Default: one client named `default`.
    pub client: Option<Vec<Spanned<RawClient>>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClient {
    /// Client name: certificate CN and folder `certs/client/<name>/`.
    pub name: S<String>,
    /// Namespace of the client's CI jobs: a kubernetes.io/tls Secret `<name>-client-<client>`
    /// with its certificate is rendered there.
    pub namespace: S<String>,
    /// The pools this client may use (default: every pool). A client limited to some pools
    /// gets its own client CA, and only the daemons of its pools trust that CA: the others
    /// refuse its certificate in the TLS handshake.
    pub pools: Option<Vec<Spanned<String>>>,
    /// Code nobody reviewed (forks, merge requests) builds with this client: lint refuses to let
    /// it share a pool with a client that is not untrusted.
    pub untrusted: S<bool>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGc {
    /// Cache kept no matter what (`reservedSpace`, BuildKit v0.17+). Sizes: `"50GB"` (BuildKit
    /// reads every suffix as binary), `"50GiB"`, `"80%"` of the volume, or bytes.
    #[schemars(with = "Option<DiskSpaceSchema>")]
    pub reserved: S<toml::Value>,
    /// Cap on the cache (`maxUsedSpace`; written as `keepBytes` before v0.17).
    #[schemars(with = "Option<DiskSpaceSchema>")]
    pub max_used: S<toml::Value>,
    /// Free space GC tries to leave on the volume (`minFreeSpace`, BuildKit v0.17+).
    #[schemars(with = "Option<DiskSpaceSchema>")]
    pub min_free: S<toml::Value>,
    /// Age after which build contexts, cache mounts and git checkouts go, e.g. `"48h"`. Default 48h.
    pub keep_duration: S<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHistory {
    /// Age after which build records go, e.g. `"48h"`. Default 48h.
    pub max_age: S<String>,
    /// Records kept at most. Default 50.
    pub max_entries: S<i64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVolume {
    /// Volume name (DNS-1123 label).
    pub name: S<String>,
    /// Where it is mounted in the daemon container.
    pub mount_path: S<String>,
    /// Mount read-only. Default true.
    pub read_only: Option<bool>,
    /// A Kubernetes volume source as in a Pod spec, e.g. `{ secret = { secretName = "ca" } }`.
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub source: S<toml::Table>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPool {
    /// CPU architecture: `amd64`, `arm64`, `arm`, `ppc64le`, `s390x`, `riscv64` or `386`.
    pub arch: S<String>,
    /// Pool name (defaults to the arch); its objects are `<name>-<pool>`.
    pub name: S<String>,
    /// Daemons in the pool. Default 2.
    pub replicas: S<i64>,
    /// Cache volume per daemon, a Kubernetes quantity (`250Gi`). Omit for an ephemeral emptyDir.
    pub storage: S<String>,
    /// StorageClass of the cache volume. Default: the cluster's default class.
    pub storage_class: S<String>,
    /// Extra node labels to schedule on (`kubernetes.io/arch` is set from `arch`).
    pub node_selector: Option<IndexMap<String, Spanned<String>>>,
    /// Tolerations: `{ key, operator = "Exists"|"Equal", value, effect, toleration_seconds }`.
    pub tolerations: Option<Vec<Spanned<RawToleration>>>,
    /// `{ requests = { cpu = "3", memory = "8Gi" }, limits = { memory = "30Gi" } }`.
    pub resources: Option<Spanned<RawResources>>,
    /// Annotations on the daemon pods.
    pub pod_annotations: Option<IndexMap<String, Spanned<String>>>,
    /// A Kubernetes affinity, as in a Pod spec (camelCase keys).
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub affinity: S<toml::Table>,
    /// PriorityClass of the daemon pods.
    pub priority_class_name: S<String>,
    /// `Parallel` (default: all daemons start at once) or `OrderedReady`.
    pub pod_management_policy: S<String>,
    /// This pool's `[expose]`: its keys replace the farm's; `type = "none"` keeps the pool in.
    pub expose: Option<Spanned<RawExpose>>,
    /// Scale the pool with demand: `{ min, max }` and one signal, `builds_per_pod` (KEDA) or
    /// `cpu` (a HorizontalPodAutoscaler). `replicas` is then the starting size.
    pub autoscale: Option<Spanned<RawAutoscale>>,
    /// What happens to a removed pod's cache volume when the pool shrinks: `retain` (default:
    /// a pod that comes back finds its cache) or `delete`.
    pub volume_on_scale_down: S<String>,
    /// The pool builds code nobody reviewed (forks, merge requests): no insecure entitlements,
    /// egress limited to `[network] egress` (default DNS and HTTPS), and lint asks for a process
    /// sandbox (`mode = "userns"`, or `runtime_class`).
    pub untrusted: S<bool>,
    /// RuntimeClass of the pool's pods (`gvisor`, `kata`): a sandbox around the daemon itself.
    pub runtime_class: S<String>,
    /// This pool's own GC (`[pool.gc]`, the keys of `[gc]`): replaces `[gc]` for its daemons.
    pub gc: Option<Spanned<RawGc>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAutoscale {
    /// Fewest daemons. 0 (scale to zero) only with `builds_per_pod`.
    pub min: S<i64>,
    /// Most daemons; clients pin projects over all of them.
    pub max: S<i64>,
    /// Builds in flight per daemon to aim for: a KEDA ScaledObject with a Prometheus trigger on
    /// BuildKit's own build metrics (needs `[metrics]`).
    pub builds_per_pod: S<i64>,
    /// CPU utilisation to aim for, in percent of the CPU request: an autoscaling/v2
    /// HorizontalPodAutoscaler.
    pub cpu: S<i64>,
    /// The Prometheus KEDA queries (`builds_per_pod`), e.g. `http://prometheus.monitoring.svc:9090`.
    pub server_address: S<String>,
    /// The PromQL query that gives the pool's builds in flight, instead of buildfarm's.
    pub query: S<String>,
    /// How long demand must stay low before a daemon goes, 1 to 60 (minutes). Default 30.
    pub scale_down_minutes: S<i64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawToleration {
    pub key: S<String>,
    pub operator: S<String>,
    pub value: S<String>,
    pub effect: S<String>,
    pub toleration_seconds: S<i64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResources {
    #[schemars(with = "Option<IndexMap<String, QuantitySchema>>")]
    pub requests: Option<IndexMap<String, Spanned<toml::Value>>>,
    #[schemars(with = "Option<IndexMap<String, QuantitySchema>>")]
    pub limits: Option<IndexMap<String, Spanned<toml::Value>>>,
}

/// A GC size: `"50GB"` (BuildKit reads every suffix as binary), `"50GiB"`, `"80%"`, or bytes.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // describes the schema only
enum DiskSpaceSchema {
    Text(String),
    Bytes(u64),
}

/// A Kubernetes quantity: `"500m"`, `"8Gi"`, or a number.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // describes the schema only
enum QuantitySchema {
    Text(String),
    Number(f64),
}
