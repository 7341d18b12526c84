//! The objects that guard and watch the daemons' ports: the NetworkPolicy (on by default), and
//! for Prometheus a metrics Service with its ServiceMonitor, or a PodMonitor.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Value, json};

use super::basic;
use crate::farm::{Client, Farm, Peer, Pool};
use crate::render::kind::Kind;
use crate::render::meta::{ObjectSpec, farm_selector, labels, selector};

pub(crate) fn objects(farm: &Farm) -> Vec<ObjectSpec> {
    let ns = &farm.namespace;
    let mut out = Vec::new();
    // With trust domains every pool has its own policy (policies add up: a farm-wide one
    // would admit every client's namespace to every pool).
    if farm.network_policy && !farm.tls.domains() {
        let whole = Scope {
            clients: farm.tls.clients.iter().collect(),
            pools: farm.pools.iter().collect(),
            untrusted: false,
        };
        out.push(ObjectSpec::new(
            Kind::NetworkPolicy,
            farm.network_policy_name(),
            Some(ns),
            network_policy(farm, whole, farm.network_policy_name(), farm_selector(farm)),
        ));
    }
    if let Some(port) = farm.metrics_port {
        let selector = farm_selector(farm);
        let metrics_labels = labels(farm, "metrics", None);
        let name = farm.metrics_service();
        // A ServiceMonitor or PodMonitor: the Prometheus Operator object that finds its
        // targets by `selector`.
        let monitor = |kind: Kind, selector: &basic::Labels| {
            let ctx = basic::Selecting {
                name: &name,
                namespace: ns,
                labels: &metrics_labels,
                selector,
            };
            ObjectSpec::new(kind, name.clone(), Some(ns), ctx)
        };
        if farm.service_monitor {
            let ctx = basic::Service {
                name: &name,
                namespace: ns,
                labels: &metrics_labels,
                selector: &selector,
                headless: false,
                load_balancer: None,
                port,
                port_name: "metrics",
            };
            out.push(ObjectSpec::new(Kind::Service, name.clone(), Some(ns), ctx));
            // Selects the metrics Service by its component: the build Services carry `daemon`.
            let mut by_component = farm_selector(farm);
            by_component.insert("app.kubernetes.io/component", "metrics".into());
            out.push(monitor(Kind::ServiceMonitor, &by_component));
        }
        if farm.pod_monitor {
            out.push(monitor(Kind::PodMonitor, &selector));
        }
    }
    out
}

/// `templates/networkpolicy.yaml.j2`.
#[derive(Serialize)]
struct NetworkPolicy<'a> {
    name: String,
    namespace: &'a str,
    labels: basic::Labels,
    pod_selector: basic::Labels,
    port: u16,
    metrics_port: Option<u16>,
    /// Who may reach the build port, for the comment: "the farm's clients", or a pool's.
    audience: String,
    /// NetworkPolicyPeers allowed to the build port.
    build_from: Vec<Value>,
    metrics_from: Vec<Value>,
    /// `None`: egress is not restricted.
    egress: Option<Vec<Value>>,
}

/// What a NetworkPolicy guards: the pools it selects, the clients it admits, and whether its
/// pool is untrusted (then egress is only what `[network] egress` lists, or DNS and HTTPS).
struct Scope<'a> {
    clients: Vec<&'a Client>,
    pools: Vec<&'a Pool>,
    untrusted: bool,
}

/// A pool's own NetworkPolicy (trust domains, or an untrusted pool): only the pool's pods, only
/// the namespaces of the clients it admits.
pub(crate) fn pool_policy(farm: &Farm, pool: &Pool, name: String) -> ObjectSpec {
    let scope = Scope {
        clients: farm.tls.clients_of(&pool.name).collect(),
        pools: vec![pool],
        untrusted: pool.untrusted,
    };
    let mut ctx = network_policy(farm, scope, name.clone(), selector(farm, pool));
    ctx.labels = labels(farm, "network", Some(pool));
    ctx.audience = format!("the clients pool {} admits", pool.name);
    ObjectSpec::new(Kind::NetworkPolicy, name, Some(&farm.namespace), ctx)
}

/// An untrusted pool's egress unless `[network] egress` says otherwise: HTTPS anywhere (DNS is
/// always open), so a build can fetch its dependencies and push nothing elsewhere.
fn untrusted_egress() -> Vec<Peer> {
    ["0.0.0.0/0", "::/0"]
        .map(|cidr| Peer::Cidr {
            cidr: cidr.into(),
            ports: vec![443],
        })
        .to_vec()
}

fn network_policy<'a>(
    farm: &'a Farm,
    scope: Scope<'_>,
    name: String,
    pod_selector: basic::Labels,
) -> NetworkPolicy<'a> {
    // Clients that name a namespace get their certificate there: their jobs run there.
    let mut build_from: Vec<Value> = scope
        .clients
        .iter()
        .filter_map(|c| c.namespace.as_ref())
        .map(|ns| json!({ "namespaceSelector": { "matchLabels": { crate::farm::NAMESPACE_NAME_LABEL: ns } } }))
        .collect();
    build_from.dedup();
    build_from.extend(farm.network.allow.iter().flatten().map(peer));
    // Clients through the load balancers, by the address `externalTrafficPolicy: Local` keeps.
    let outside = Farm::outside_ranges_of(&scope.pools);
    build_from.extend(
        outside
            .iter()
            .map(|cidr| json!({ "ipBlock": { "cidr": cidr } })),
    );
    // Through a Gateway: its proxies connect, from the Gateway's namespace (where most
    // implementations run them; others are listed in `[network] allow`).
    for ns in farm.gateway_namespaces_of(&scope.pools) {
        let peer = json!({ "namespaceSelector": { "matchLabels": { crate::farm::NAMESPACE_NAME_LABEL: ns } } });
        if !build_from.contains(&peer) {
            build_from.push(peer);
        }
    }
    let metrics_from: Vec<Value> = match farm.metrics_port {
        Some(_) => farm.network.metrics_from.iter().map(peer).collect(),
        None => Vec::new(),
    };
    let untrusted = scope.untrusted.then(untrusted_egress);
    let egress_peers = farm.network.egress.as_ref().or(untrusted.as_ref());
    let egress: Option<Vec<Value>> = egress_peers.map(|list| {
        list.iter()
            .map(|p| {
                // `to` before `ports`, as people write them.
                let mut rule: IndexMap<&str, Value> = IndexMap::new();
                rule.insert("to", json!([peer(p)]));
                let ports = match p {
                    Peer::Pods { ports, .. } | Peer::Cidr { ports, .. } => ports,
                };
                if !ports.is_empty() {
                    let ports: Vec<Value> = ports
                        .iter()
                        .map(|p| json!({ "port": p, "protocol": "TCP" }))
                        .collect();
                    rule.insert("ports", Value::Array(ports));
                }
                json!(rule)
            })
            .collect()
    });
    NetworkPolicy {
        name,
        namespace: &farm.namespace,
        labels: labels(farm, "network", None),
        audience: "the farm's clients".into(),
        pod_selector,
        port: farm.port,
        metrics_port: farm.metrics_port,
        build_from,
        metrics_from,
        egress,
    }
}

/// A NetworkPolicyPeer: `namespaceSelector`/`podSelector`, or an `ipBlock`.
fn peer(p: &Peer) -> Value {
    match p {
        Peer::Cidr { cidr, .. } => json!({ "ipBlock": { "cidr": cidr } }),
        Peer::Pods {
            namespace_labels,
            pod_labels,
            ..
        } => {
            let mut out = serde_json::Map::new();
            let selector = |labels: &IndexMap<String, String>| json!({ "matchLabels": labels });
            if let Some(l) = namespace_labels {
                out.insert("namespaceSelector".into(), selector(l));
            }
            if let Some(l) = pod_labels {
                out.insert("podSelector".into(), selector(l));
            }
            Value::Object(out)
        }
    }
}
