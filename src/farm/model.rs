//! The farm as buildfarm works with it: `Farm`, its pools and every part of them, checked and
//! with defaults applied (built from `RawFarm` by the checks). Types only; what a `Farm` can
//! say of itself lives beside the subject (`names.rs` for names, `findings.rs` for findings).

use std::path::PathBuf;

use indexmap::IndexMap;

use super::size::DiskSpace;
use super::spans::Spans;
use super::version::{KubeVersion, Version};
use crate::closed::closed_set;
use crate::diagnostic::Source;
use crate::profile::{Mode, Profile};

/// The label every namespace carries with its own name (set by Kubernetes since 1.21).
pub(crate) const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Debug, Clone)]
pub struct Farm {
    /// The spec as written, and where each key is (`image`, `gc.max_used`, `pool.0.storage`):
    /// later findings (lint) point at the line that causes them.
    pub source: Source,
    pub spans: Spans,
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
    /// The pools it may use; `None`: every pool.
    pub pools: Option<Vec<String>>,
    /// Builds code nobody reviewed.
    pub untrusted: bool,
}

impl Tls {
    /// Whether clients are split into trust domains: some client may use only some pools.
    /// Then each client has its own client CA and each pool trusts only its clients' CAs.
    pub fn domains(&self) -> bool {
        self.clients.iter().any(|c| c.pools.is_some())
    }

    /// The clients that may use pool `pool`, in spec order.
    pub fn clients_of<'a>(&'a self, pool: &'a str) -> impl Iterator<Item = &'a Client> + Clone {
        self.clients.iter().filter(move |c| c.reaches(pool))
    }

    /// Whether client `client` may use pool `pool`.
    pub fn admits(&self, client: &str, pool: &str) -> bool {
        self.clients_of(pool).any(|c| c.name == client)
    }
}

impl Client {
    /// Whether the client may use `pool`.
    pub fn reaches(&self, pool: &str) -> bool {
        self.pools
            .as_ref()
            .is_none_or(|pools| pools.iter().any(|p| p == pool))
    }
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
    /// Builds code nobody reviewed.
    pub untrusted: bool,
    /// The pods' RuntimeClass (a sandbox such as gVisor or Kata).
    pub runtime_class: Option<String>,
    /// `[pool.gc]`: the pool's own GC, instead of the farm's `[gc]`.
    pub gc: Option<Gc>,
    /// What the pool guards on its own, in a farm with trust domains or when it is untrusted.
    /// `None`: every client, and the farm's one NetworkPolicy.
    pub trust: Option<PoolTrust>,
}

/// What a pool guards on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolTrust {
    /// With trust domains: the clients allowed to the pool, in spec order (their CAs are the
    /// daemons' client CA bundle, their namespaces the pool's NetworkPolicy).
    pub clients: Option<Vec<String>>,
    /// Whether the pool has its own NetworkPolicy (`network_policy`, default true).
    pub network_policy: bool,
}

impl Pool {
    /// The GC the pool's daemons run: its own `[pool.gc]`, else the farm's `[gc]` (`None`:
    /// derived from the volume).
    pub fn gc<'a>(&'a self, farm: &'a Farm) -> Option<&'a Gc> {
        self.gc.as_ref().or(farm.gc.as_ref())
    }

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
        Farm::outside_ranges_of(&self.pools.iter().collect::<Vec<_>>())
    }

    /// The source ranges of `pools`' load balancers, each once, in order.
    pub fn outside_ranges_of<'a>(pools: &[&'a Pool]) -> Vec<&'a str> {
        let mut out: Vec<&str> = Vec::new();
        for e in pools.iter().filter_map(|p| p.expose.as_ref()) {
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
        self.gateway_namespaces_of(&self.pools.iter().collect::<Vec<_>>())
    }

    /// The namespaces of the Gateways that route to `pools`, each once.
    pub fn gateway_namespaces_of<'a>(&'a self, pools: &[&'a Pool]) -> Vec<&'a str> {
        let mut out: Vec<&str> = Vec::new();
        for g in pools
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
}
