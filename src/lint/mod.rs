//! `buildfarm lint`: what the parser refuses, plus what parses but will hurt (a GC cap the
//! volume cannot hold, an unpinned image, NFS storage, no memory limit, expiring certificates).
//! Lint only reads: it never issues certificates or writes a file.

mod buildkitd;
pub mod format;

use crate::error::{Diagnostic, Invalid, Severity, Source};
use crate::profile::Mode;
use crate::spec::size::DiskSpace;
use crate::spec::version::{KubeVersion, image_ref};
use crate::spec::{Farm, TlsMode};

/// Every finding for a spec: its parse and validation errors, or, when it is valid, the checks
/// below and the certificate audit. Sorted by position.
pub fn lint(
    source: &Source,
    base: &std::path::Path,
    certs_dir: Option<&std::path::Path>,
) -> Vec<Diagnostic> {
    let mut findings = match crate::spec::parse(source, base, certs_dir) {
        Err(Invalid(problems)) => problems,
        Ok(farm) => {
            let mut f = check(&farm);
            f.extend(buildkitd::check(&farm));
            f.extend(crate::certs::audit(&farm));
            f
        }
    };
    findings.sort_by_key(|d| (d.location.as_ref().map(|l| (l.line, l.col)), d.severity));
    findings
}

/// Checks of a valid farm's sense.
pub fn check(farm: &Farm) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    gc(farm, &mut out);
    image(farm, &mut out);
    pools(farm, &mut out);
    security(farm, &mut out);
    out
}

fn gc(farm: &Farm, out: &mut Vec<Diagnostic>) {
    let Some(gc) = &farm.gc else { return };
    if gc.reserved.is_none() && gc.max_used.is_none() && gc.min_free.is_none() {
        let message = "`[gc]` sets no size, so BuildKit's defaults apply and no sizes are derived from the volume";
        let mut d = farm.finding(Severity::Warning, "gc-without-sizes", "gc", message);
        if gc.keep_duration.is_some() {
            d.message
                .push_str("; `keep_duration` has no effect without them");
        }
        out.push(d.hint("set `max_used` (and `reserved`, `min_free`), or remove `[gc]` to derive them from each volume"));
    }
    if gc.reserved.is_some() && gc.max_used.is_none() {
        let message = "`gc.reserved` is set without `gc.max_used`: a floor does not stop the cache from filling the disk";
        let d = farm.finding(
            Severity::Warning,
            "gc-floor-without-cap",
            "gc.reserved",
            message,
        );
        out.push(d.hint("add `max_used`, e.g. 75% of the volume"));
    }
    for pool in &farm.pools {
        let Some(storage) = &pool.storage else {
            continue;
        };
        let volume = storage.bytes;
        if let Some(cap) = gc.max_used.and_then(|m| m.bytes_of(Some(volume))) {
            let shown = gc.max_used.map(|m| m.to_string()).unwrap_or_default();
            let at = format!("pool `{}` ({} volume)", pool.name, storage.quantity);
            if cap >= volume {
                let message = format!(
                    "`gc.max_used` ({shown}) does not fit the {at}: the cache fills the disk before GC runs"
                );
                let d = farm.finding(
                    Severity::Error,
                    "gc-cap-above-volume",
                    "gc.max_used",
                    message,
                );
                out.push(d.hint(
                    "keep the cap below the volume, e.g. 75% of it; BuildKit reads \"GB\" as GiB",
                ));
            } else if cap > volume / 100 * 90 {
                let message = format!(
                    "`gc.max_used` ({shown}) leaves under 10% of the {at} for the build in progress"
                );
                let d = farm.finding(
                    Severity::Warning,
                    "gc-cap-near-volume",
                    "gc.max_used",
                    message,
                );
                out.push(d.hint("keep the cap around 75-85% of the volume"));
            }
        }
        if let Some(DiskSpace::Bytes(floor)) = gc.reserved
            && floor >= volume
        {
            let message = format!(
                "`gc.reserved` ({}) does not fit the {} volume of pool `{}`",
                DiskSpace::Bytes(floor),
                storage.quantity,
                pool.name
            );
            out.push(farm.finding(
                Severity::Error,
                "gc-floor-above-volume",
                "gc.reserved",
                message,
            ));
        }
    }
}

fn image(farm: &Farm, out: &mut Vec<Diagnostic>) {
    let r = image_ref(&farm.image);
    let pinned_tag = r
        .tag
        .is_some_and(|t| crate::spec::version::Version::parse(t).is_some());
    if !r.digest && !pinned_tag {
        let tag = r.tag.unwrap_or("latest");
        let message = format!("image `{}` is not pinned (tag `{tag}` moves)", farm.image);
        let d = farm.finding(Severity::Warning, "image-unpinned", "image", message);
        out.push(d.hint("pin a release tag such as `v0.32.2` or a digest, so every daemon runs the same BuildKit"));
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
                farm.finding(Severity::Error, "image-mode-mismatch", "image", message)
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
        let at = |key: &str| format!("pool.{i}.{key}");
        if let Some(class) = &pool.storage_class {
            let lower = class.to_ascii_lowercase();
            if NETWORK_FS.iter().any(|fs| lower.contains(fs)) {
                let message = format!("storage class `{class}` looks like a network file system");
                let d = farm.finding(
                    Severity::Warning,
                    "storage-network-fs",
                    &at("storage_class"),
                    message,
                );
                out.push(d.hint("BuildKit's overlay snapshots need a local block volume (EBS, PD, local-path, openebs-hostpath)"));
            }
        }
        if !pool.limits.contains_key("memory") {
            let message = format!(
                "pool `{}` has no memory limit: a large build can take the node's memory",
                pool.name
            );
            let d = farm.finding(
                Severity::Warning,
                "memory-limit-missing",
                &at("resources"),
                message,
            );
            out.push(
                d.hint("set `resources = { limits = { memory = \"16Gi\" } }` (and a request)"),
            );
        }
        match pool.replicas {
            0 => {
                let message = format!("pool `{}` has no daemons (`replicas = 0`)", pool.name);
                out.push(farm.finding(
                    Severity::Warning,
                    "replicas-zero",
                    &at("replicas"),
                    message,
                ));
            }
            1 => {
                let message = format!(
                    "pool `{}` has one daemon: a node drain or a rollout takes it offline",
                    pool.name
                );
                let d = farm.finding(Severity::Note, "single-replica", &at("replicas"), message);
                out.push(d.hint("two daemons let the PodDisruptionBudget keep one serving"));
            }
            n if n >= 10 => {
                let message = format!(
                    "pool `{}` rolls out one daemon at a time: up to {n} × {}s of draining",
                    pool.name, farm.drain_seconds
                );
                out.push(farm.finding(Severity::Note, "slow-rollout", &at("replicas"), message));
            }
            _ => {}
        }
        for (label, instead) in DEPRECATED_LABELS {
            if pool.node_selector.contains_key(label) {
                let message = format!("node label `{label}` is deprecated");
                let d = farm.finding(
                    Severity::Warning,
                    "deprecated-node-label",
                    &at(&format!("node_selector.{label}")),
                    message,
                );
                out.push(d.hint(format!("use {instead}")));
            }
        }
        if let Some(affinity) = &pool.affinity {
            let text = toml::to_string(affinity).unwrap_or_default();
            if farm.kubernetes < KubeVersion::new(1, 31)
                && (text.contains("matchLabelKeys") || text.contains("mismatchLabelKeys"))
            {
                let message = format!(
                    "`matchLabelKeys` in pod affinity needs Kubernetes 1.31, the farm targets {}",
                    farm.kubernetes
                );
                out.push(farm.finding(
                    Severity::Warning,
                    "kubernetes-field-unsupported",
                    &at("affinity"),
                    message,
                ));
            }
        }
    }
    if farm.kubernetes < KubeVersion::new(1, 33) {
        for (i, v) in farm.extra_volumes.iter().enumerate() {
            if !v.source.contains_key("image") {
                continue;
            }
            let message = format!(
                "image volume `{}` needs Kubernetes 1.33 or newer, the farm targets {}",
                v.name, farm.kubernetes
            );
            out.push(farm.finding(
                Severity::Warning,
                "kubernetes-field-unsupported",
                &format!("extra_volume.{i}"),
                message,
            ));
        }
    }
}

fn security(farm: &Farm, out: &mut Vec<Diagnostic>) {
    match farm.mode {
        Mode::Rootless => {
            let message = "rootless BuildKit runs without a process sandbox: a build step can see and kill the daemon's processes";
            let d = farm.finding(
                Severity::Note,
                "rootless-no-process-sandbox",
                "mode",
                message,
            );
            out.push(d.hint("fine for trusted builds; use `mode = \"userns\"` (Kubernetes 1.33+) to sandbox untrusted ones"));
        }
        Mode::Privileged => {
            let message = "buildkitd runs privileged: a build step that escapes its container is root on the node";
            let d = farm.finding(Severity::Note, "privileged-mode", "mode", message);
            out.push(d.hint(
                "give the daemons dedicated nodes, or use `mode = \"userns\"` (Kubernetes 1.33+)",
            ));
        }
        Mode::Userns => {}
    }
    if !farm.create_namespace {
        let message = format!(
            "namespace `{}` must admit privileged pods (Pod Security level `privileged`)",
            farm.namespace
        );
        let d = farm.finding(
            Severity::Note,
            "namespace-pod-security",
            "namespace",
            message,
        );
        out.push(d.hint(
            "label it `pod-security.kubernetes.io/enforce: privileged`, or let buildfarm create it",
        ));
    }
    if farm.tls.mode == TlsMode::CertManager {
        let message = "buildkitd reads its certificate only at start: a certificate cert-manager renews is not used until the pods restart";
        let d = farm.finding(Severity::Note, "cert-manager-restart", "tls", message);
        out.push(d.hint("restart the daemons after renewals (e.g. with a reloader annotation)"));
    }
}
