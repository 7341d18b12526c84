//! Trust domains: which clients may use which pools (`[[tls.client]] pools`), and what an
//! untrusted pool refuses outright. What is merely loosened is lint's to say.

use super::checker::Checker;
use super::tls::PoolRef;
use crate::farm::model::{Pool, PoolTrust, Tls, TlsMode};
use crate::rule::Rule;
use crate::suggest::did_you_mean;

/// The farm-wide settings an untrusted pool must not inherit loosened.
pub(super) struct Untrusted<'a> {
    pub(super) network_policy: bool,
    pub(super) extra_args: &'a [String],
    pub(super) buildkitd: &'a toml::Table,
}

/// The entitlements that let a build step leave its sandbox: the host's network, or a
/// privileged container (`buildkitd --allow-insecure-entitlement`, `insecure-entitlements`).
const INSECURE_ENTITLEMENTS: [&str; 2] = ["network.host", "security.insecure"];

/// Checks each client's `pools`, and in a farm with trust domains gives each pool the clients
/// it admits. An untrusted pool refuses insecure entitlements.
pub(super) fn domains(
    c: &mut Checker,
    tls: &Tls,
    refs: Vec<PoolRef>,
    pools: &mut [Pool],
    untrusted: &Untrusted,
) {
    let known: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
    for r in &refs {
        if !known.contains(&r.pool.as_str()) {
            let client = &tls.clients[r.client].name;
            let hint = match did_you_mean(&r.pool, known.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("the pools are {}", crate::suggest::one_of(&known)),
            };
            let message = format!(
                "client `{client}` names pool `{}`, which the farm does not have",
                r.pool
            );
            c.error(Rule::UnknownPool, r.span.clone(), message, Some(hint));
        }
    }
    for (i, client) in tls.clients.iter().enumerate() {
        if client.pools.as_ref().is_some_and(Vec::is_empty) {
            let span = c
                .spans
                .value(&format!("tls.client.{i}.pools"))
                .unwrap_or(0..0);
            let message = format!("client `{}` may use no pool", client.name);
            let hint = "list the pools it builds on, or remove the client";
            c.error(Rule::InvalidValue, span, message, Some(hint.into()));
        }
    }
    if tls.domains() {
        if tls.mode != TlsMode::Generated {
            let span = refs.first().map_or(0..0, |r| r.span.clone());
            let message = format!(
                "`pools` on a client needs `tls.mode = \"generated\"`: with `{}` buildfarm does not issue the client CAs each pool trusts",
                tls.mode.as_str()
            );
            let hint = "use generated certificates for a farm with trust domains (a pool's daemons need one bundle of its clients' CAs, which only buildfarm's own certificates give), or run a separate farm per domain";
            c.error(Rule::Unsupported, span, message, Some(hint.into()));
        }
        for (i, pool) in pools.iter_mut().enumerate() {
            let clients: Vec<String> = tls
                .clients_of(&pool.name)
                .map(|cl| cl.name.clone())
                .collect();
            if clients.is_empty() {
                let span = c.spans.value(&format!("pool.{i}")).unwrap_or(0..0);
                let message = format!(
                    "no client may use pool `{}`: its daemons would trust no client CA and not start",
                    pool.name
                );
                let hint = "add the pool to a client's `pools`, or remove the pool";
                c.error(Rule::InvalidValue, span, message, Some(hint.into()));
            }
            pool.trust = Some(PoolTrust {
                clients: Some(clients),
                network_policy: untrusted.network_policy,
            });
        }
    }
    // An untrusted pool has its own NetworkPolicy: egress only to `[network] egress`.
    for pool in pools
        .iter_mut()
        .filter(|p| p.untrusted && p.trust.is_none())
    {
        pool.trust = Some(PoolTrust {
            clients: None,
            network_policy: untrusted.network_policy,
        });
    }
    if let Some(i) = pools.iter().position(|p| p.untrusted) {
        entitlements(c, &pools[i].name, untrusted);
    }
}

/// An untrusted pool's daemons must not grant the entitlements that leave the sandbox; both
/// `extra_args` and `[buildkitd]` are farm-wide, so an untrusted pool refuses them for all.
fn entitlements(c: &mut Checker, pool: &str, untrusted: &Untrusted) {
    let hint = "run the builds that need them on a separate farm of trusted pools";
    for (i, arg) in untrusted.extra_args.iter().enumerate() {
        let next = untrusted.extra_args.get(i + 1).map_or("", String::as_str);
        let value = arg.split_once('=').map_or(next, |(_, v)| v);
        let flag = arg.trim_start_matches('-').split('=').next().unwrap_or("");
        if flag == "allow-insecure-entitlement" && INSECURE_ENTITLEMENTS.contains(&value) {
            let span = c.spans.value(&format!("extra_args.{i}")).unwrap_or(0..0);
            let message = format!(
                "`extra_args` allows `{value}`, and pool `{pool}` is untrusted: a fork's build could leave its sandbox"
            );
            c.error(Rule::Unsupported, span, message, Some(hint.into()));
        }
    }
    let granted = untrusted.buildkitd.get("insecure-entitlements");
    let listed = granted
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten();
    for value in listed.filter_map(toml::Value::as_str) {
        if INSECURE_ENTITLEMENTS.contains(&value) {
            let span = c
                .spans
                .value("buildkitd.insecure-entitlements")
                .unwrap_or(0..0);
            let message = format!(
                "`[buildkitd] insecure-entitlements` allows `{value}`, and pool `{pool}` is untrusted: a fork's build could leave its sandbox"
            );
            c.error(Rule::Unsupported, span, message, Some(hint.into()));
        }
    }
}
