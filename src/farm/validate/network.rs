//! `[network]` and `[metrics]`: who may reach the daemons' ports, what builds may reach, and
//! how Prometheus scrapes the (unauthenticated) metrics endpoint.

use std::ops::Range;

use indexmap::IndexMap;

use super::checker::Checker;
use crate::farm::model::{Network, Peer};
use crate::farm::raw::{RawMetrics, RawNetwork, RawPeer, Spanned};
use crate::farm::syntax;
use crate::rule::Rule;

/// The namespace Prometheus runs in unless `[network] metrics_from` says otherwise.
pub(super) const METRICS_NAMESPACE: &str = "monitoring";

use crate::farm::model::NAMESPACE_NAME_LABEL;

/// The metrics settings: the port (top-level `metrics_port` or `[metrics] port`), and which
/// monitors to render.
pub(super) fn metrics(
    c: &mut Checker,
    top_level: Option<Spanned<i64>>,
    raw: Option<Spanned<RawMetrics>>,
    build_port: u16,
) -> (Option<u16>, bool, bool) {
    let table_span = raw.as_ref().map(Spanned::span);
    let m = raw.map(Spanned::into_inner).unwrap_or_default();
    if let (Some(_), Some(second)) = (&top_level, &m.port) {
        let hint = "keep one of them: `[metrics] port`";
        c.error(
            Rule::DuplicateKey,
            second.span(),
            "`metrics_port` and `metrics.port` both set the metrics port",
            Some(hint.into()),
        );
    }
    let (key, raw_port) = match top_level {
        Some(p) => ("metrics_port", Some(p)),
        None => ("metrics.port", m.port),
    };
    let port = raw_port.map(|p| {
        let span = p.span();
        let value = c.int(Some(p), key, 1..=u16::MAX, 6060);
        if value == build_port {
            c.error(
                Rule::PortConflict,
                span,
                format!("`{key}` {value} is also the buildkitd `port`"),
                None,
            );
        }
        value
    });
    let (service_monitor, pod_monitor) = (
        m.service_monitor.unwrap_or(false),
        m.pod_monitor.unwrap_or(false),
    );
    if (service_monitor || pod_monitor) && port.is_none() {
        let hint = "set `port = 6060` under `[metrics]`";
        c.error(
            Rule::MissingKey,
            table_span.unwrap_or(0..0),
            "a ServiceMonitor or PodMonitor needs the metrics `port`",
            Some(hint.into()),
        );
    }
    (port, service_monitor, pod_monitor)
}

pub(super) fn network(c: &mut Checker, raw: Option<Spanned<RawNetwork>>) -> Network {
    let n = raw.map(Spanned::into_inner).unwrap_or_default();
    let peers = |c: &mut Checker, list: Option<Vec<Spanned<RawPeer>>>, key: &str, ports: bool| {
        list.map(|l| {
            l.into_iter()
                .filter_map(|p| peer(c, p, key, ports))
                .collect::<Vec<_>>()
        })
    };
    let allow = peers(c, n.allow, "network.allow", false);
    let metrics_from =
        peers(c, n.metrics_from, "network.metrics_from", false).unwrap_or_else(|| {
            vec![Peer::Pods {
                namespace_labels: Some(IndexMap::from([(
                    NAMESPACE_NAME_LABEL.to_string(),
                    METRICS_NAMESPACE.to_string(),
                )])),
                pod_labels: None,
                ports: Vec::new(),
            }]
        });
    let egress = peers(c, n.egress, "network.egress", true);
    Network {
        allow,
        metrics_from,
        egress,
    }
}

fn peer(c: &mut Checker, raw: Spanned<RawPeer>, key: &str, ports_allowed: bool) -> Option<Peer> {
    let span = raw.span();
    let p = raw.into_inner();
    let before = c.errors.len();
    let ports = ports(c, p.ports, key, ports_allowed, &span);
    let pods = p.namespace.is_some() || p.namespace_labels.is_some() || p.pod_labels.is_some();
    match (pods, p.cidr) {
        (true, Some(cidr)) => {
            let hint =
                "write two entries: one with `cidr`, one with the pod or namespace selectors";
            c.error(
                Rule::InvalidPeer,
                cidr.span(),
                format!("a `{key}` entry is either an IP block (`cidr`) or pods, not both"),
                Some(hint.into()),
            );
            None
        }
        (false, None) => {
            let hint = "e.g. `{ namespace = \"gitlab-runner\" }`, `{ pod_labels = { app = \"runner\" } }` or `{ cidr = \"203.0.113.0/24\" }`";
            c.error(
                Rule::InvalidPeer,
                span,
                format!("a `{key}` entry names nothing"),
                Some(hint.into()),
            );
            None
        }
        (false, Some(cidr)) => {
            if let Err(why) = parse_cidr(cidr.get_ref()) {
                c.error(
                    Rule::InvalidPeer,
                    cidr.span(),
                    format!("`{key}` cidr `{}` is not valid: {why}", cidr.get_ref()),
                    None,
                );
            }
            Some(Peer::Cidr {
                cidr: cidr.into_inner(),
                ports,
            })
        }
        (true, None) => {
            let peer = pods_peer(c, p.namespace, p.namespace_labels, p.pod_labels, key, ports);
            (c.errors.len() == before).then_some(peer)
        }
    }
}

/// Pods: a namespace by name or namespaces by labels, and/or pods by labels.
fn pods_peer(
    c: &mut Checker,
    namespace: Option<Spanned<String>>,
    namespace_labels: Option<IndexMap<String, Spanned<String>>>,
    pod_labels: Option<IndexMap<String, Spanned<String>>>,
    key: &str,
    ports: Vec<u16>,
) -> Peer {
    if let (Some(ns), Some(_)) = (&namespace, &namespace_labels) {
        let hint = "name the namespace, or select namespaces by labels";
        c.error(
            Rule::InvalidPeer,
            ns.span(),
            format!("a `{key}` entry has both `namespace` and `namespace_labels`"),
            Some(hint.into()),
        );
    }
    let namespace_labels = match namespace {
        Some(ns) => {
            if let Err(why) = syntax::dns_label(ns.get_ref()) {
                c.error(
                    Rule::InvalidName,
                    ns.span(),
                    format!("`{key}` namespace `{}` is not valid: {why}", ns.get_ref()),
                    None,
                );
            }
            Some(IndexMap::from([(
                NAMESPACE_NAME_LABEL.to_string(),
                ns.into_inner(),
            )]))
        }
        None => namespace_labels.map(|l| {
            c.string_map(
                Some(l),
                &format!("{key}.namespace_labels"),
                syntax::label_value,
                &[],
            )
        }),
    };
    let pod_labels = pod_labels.map(|l| {
        c.string_map(
            Some(l),
            &format!("{key}.pod_labels"),
            syntax::label_value,
            &[],
        )
    });
    Peer::Pods {
        namespace_labels,
        pod_labels,
        ports,
    }
}

fn ports(
    c: &mut Checker,
    raw: Option<Vec<Spanned<i64>>>,
    key: &str,
    allowed: bool,
    span: &Range<usize>,
) -> Vec<u16> {
    let Some(list) = raw else { return Vec::new() };
    if !allowed {
        let hint =
            "the port is the build (or metrics) port; `ports` limits `network.egress` entries";
        c.error(
            Rule::InvalidPeer,
            span.clone(),
            format!("`{key}` entries take no `ports`"),
            Some(hint.into()),
        );
        return Vec::new();
    }
    list.into_iter()
        .map(|p| c.int(Some(p), &format!("{key}.ports"), 1..=u16::MAX, 1))
        .collect()
}

/// `192.0.2.0/24` or `2001:db8::/32`: an address and a prefix length that fits it.
pub(super) fn parse_cidr(s: &str) -> Result<(), String> {
    let (addr, prefix) = s
        .split_once('/')
        .ok_or("write an address and a prefix length, like `203.0.113.0/24`")?;
    let max = match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => 32,
        Ok(std::net::IpAddr::V6(_)) => 128,
        Err(_) => return Err(format!("`{addr}` is not an IP address")),
    };
    match prefix.parse::<u8>() {
        Ok(n) if n <= max => Ok(()),
        _ => Err(format!("the prefix length must be 0 to {max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cidr;

    #[test]
    fn cidrs_need_an_address_and_a_prefix_that_fits() {
        assert!(parse_cidr("203.0.113.0/24").is_ok());
        assert!(parse_cidr("2001:db8::/32").is_ok());
        assert!(parse_cidr("0.0.0.0/0").is_ok());
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("10.0.0.0").is_err());
        assert!(parse_cidr("example.com/24").is_err());
        assert!(parse_cidr("::/129").is_err());
    }
}
