//! How a client or `status` reaches a daemon: one model of the ways (`Via`), and for each the
//! host, port and server name of a pool or of one of its pods. `client` and `status` both ask
//! here; each command's `--via` takes only the ways that make sense for it (its own
//! `ValueEnum` below), so clap refuses the others before any code runs.

use crate::diagnostic::{Diagnostic, Invalid};
use crate::farm::{Farm, Pool, names};
use crate::rule::Rule;

/// A way to the daemons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// Every pod by its DNS name under the headless Service (inside the cluster).
    Pods,
    /// Each pool's Service (inside the cluster).
    Service,
    /// `kubectl port-forward` to 127.0.0.1 (a laptop).
    PortForward,
    /// The external names `[expose]` gives (outside the cluster).
    External,
}

/// `--via` of `client buildx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BuildxVia {
    /// The pool's Service, from inside the cluster.
    Service,
    /// `kubectl port-forward` to 127.0.0.1, from a laptop.
    PortForward,
    /// Each pool's external name (`[expose]` with a `domain`), from outside the cluster.
    External,
}

/// `--via` of what runs unattended (CI jobs, `client buildctl`, `client endpoint`): nothing
/// keeps a port-forward running there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JobVia {
    /// The pool's Service, from inside the cluster.
    Service,
    /// Each pool's external name (`[expose]` with a `domain`), from outside the cluster.
    External,
}

/// `--via` of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusVia {
    /// Every pod by its DNS name under the headless Service (inside the cluster).
    Pods,
    /// Each pool's Service: one daemon per pool, whichever answers (inside the cluster).
    Service,
    /// `kubectl port-forward` to every pod, started and stopped by buildfarm (a laptop).
    PortForward,
    /// Every pod by its external name (`[expose]` with per-daemon names), else the pool's.
    External,
}

impl From<BuildxVia> for Via {
    fn from(v: BuildxVia) -> Via {
        match v {
            BuildxVia::Service => Via::Service,
            BuildxVia::PortForward => Via::PortForward,
            BuildxVia::External => Via::External,
        }
    }
}

impl From<JobVia> for Via {
    fn from(v: JobVia) -> Via {
        match v {
            JobVia::Service => Via::Service,
            JobVia::External => Via::External,
        }
    }
}

impl From<StatusVia> for Via {
    fn from(v: StatusVia) -> Via {
        match v {
            StatusVia::Pods => Via::Pods,
            StatusVia::Service => Via::Service,
            StatusVia::PortForward => Via::PortForward,
            StatusVia::External => Via::External,
        }
    }
}

/// The port `pool` answers on `via` this way: a Gateway listener's from outside, else the
/// farm's.
pub(crate) fn port(farm: &Farm, pool: &Pool, via: Via) -> u16 {
    match (via, &pool.expose) {
        (Via::External, Some(e)) => e.port(farm.port),
        _ => farm.port,
    }
}

/// `tcp://host:port` for `host` of `pool`, reached `via` this way.
pub(crate) fn endpoint(farm: &Farm, pool: &Pool, via: Via, host: &str) -> String {
    names::endpoint(host, port(farm, pool, via))
}

/// A pool's host name (also the server name its certificate answers to): its external name
/// from outside, else its Service's.
pub(crate) fn pool_host(farm: &Farm, pool: &Pool, via: Via) -> anyhow::Result<String> {
    match via {
        Via::External => external_host(farm, pool),
        Via::Pods | Via::Service | Via::PortForward => Ok(farm.service_host(pool)),
    }
}

/// Every pool's host name, in order.
pub(crate) fn pool_hosts(farm: &Farm, via: Via) -> anyhow::Result<Vec<String>> {
    farm.pools.iter().map(|p| pool_host(farm, p, via)).collect()
}

/// A pool's external name, or why there is none to reach it by from outside.
pub(crate) fn external_host(farm: &Farm, pool: &Pool) -> anyhow::Result<String> {
    farm.external_host(pool).ok_or_else(|| {
        let message = match farm.pools.iter().any(|p| p.expose.is_some()) {
            false => "`--via external` needs the pools' external names, and the spec gives none".to_string(),
            true => format!("`--via external` needs the pools' external names, and pool `{}` has none", pool.name),
        };
        let hint = "add `[expose]` (or the pool's `[pool.expose]`) with a `type` and `domain = \"ci.example.com\"` (names `<name>-<pool>.<domain>`)";
        Invalid::from(Diagnostic::bare(message).hint(hint).rule(Rule::MissingKey)).into()
    })
}

/// One daemon's host name: under the headless Service, or its own external name.
pub(crate) fn pod_host(farm: &Farm, pool: &Pool, ordinal: u32, via: Via) -> anyhow::Result<String> {
    match via {
        Via::Pods | Via::Service => Ok(farm.pod_host(pool, ordinal)),
        Via::External => farm.pod_external_host(pool, ordinal).ok_or_else(|| {
            let message = format!(
                "a pinned client reaches its pod from outside by the pod's own name, and pool `{}` has none",
                pool.name
            );
            let hint = "add `per_pod = true` and a `domain` to `[expose]` or the pool's `[pool.expose]` (names `<name>-<pool>-<i>.<domain>`), or use `type = \"gateway\"`";
            Invalid::from(Diagnostic::bare(message).hint(hint).rule(Rule::MissingKey)).into()
        }),
        Via::PortForward => anyhow::bail!(
            "pods are pinned in the cluster or from outside: use `--via service` or `--via external`"
        ),
    }
}

/// Every daemon of `pool` by its own external name, if each has one.
pub(crate) fn pod_external_hosts(farm: &Farm, pool: &Pool) -> Option<Vec<String>> {
    (0..pool.ordinals())
        .map(|i| farm.pod_external_host(pool, i))
        .collect()
}

/// What follows `<statefulset>-<i>.` in the pool's per-daemon names `via` this way: the
/// headless Service's domain, or `[expose] domain` (with per-daemon exposure). `None`: the pool
/// has no per-daemon names that way.
pub(crate) fn pod_suffix(farm: &Farm, pool: &Pool, via: Via) -> Option<String> {
    match via {
        Via::Pods | Via::Service => Some(format!(
            "{}.{}.svc",
            farm.headless_service(pool),
            farm.namespace
        )),
        Via::External => pool
            .expose
            .as_ref()
            .filter(|e| e.per_pod)
            .and_then(|e| e.domain.clone()),
        Via::PortForward => None,
    }
}
