//! `buildfarm lint`: what the parser refuses, plus what parses but will hurt (a GC cap the
//! volume cannot hold, an unpinned image, NFS storage, no memory limit, expiring certificates).
//! Lint only reads: it never issues certificates or writes a file.

mod autoscale;
mod buildkitd;
pub(crate) mod certs;
pub(crate) mod format;
mod trust;

use crate::diagnostic::{Diagnostic, Invalid, Severity, Source};
use crate::farm::releases;
use crate::farm::size::DiskSpace;
use crate::farm::version::image_ref;
use crate::farm::{ExposeType, Farm, TlsMode};
use crate::profile::Mode;
use crate::rule::Rule;

/// Every finding for a spec: its parse and validation errors, or, when it is valid, the checks
/// below and the certificate audit. Sorted by position.
pub fn lint(
    source: &Source,
    base: &std::path::Path,
    certs_dir: Option<&std::path::Path>,
) -> Vec<Diagnostic> {
    lint_on(source, base, certs_dir, &releases::today())
}

/// `lint` as on `today` (`YYYY-MM-DD`), for what compares dates with the release tables.
pub fn lint_on(
    source: &Source,
    base: &std::path::Path,
    certs_dir: Option<&std::path::Path>,
    today: &str,
) -> Vec<Diagnostic> {
    let mut findings = match crate::farm::parse(source, base, certs_dir) {
        Err(Invalid(problems)) => problems,
        Ok(farm) => {
            let mut f = check_on(&farm, today);
            f.extend(buildkitd::check(&farm));
            f.extend(certs::audit(&farm));
            f
        }
    };
    findings.sort_by_key(|d| (d.location.as_ref().map(|l| (l.line, l.col)), d.severity));
    findings
}

/// `Err` with the findings that are errors, if any: `render` refuses what `lint` calls an error.
pub(crate) fn refuse_errors(findings: Vec<Diagnostic>) -> Result<(), Invalid> {
    let errors: Vec<Diagnostic> = findings
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    match errors.is_empty() {
        true => Ok(()),
        false => Err(Invalid(errors)),
    }
}

/// The release tables themselves, 90 days after they were checked: about this build, not one
/// key, so the file as a whole.
fn tables_stale(farm: &Farm, today: &str, out: &mut Vec<Diagnostic>) {
    let Some(age) = releases::tables_age_if_stale(today) else {
        return;
    };
    let d = farm
        .source
        .error(None, releases::stale_sentence(age))
        .rule(Rule::TablesStale)
        .severity(Rule::TablesStale.severity());
    out.push(d.hint(format!(
        "upgrade buildfarm; its tables were checked on {} (`buildfarm versions` says more)",
        releases::tables_checked()
    )));
}

/// Checks of a valid farm's sense.
pub(crate) fn check(farm: &Farm) -> Vec<Diagnostic> {
    check_on(farm, &releases::today())
}

/// `check` as on `today`.
fn check_on(farm: &Farm, today: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    gc(farm, &mut out);
    image(farm, &mut out);
    freshness(farm, today, &mut out);
    network(farm, &mut out);
    expose(farm, &mut out);
    pools(farm, &mut out);
    security(farm, &mut out);
    trust::check(farm, &mut out);
    out
}

/// Load balancers that take any address (open to the internet without a NetworkPolicy, useless
/// with one), what `per_pod` load balancers cost, and external names the certificate cannot
/// carry.
fn expose(farm: &Farm, out: &mut Vec<Diagnostic>) {
    let mut open_at: Vec<String> = Vec::new();
    let (mut balancers, mut per_pod_at) = (0u64, None);
    for (i, pool) in farm.pools.iter().enumerate() {
        let Some(e) = pool
            .expose
            .as_ref()
            .filter(|e| e.kind == ExposeType::LoadBalancer)
        else {
            continue;
        };
        balancers += 1;
        if e.per_pod {
            balancers += u64::from(pool.ordinals());
            per_pod_at.get_or_insert_with(|| farm.expose_path(i, "per_pod"));
        }
        let at = farm.expose_path(i, "source_ranges");
        if e.source_ranges.is_empty() && !open_at.contains(&at) {
            open_at.push(at);
        }
    }
    if let Some(at) = per_pod_at {
        let message = format!(
            "`per_pod` makes {balancers} load balancers (one per pool and one per daemon): most clouds bill each one"
        );
        let hint = "worth it when pinned clients outside the cluster need their warm pod; `type = \"gateway\"` gives every daemon its name behind one load balancer";
        out.push(farm.finding(Rule::ExposePerPod, &at, message).hint(hint));
    }
    for at in open_at {
        let message = match farm.network_policy {
            false => {
                "load balancers without `source_ranges`: the build port faces the internet, guarded by mTLS alone"
            }
            true => {
                "load balancers without `source_ranges`: the NetworkPolicy admits no address from outside, so they reach no daemon"
            }
        };
        let hint = "list the networks your CI runs in: `source_ranges = [\"203.0.113.0/24\"]`";
        out.push(farm.finding(Rule::ExposeOpen, &at, message).hint(hint));
    }
    uncovered_names(farm, out);
}

/// With `tls.mode = "external"` the daemon certificate is not buildfarm's: the external names
/// cannot join its SANs, and a client that connects by one fails the handshake unless the
/// certificate already covers it.
fn uncovered_names(farm: &Farm, out: &mut Vec<Diagnostic>) {
    if farm.tls.mode != TlsMode::External {
        return;
    }
    let names: Vec<String> = farm
        .pools
        .iter()
        .flat_map(|p| {
            let pods = (0..p.ordinals()).filter_map(|i| farm.pod_external_host(p, i));
            farm.external_host(p).into_iter().chain(pods)
        })
        .collect();
    let Some(first) = names.first() else {
        return;
    };
    let message = format!(
        "the daemon certificate comes from Secret `{}`, so the external names cannot join its SANs: a client connecting to `{first}` fails the TLS handshake unless that certificate covers it",
        farm.tls.secret
    );
    let hint = format!(
        "issue that certificate for {} (or for `*.{}`)",
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", "),
        first.split_once('.').map_or("", |(_, d)| d)
    );
    out.push(
        farm.finding(Rule::ExposeUncovered, "tls.mode", message)
            .hint(hint),
    );
}

/// Who can reach the daemons.
fn network(farm: &Farm, out: &mut Vec<Diagnostic>) {
    if !farm.network_policy {
        let message = "no NetworkPolicy: every pod in the cluster can reach the build port (guarded by mTLS alone)";
        let mut message = message.to_string();
        if farm.metrics_port.is_some() {
            message.push_str(", and the unauthenticated metrics port");
        }
        let d = farm.finding(Rule::NetworkPolicyOff, "network_policy", message);
        out.push(
            d.hint("remove `network_policy = false` and list the clients in `[network] allow`"),
        );
        return;
    }
    let client_namespaces = farm.tls.clients.iter().any(|c| c.namespace.is_some());
    let outside = !farm.outside_ranges().is_empty() || !farm.gateway_namespaces().is_empty();
    if !client_namespaces && farm.network.allow.is_none() && !outside {
        let message = "the NetworkPolicy admits no client: no `[[tls.client]]` names a namespace and `[network] allow` is not set, so only `kubectl port-forward` reaches the daemons";
        let d = farm.finding(Rule::NetworkUnreachable, "network", message);
        out.push(d.hint("give the CI client its namespace (`[[tls.client]] namespace = \"ci\"`), or list clients in `[network] allow`; `allow = []` says port-forward only is meant"));
    }
}

/// What the release tables say of the farm's BuildKit and Kubernetes versions: published
/// advisories the image misses, a newer patch of its minor, a target past its end of life.
fn freshness(farm: &Farm, today: &str, out: &mut Vec<Diagnostic>) {
    let buildkit = releases::buildkit();
    // A digest-pinned image is judged by `buildkit_version`; its span is where the fix goes.
    let at = if farm.spans.value("buildkit_version").is_some() {
        "buildkit_version"
    } else {
        "image"
    };
    let advisories = buildkit.advisories_of(farm.buildkit);
    if !advisories.is_empty() {
        let ids: Vec<&str> = advisories.iter().map(|a| a.id).collect();
        let fix = advisories
            .iter()
            .filter_map(|a| a.fix_for(farm.buildkit))
            .max();
        let message = format!(
            "BuildKit {} misses the fix of {} published advisor{}: {}",
            farm.buildkit,
            ids.len(),
            if ids.len() == 1 { "y" } else { "ies" },
            ids.join(", ")
        );
        let first = advisories[0];
        let hint = match fix {
            Some(fix) => format!(
                "upgrade to {fix} or newer (the newest release is {}); e.g. {}: {}",
                buildkit.newest().latest,
                first.id,
                first.impact
            ),
            None => format!("upgrade to {}", buildkit.newest().latest),
        };
        out.push(farm.finding(Rule::ImageVulnerable, at, message).hint(hint));
    }
    if let Some(release) = buildkit.latest_patch(farm.buildkit)
        && release.latest > farm.buildkit
    {
        let when = release
            .released
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        let message = format!(
            "BuildKit {} has a newer patch release: {}{when}",
            farm.buildkit, release.latest
        );
        let mut message = message;
        for note in buildkit.patch_notes_after(farm.buildkit) {
            message.push_str(&format!("; {}: {}", note.version, note.about));
        }
        let d = farm.finding(Rule::ImageOutdated, at, message);
        out.push(d.hint(format!(
            "patch releases only fix bugs: pin {}",
            release.latest
        )));
    }
    let kube = releases::kubernetes();
    tables_stale(farm, today, out);
    let day = today.max(kube.updated);
    if let Some(release) = kube.release(farm.kubernetes)
        && release.eol < day
    {
        let message = format!(
            "Kubernetes {} reached its end of life on {}: no more security patches",
            farm.kubernetes, release.eol
        );
        let hint = format!(
            "upgrade the clusters and raise `kubernetes` to at least {}, the oldest supported release",
            kube.oldest_supported(day)
        );
        let d = farm.finding(Rule::KubernetesEol, "kubernetes", message);
        out.push(d.hint(hint));
    }
}

/// Each GC table (`[gc]`, and each pool's own `[pool.gc]`) against itself and against the
/// volumes of the pools it governs.
fn gc(farm: &Farm, out: &mut Vec<Diagnostic>) {
    if let Some(g) = &farm.gc {
        let governed: Vec<&crate::farm::Pool> =
            farm.pools.iter().filter(|p| p.gc.is_none()).collect();
        gc_table(farm, g, "gc", &governed, out);
    }
    for (i, pool) in farm.pools.iter().enumerate() {
        if let Some(g) = &pool.gc {
            gc_table(farm, g, &format!("pool.{i}.gc"), &[pool], out);
        }
    }
}

fn gc_table(
    farm: &Farm,
    gc: &crate::farm::Gc,
    at: &str,
    pools: &[&crate::farm::Pool],
    out: &mut Vec<Diagnostic>,
) {
    let key = |k: &str| format!("{at}.{k}");
    // As written: `gc.max_used`, `[pool.gc] max_used`.
    let name = |k: &str| match at {
        "gc" => format!("`gc.{k}`"),
        _ => format!("`[pool.gc] {k}`"),
    };
    if gc.reserved.is_none() && gc.max_used.is_none() && gc.min_free.is_none() {
        let message = format!(
            "`[{}]` sets no size, so BuildKit's defaults apply and no sizes are derived from the volume",
            if at == "gc" { "gc" } else { "pool.gc" }
        );
        let mut d = farm.finding(Rule::GcWithoutSizes, at, message);
        if gc.keep_duration.is_some() {
            d.message
                .push_str("; `keep_duration` has no effect without them");
        }
        let table = if at == "gc" { "gc" } else { "pool.gc" };
        out.push(d.hint(format!("set `max_used` (and `reserved`, `min_free`), or remove `[{table}]` to derive them from each volume")));
    }
    if gc.reserved.is_some() && gc.max_used.is_none() {
        let message = format!(
            "{} is set without {}: a floor does not stop the cache from filling the disk",
            name("reserved"),
            name("max_used")
        );
        let d = farm.finding(Rule::GcFloorWithoutCap, &key("reserved"), message);
        out.push(d.hint("add `max_used`, e.g. 75% of the volume"));
    }
    for pool in pools {
        let Some(storage) = &pool.storage else {
            continue;
        };
        let volume = storage.bytes;
        if let Some(cap) = gc.max_used.and_then(|m| m.bytes_of(Some(volume))) {
            let shown = gc.max_used.map(|m| m.to_string()).unwrap_or_default();
            let of = format!("pool `{}` ({} volume)", pool.name, storage.quantity);
            let max_used = name("max_used");
            if cap >= volume {
                let message = format!(
                    "{max_used} ({shown}) does not fit the {of}: the cache fills the disk before GC runs"
                );
                let d = farm.finding(Rule::GcCapAboveVolume, &key("max_used"), message);
                out.push(d.hint(
                    "keep the cap below the volume, e.g. 75% of it; BuildKit reads \"GB\" as GiB",
                ));
            } else if cap > volume / 100 * 90 {
                let message = format!(
                    "{max_used} ({shown}) leaves under 10% of the {of} for the build in progress"
                );
                let d = farm.finding(Rule::GcCapNearVolume, &key("max_used"), message);
                out.push(d.hint("keep the cap around 75-85% of the volume"));
            }
        }
        if let Some(DiskSpace::Bytes(floor)) = gc.reserved
            && floor >= volume
        {
            let message = format!(
                "{} ({}) does not fit the {} volume of pool `{}`",
                name("reserved"),
                DiskSpace::Bytes(floor),
                storage.quantity,
                pool.name
            );
            out.push(farm.finding(Rule::GcFloorAboveVolume, &key("reserved"), message));
        }
    }
}

fn image(farm: &Farm, out: &mut Vec<Diagnostic>) {
    let r = image_ref(&farm.image);
    let pinned_tag = r
        .tag
        .is_some_and(|t| crate::farm::version::Version::parse(t).is_some());
    if !r.digest && !pinned_tag {
        let tag = r.tag.unwrap_or("latest");
        let message = format!("image `{}` is not pinned (tag `{tag}` moves)", farm.image);
        let d = farm.finding(Rule::ImageUnpinned, "image", message);
        let newest = releases::buildkit().newest().latest;
        out.push(d.hint(format!("pin a release tag such as `{newest}` or a digest, so every daemon runs the same BuildKit")));
    } else if !r.digest {
        let message = format!(
            "image `{}` is pinned by tag: a registry can serve other bytes under it",
            farm.image
        );
        let d = farm.finding(Rule::ImageDigest, "image", message);
        out.push(d.hint(format!(
            "for production, pin the digest too: `{}@sha256:…` (`docker buildx imagetools inspect {}` prints it)",
            farm.image, farm.image
        )));
    }
    if let Some(tag) = r.tag {
        let rootless_image = tag.contains("rootless");
        let (bad, hint) = match farm.mode {
            Mode::Rootless if !rootless_image => (
                true,
                "use the `-rootless` variant of the image, or `mode = \"privileged\"`",
            ),
            Mode::Privileged | Mode::Userns if rootless_image => (
                true,
                "drop `-rootless` from the tag, or use `mode = \"rootless\"`",
            ),
            _ => (false, ""),
        };
        if bad {
            let message = format!(
                "mode `{}` does not fit image `{}`",
                farm.mode.as_str(),
                farm.image
            );
            out.push(
                farm.finding(Rule::ImageModeMismatch, "image", message)
                    .hint(hint),
            );
        }
    }
}

/// Storage classes backed by network file systems, where overlay snapshots break.
const NETWORK_FS: [&str; 8] = [
    "nfs",
    "efs",
    "filestore",
    "azurefile",
    "cephfs",
    "glusterfs",
    "smb",
    "cifs",
];

const DEPRECATED_LABELS: [(&str, &str); 5] = [
    (
        "beta.kubernetes.io/arch",
        "`kubernetes.io/arch` (buildfarm sets it from `arch`)",
    ),
    ("beta.kubernetes.io/os", "`kubernetes.io/os`"),
    (
        "beta.kubernetes.io/instance-type",
        "`node.kubernetes.io/instance-type`",
    ),
    (
        "failure-domain.beta.kubernetes.io/zone",
        "`topology.kubernetes.io/zone`",
    ),
    (
        "failure-domain.beta.kubernetes.io/region",
        "`topology.kubernetes.io/region`",
    ),
];

fn pools(farm: &Farm, out: &mut Vec<Diagnostic>) {
    for (i, pool) in farm.pools.iter().enumerate() {
        pool_resources(farm, i, pool, out);
        pool_size(farm, i, pool, out);
        pool_placement(farm, i, pool, out);
    }
    extra_volumes(farm, out);
}

/// Storage a cache cannot live on, and memory without a limit.
fn pool_resources(farm: &Farm, i: usize, pool: &crate::farm::Pool, out: &mut Vec<Diagnostic>) {
    let at = |key: &str| format!("pool.{i}.{key}");
    if let Some(class) = &pool.storage_class {
        let lower = class.to_ascii_lowercase();
        if NETWORK_FS.iter().any(|fs| lower.contains(fs)) {
            let message = format!("storage class `{class}` looks like a network file system");
            let d = farm.finding(Rule::StorageNetworkFs, &at("storage_class"), message);
            out.push(d.hint("BuildKit's overlay snapshots need a local block volume (EBS, PD, local-path, openebs-hostpath)"));
        }
    }
    if !pool.limits.contains_key("memory") {
        let message = format!(
            "pool `{}` has no memory limit: a large build can take the node's memory",
            pool.name
        );
        let d = farm.finding(Rule::MemoryLimitMissing, &at("resources"), message);
        out.push(d.hint("set `resources = { limits = { memory = \"16Gi\" } }` (and a request)"));
    }
}

/// Pools with no, one, or many daemons.
fn pool_size(farm: &Farm, i: usize, pool: &crate::farm::Pool, out: &mut Vec<Diagnostic>) {
    let at = |key: &str| format!("pool.{i}.{key}");
    if let Some(a) = &pool.autoscale {
        // Its size moves: what the autoscaler needs instead.
        return autoscale::check(farm, i, pool, a, out);
    }
    match pool.replicas {
        0 => {
            let message = format!("pool `{}` has no daemons (`replicas = 0`)", pool.name);
            out.push(farm.finding(Rule::ReplicasZero, &at("replicas"), message));
        }
        1 => {
            let message = format!(
                "pool `{}` has one daemon: a node drain or a rollout takes it offline",
                pool.name
            );
            let d = farm.finding(Rule::SingleReplica, &at("replicas"), message);
            out.push(d.hint("two daemons let the PodDisruptionBudget keep one serving"));
        }
        n if n >= 10 => {
            let message = format!(
                "pool `{}` rolls out one daemon at a time: up to {n} × {}s of draining",
                pool.name, farm.drain_seconds
            );
            out.push(farm.finding(Rule::SlowRollout, &at("replicas"), message));
        }
        _ => {}
    }
}

/// Node labels that are deprecated, and affinity fields the target Kubernetes lacks.
fn pool_placement(farm: &Farm, i: usize, pool: &crate::farm::Pool, out: &mut Vec<Diagnostic>) {
    let at = |key: &str| format!("pool.{i}.{key}");
    for (label, instead) in DEPRECATED_LABELS {
        if pool.node_selector.contains_key(label) {
            let message = format!("node label `{label}` is deprecated");
            let d = farm.finding(
                Rule::DeprecatedNodeLabel,
                &at(&format!("node_selector.{label}")),
                message,
            );
            out.push(d.hint(format!("use {instead}")));
        }
    }
    if let Some(affinity) = &pool.affinity {
        let text = toml::to_string(affinity).unwrap_or_default();
        let needs = releases::kubernetes().since("affinity-match-label-keys");
        if farm.kubernetes < needs
            && (text.contains("matchLabelKeys") || text.contains("mismatchLabelKeys"))
        {
            let message = format!(
                "`matchLabelKeys` in pod affinity needs Kubernetes {needs}, the farm targets {}",
                farm.kubernetes
            );
            out.push(farm.finding(Rule::KubernetesFieldUnsupported, &at("affinity"), message));
        }
    }
}

/// Host paths mounted into the daemons, and volume kinds the target Kubernetes lacks.
fn extra_volumes(farm: &Farm, out: &mut Vec<Diagnostic>) {
    for (i, v) in farm.extra_volumes.iter().enumerate() {
        if let Some(toml::Value::Table(host)) = v.source.get("hostPath") {
            let path = host
                .get("path")
                .and_then(toml::Value::as_str)
                .unwrap_or("?");
            let message = format!(
                "extra volume `{}` mounts the node's `{path}` into the daemons, which run every CI job's code",
                v.name
            );
            let d = farm.finding(
                Rule::ExtraVolumeHostPath,
                &format!("extra_volume.{i}"),
                message,
            );
            out.push(d.hint("ship the files in a ConfigMap, Secret or image volume instead"));
        }
    }
    let needs = releases::kubernetes().since("image-volumes");
    if farm.kubernetes < needs {
        for (i, v) in farm.extra_volumes.iter().enumerate() {
            if !v.source.contains_key("image") {
                continue;
            }
            let message = format!(
                "image volume `{}` needs Kubernetes {needs} or newer, the farm targets {}",
                v.name, farm.kubernetes
            );
            out.push(farm.finding(
                Rule::KubernetesFieldUnsupported,
                &format!("extra_volume.{i}"),
                message,
            ));
        }
    }
}

fn security(farm: &Farm, out: &mut Vec<Diagnostic>) {
    let userns = releases::kubernetes().feature("user-namespaces");
    match farm.mode {
        Mode::Rootless => {
            let message = "rootless BuildKit runs without a process sandbox: a build step can see and kill the daemon's processes";
            let d = farm.finding(Rule::RootlessNoProcessSandbox, "mode", message);
            out.push(d.hint(format!("fine for trusted builds; use `mode = \"userns\"` (Kubernetes {}+) to sandbox untrusted ones", userns.since)));
        }
        Mode::Privileged => {
            let message = "buildkitd runs privileged: a build step that escapes its container is root on the node";
            let d = farm.finding(Rule::PrivilegedMode, "mode", message);
            out.push(d.hint(format!(
                "give the daemons dedicated nodes, or use `mode = \"userns\"` (Kubernetes {}+)",
                userns.since
            )));
        }
        Mode::Userns => {}
    }
    if farm.mode != Mode::Userns && farm.kubernetes >= userns.since {
        let ga = releases::kubernetes().since("user-namespaces-ga");
        let state = match farm.kubernetes >= ga {
            true => format!("stable since {ga}"),
            false => format!("on by default since {}, stable from {ga}", userns.since),
        };
        let message = format!(
            "Kubernetes {} runs pods in their own user namespace ({state}): `mode = \"userns\"` keeps BuildKit's full sandbox without root on the node",
            farm.kubernetes
        );
        let needs = userns
            .requires
            .unwrap_or("nodes that support user namespaces");
        let d = farm.finding(Rule::UsernsAvailable, "mode", message);
        out.push(d.hint(format!("it needs {needs}")));
    }
    if !farm.create_namespace {
        // What the API server's PodSecurity admission would name, at the `baseline` and
        // `restricted` levels, for these pods.
        let why = match farm.mode {
            Mode::Rootless => {
                "seccomp and AppArmor `Unconfined`, allowPrivilegeEscalation and added capabilities"
            }
            Mode::Privileged | Mode::Userns => "a `privileged` container",
        };
        let message = format!(
            "namespace `{}` must admit privileged pods (Pod Security level `privileged`): the daemons need {why}",
            farm.namespace
        );
        let d = farm.finding(Rule::NamespacePodSecurity, "namespace", message);
        out.push(d.hint(
            "label it `pod-security.kubernetes.io/enforce: privileged`, or let buildfarm create it",
        ));
    }
    if farm.tls.mode == TlsMode::CertManager {
        let message = "buildkitd reads its certificate only at start: a certificate cert-manager renews is not used until the pods restart";
        let d = farm.finding(Rule::CertManagerRestart, "tls", message);
        out.push(d.hint("restart the daemons after renewals (e.g. with a reloader annotation)"));
    }
}
