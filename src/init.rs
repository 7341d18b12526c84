//! `buildfarm init`: a farm.toml that names every key with what it does, its default and its
//! unit, and that renders and lints cleanly as written.

use std::path::Path;

use anyhow::bail;

use crate::diagnostic::Source;
use crate::farm::Arch;
use crate::files;
use crate::profile::Mode;

const HEAD: &str = r#"#:schema ./farm.schema.json
# farm.toml: a BuildKit build farm for Kubernetes.
#   buildfarm lint                         check it (CI: --format github|gitlab --deny-warnings)
#   buildfarm render | kubectl apply -f -  deploy it
#   buildfarm client buildx                connect docker buildx to it
# Commented lines show the defaults. Reference: README.md, "farm.toml reference".

# Base name of every object: <name>-<pool> StatefulSets and Services, <name>-config, ...
name = "buildkitd"
# Namespace of the farm. `render` creates it (with Pod Security labels that admit the daemons)
# unless create_namespace = false.
namespace = "buildkit"
# create_namespace = true

# rootless: uid 1000, no privileged pods (build steps can see the daemon's processes)
# privileged: root, full sandbox for build steps; the namespace must admit privileged pods
# userns: privileged inside a user namespace, unprivileged on the node (Kubernetes 1.33+)
mode = "{mode}"
# image = "{image}"   # default: the mode's pinned, tested release
# buildkit_version = "{bare}"   # only when the image tag names no release (a digest, master)

# Oldest Kubernetes version the farm must run on; it decides which pod fields are used.
{kubernetes}
# port = 1234                      # buildkitd's TCP port (mTLS)
# cluster_domain = "cluster.local" # cluster DNS domain, for certificate names
# debug = false                    # buildkitd debug logs
# extra_args = []                  # more buildkitd arguments (not --addr, --config, TLS, ...)
# drain_seconds = 1800             # seconds a stopping daemon waits for running builds
# read_only_root_filesystem = true # rootless default; false: a writable root

# network_policy = true            # render a NetworkPolicy: only the clients below reach the farm

[network]
# CI jobs reach the daemons from the namespaces that opt in with a label
# (`kubectl label namespace <ci-namespace> buildfarm/client={name}`), and from the namespaces
# of `[[tls.client]]` entries that name one. `allow = []`: only kubectl port-forward.
allow = [{ namespace_labels = { "buildfarm/client" = "{name}" } }]
# (a peer may also name `pod_labels = { ... }`, alone or with its namespace's)
# metrics_from = [{ namespace = "monitoring" }]   # who may scrape the metrics port (the default)
# egress = [{ cidr = "0.0.0.0/0", ports = [443] }]  # when set, builds reach only these (and DNS)

# [metrics]
# port = 6060                      # serve Prometheus /metrics (unauthenticated; the
#                                  # NetworkPolicy admits only `metrics_from`)
# service_monitor = true           # a Prometheus Operator ServiceMonitor (and its Service)
# pod_monitor = true               # or a PodMonitor

# [expose]                         # reach the farm from outside the cluster
# type = "loadbalancer"            # a LoadBalancer Service <name>-<pool>-external per pool, or
#                                  # "gateway": TLSRoutes on your Gateway (gateway = { name = "..." })
# domain = "ci.example.com"        # external names <name>-<pool>.<domain>, in the daemon cert
# source_ranges = ["203.0.113.0/24"]   # who may connect (the NetworkPolicy admits them too)
# annotations = {}                 # cloud load balancer options
# per_pod = false                  # true: a load balancer per daemon too, for pinned clients
# ip = "203.0.113.10"              # loadBalancerIP: a reserved address (per pool: [pool.expose])
# gateway = { name = "shared", namespace = "gateways", section_name = "builds", port = 443 }

# [probes]                         # all run `buildctl debug workers` on the daemon's socket
# timeout_seconds = 10             # seconds before a probe counts as failed
# readiness_period_seconds = 10
# liveness_period_seconds = 60
# liveness_failure_threshold = 5   # failed liveness checks in a row before a restart
# startup_seconds = 300            # seconds a daemon may take to start

# [tls]
# mode = "generated"               # generated (files in `dir`) | cert-manager | external
# dir = "certs"                    # relative to this file
# secret = "buildkitd-daemon-tls"  # the Secret the daemons mount (needed for external)
# key = "ecdsa-p256"               # ecdsa-p256 | ecdsa-p384 | ed25519
# server_days = 365
# client_days = 365
# ca_days = 3650
# extra_sans = []                  # more names for the daemon certificate (DNS or IP)
# [[tls.client]]                   # one per CI system; default: one client named "default"
# name = "gitlab-runner"           # certs/client/gitlab-runner/
# namespace = "gitlab"             # also render a Secret with its certificate there
# pools = ["amd64"]                # the pools it may use (default: all): trust domains
# untrusted = true                 # it builds code nobody reviewed (forks, merge requests)

# [gc]                             # default: derived from each pool's volume (75% cap, 10% floor,
#                                  # 15% free); BuildKit reads "GB" as GiB; "80%" = of the volume
# reserved = "10GB"                # cache kept no matter what
# max_used = "75GB"                # the cap
# min_free = "15GB"                # free space GC tries to leave
# keep_duration = "48h"            # build contexts, cache mounts, git checkouts unused this long go

# [history]
# max_age = "48h"
# max_entries = 50

# [buildkitd]                      # merged into buildkitd.toml, for what the spec does not model
# worker.oci.max-parallelism = 4
# registry."docker.io".mirrors = ["mirror.example.com"]

# [[extra_volume]]                 # mounted into every daemon
# name = "registry-ca"
# mount_path = "/etc/ssl/registry"
# source = { configMap = { name = "registry-ca" } }
# read_only = true
"#;

const POOL: &str = r#"
[[pool]]                           # one per CPU architecture; objects are <name>-<pool>
arch = "{arch}"
# name = "{arch}"                  # pool name, default: the arch
replicas = 2                       # daemons in the pool
storage = "100Gi"                  # cache volume per daemon; omit for an ephemeral cache
# storage_class = "fast-ssd"       # default: the cluster's default StorageClass
resources = { requests = { cpu = "1", memory = "2Gi" }, limits = { memory = "8Gi" } }
# node_selector = { buildkit = "dedicated" }   # kubernetes.io/arch is set from `arch`
# tolerations = [{ key = "buildkit", operator = "Exists", effect = "NoSchedule" }]
#   (also `value = "..."` with operator Equal, `toleration_seconds = 300` with NoExecute)
# pod_annotations = { "cluster-autoscaler.kubernetes.io/safe-to-evict" = "false" }
# affinity = { podAntiAffinity = { } }         # as in a Pod spec
# priority_class_name = "ci"
# pod_management_policy = "Parallel"           # or OrderedReady
# volume_on_scale_down = "retain"              # or "delete": a removed pod's cache volume
# untrusted = true                             # builds code nobody reviewed: hardened
# runtime_class = "gvisor"                     # the pods' RuntimeClass (gVisor, Kata)
# gc = { max_used = "75GB" }                   # this pool's own GC, instead of [gc]
# autoscale = { min = 1, max = 8, cpu = 70 }   # or builds_per_pod = 2 (KEDA, needs [metrics])
#   with builds_per_pod: server_address = "http://prometheus:9090", and optionally query =
#   "..." (your own PromQL) and scale_down_minutes = 30
# [pool.expose] overrides [expose] key by key for this pool (type = "none" keeps it inside)
"#;

/// The text of a new farm.toml.
pub fn farm_toml(mode: Mode, arches: &[Arch]) -> String {
    let image = crate::profile::Profile::load(mode).image;
    let bare = crate::farm::releases::buildkit()
        .newest()
        .latest
        .to_string();
    // Commented out: the default follows the tables, the oldest minor still supported upstream.
    let kubernetes = format!(
        "# kubernetes = \"{}\"",
        crate::farm::releases::kubernetes().default_target()
    );
    let mut out = HEAD
        .replace("{mode}", mode.as_str())
        .replace("{image}", &image)
        .replace("{bare}", bare.trim_start_matches('v'))
        .replace("{kubernetes}", &kubernetes)
        .replace("{name}", crate::farm::defaults::NAME);
    for arch in arches {
        out.push_str(&POOL.replace("{arch}", arch.as_str()));
    }
    out
}

/// Writes a new farm.toml to `path`, checked first (an invalid one is never written), and
/// `farm.schema.json` beside it, which the `#:schema` line points editors to.
pub(crate) fn write(path: &Path, mode: Mode, arches: &[Arch], force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!("`{}` exists; pass --force to replace it", path.display());
    }
    let text = farm_toml(mode, arches);
    crate::farm::parse(
        &Source::new(path.display().to_string(), text.as_str()),
        Path::new(""),
        None,
    )?;
    files::write_atomic(path, text.as_bytes(), files::CERT_MODE)
}
