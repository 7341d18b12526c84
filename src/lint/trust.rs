//! Trust domains: no pool where code nobody reviewed builds is shared with a client that builds
//! what ships (cache mounts are shared by id across every build on a daemon), and an untrusted
//! pool keeps its hardening.

use crate::diagnostic::Diagnostic;
use crate::farm::{Client, Farm, Peer, Pool};
use crate::profile::Mode;
use crate::rule::Rule;

pub(super) fn check(farm: &Farm, out: &mut Vec<Diagnostic>) {
    shared_pools(farm, out);
    for (i, pool) in farm.pools.iter().enumerate() {
        if pool.untrusted {
            untrusted_pool(farm, i, pool, out);
        }
    }
    for (j, client) in farm.tls.clients.iter().enumerate() {
        if client.untrusted {
            unhardened_pools(farm, j, client, out);
        }
    }
}

/// Where a client's `pools` is written, else the client itself.
fn client_at(farm: &Farm, j: usize) -> String {
    let pools = format!("tls.client.{j}.pools");
    match farm.spans.value(&pools) {
        Some(_) => pools,
        None => format!("tls.client.{j}"),
    }
}

/// The clients not marked untrusted that may use `pool`.
fn trusted_on<'a>(farm: &'a Farm, pool: &'a Pool) -> Vec<&'a Client> {
    farm.tls
        .clients_of(&pool.name)
        .filter(|c| !c.untrusted)
        .collect()
}

fn names(clients: &[&Client]) -> String {
    let quoted: Vec<String> = clients.iter().map(|c| format!("`{}`", c.name)).collect();
    quoted.join(", ")
}

/// A pool that an untrusted client (or the pool's own `untrusted`) shares with a trusted client.
fn shared_pools(farm: &Farm, out: &mut Vec<Diagnostic>) {
    let hint = "give untrusted builds pools of their own: list them in the untrusted client's `pools`, and leave them out of every other client's `pools`";
    for (j, client) in farm.tls.clients.iter().enumerate() {
        if !client.untrusted {
            continue;
        }
        for pool in farm.pools.iter().filter(|p| client.reaches(&p.name)) {
            let trusted = trusted_on(farm, pool);
            if trusted.is_empty() {
                continue;
            }
            let message = format!(
                "untrusted client `{}` shares pool `{}` with {}: a build it runs can write into the cache mounts the others' builds read",
                client.name,
                pool.name,
                names(&trusted)
            );
            let d = farm.finding(Rule::TrustSharedPool, &client_at(farm, j), message);
            out.push(d.hint(hint));
        }
    }
    for (i, pool) in farm.pools.iter().enumerate().filter(|(_, p)| p.untrusted) {
        let trusted = trusted_on(farm, pool);
        let untrusted_clients = farm.tls.clients.iter().any(|c| c.untrusted);
        if trusted.is_empty() || untrusted_clients {
            continue; // with untrusted clients, the check above names the shared pools
        }
        let message = format!(
            "pool `{}` builds untrusted code, and {} may use it: their builds read the cache untrusted builds write",
            pool.name,
            names(&trusted)
        );
        let d = farm.finding(
            Rule::TrustSharedPool,
            &format!("pool.{i}.untrusted"),
            message,
        );
        out.push(d.hint("mark the clients that build on it `untrusted = true`, and give the others `pools` without it"));
    }
}

/// An untrusted pool with a default loosened, or without a process sandbox.
fn untrusted_pool(farm: &Farm, i: usize, pool: &Pool, out: &mut Vec<Diagnostic>) {
    let at = format!("pool.{i}.untrusted");
    let name = &pool.name;
    if farm.mode == Mode::Rootless && pool.runtime_class.is_none() {
        let message = format!(
            "pool `{name}` builds untrusted code without a process sandbox: rootless BuildKit runs each build step beside the daemon, which it can see and signal"
        );
        let hint = "use `mode = \"userns\"` where the cluster has user namespaces, or give the pool a sandboxing `runtime_class` (gVisor, Kata)";
        out.push(
            farm.finding(Rule::TrustUntrustedUnsandboxed, &at, message)
                .hint(hint),
        );
    }
    let mut open = |key: &str, message: String, hint: &str| {
        let d = farm.finding(Rule::TrustUntrustedOpen, key, message);
        out.push(d.hint(hint));
    };
    if !farm.network_policy {
        open(
            "network_policy",
            format!(
                "untrusted pool `{name}` has no NetworkPolicy: any pod reaches its daemons, and its builds reach anything"
            ),
            "remove `network_policy = false`",
        );
    }
    let egress = farm.network.egress.iter().flatten();
    if let Some(k) = egress.clone().position(anywhere) {
        open(
            &format!("network.egress.{k}"),
            format!(
                "`[network] egress` lets untrusted pool `{name}`'s builds reach any address on any port"
            ),
            "list only what builds need (registries, package mirrors), with their ports",
        );
    }
    if farm.mode == Mode::Privileged {
        open(
            "mode",
            format!(
                "untrusted pool `{name}` runs privileged: a build step that escapes its container is root on the node"
            ),
            "use `mode = \"userns\"` (root only inside the pod's user namespace), or a sandboxing `runtime_class`",
        );
    }
}

/// A `[network] egress` peer that admits every address on every port.
fn anywhere(peer: &Peer) -> bool {
    match peer {
        Peer::Cidr { cidr, ports } => ports.is_empty() && cidr.ends_with("/0"),
        Peer::Pods {
            namespace_labels,
            pod_labels,
            ports,
        } => {
            let every = |l: &Option<indexmap::IndexMap<String, String>>| {
                l.as_ref().is_some_and(|l| l.is_empty())
            };
            ports.is_empty() && every(namespace_labels) && pod_labels.is_none()
        }
    }
}

/// The pools an untrusted client uses that are not marked untrusted, so not hardened.
fn unhardened_pools(farm: &Farm, j: usize, client: &Client, out: &mut Vec<Diagnostic>) {
    for pool in farm
        .pools
        .iter()
        .filter(|p| !p.untrusted && client.reaches(&p.name))
    {
        if !trusted_on(farm, pool).is_empty() {
            continue; // shared: trust-shared-pool says so, as an error
        }
        let message = format!(
            "untrusted client `{}` builds on pool `{}`, which is not marked untrusted: it keeps open egress and no sandbox check",
            client.name, pool.name
        );
        let d = farm.finding(Rule::TrustUntrustedOpen, &client_at(farm, j), message);
        out.push(d.hint(format!("add `untrusted = true` to pool `{}`", pool.name)));
    }
}
