//! How CI reaches the farm, derived from the same farm.toml as the daemons so the two can never
//! disagree: `docker buildx` and `buildctl` commands, GitLab and GitHub snippets, rendezvous
//! pinning of projects to pods, and the isolated sidecar variant.

pub(crate) mod endpoint;
mod snippets;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::diagnostic::{Diagnostic, Invalid};
use crate::farm::{Farm, Pool, names};
use crate::rule::Rule;
use crate::suggest::{did_you_mean, one_of};
pub(crate) use snippets::{GITHUB_KEY_VAR, SidecarFormat, Tool, github, gitlab, sidecar};

/// The client certificate files a CI job presents.
pub(crate) struct Identity {
    pub name: String,
    pub dir: PathBuf,
}

impl Identity {
    /// `--certs DIR` when given (where the files are on the CI machine), else the client's folder
    /// under `tls.dir`, made absolute (buildx wants absolute paths).
    pub(crate) fn new(
        farm: &Farm,
        client: Option<&str>,
        certs: Option<&Path>,
    ) -> anyhow::Result<Identity> {
        let name = match client {
            None => farm.tls.clients[0].name.clone(),
            Some(c) if farm.tls.clients.iter().any(|x| x.name == c) => c.to_string(),
            Some(c) => {
                let names: Vec<&str> = farm.tls.clients.iter().map(|x| x.name.as_str()).collect();
                let hint = match did_you_mean(c, names.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("the spec's clients: {}", one_of(&names)),
                };
                let d = Diagnostic::bare(format!("no `[[tls.client]]` is named `{c}`"))
                    .hint(hint)
                    .rule(Rule::UnknownClient);
                return Err(Invalid::from(d).into());
            }
        };
        let dir = certs.map_or_else(
            || farm.tls.dir.join("client").join(&name),
            Path::to_path_buf,
        );
        let dir = std::path::absolute(&dir)
            .with_context(|| format!("failed to resolve `{}`", dir.display()))?;
        Ok(Identity { name, dir })
    }

    pub(crate) fn ca(&self) -> String {
        self.dir.join("ca.crt").display().to_string()
    }
    pub(crate) fn cert(&self) -> String {
        self.dir.join("tls.crt").display().to_string()
    }
    pub(crate) fn key(&self) -> String {
        self.dir.join("tls.key").display().to_string()
    }
}

/// The farm as client `client` sees it: only the pools its `pools` allow (with trust domains,
/// the others refuse its certificate), so every command and snippet points at those alone.
pub(crate) fn seen_by(farm: &Farm, client: &str) -> Farm {
    let mut scoped = farm.clone();
    if let Some(c) = farm.tls.clients.iter().find(|c| c.name == client) {
        scoped.pools.retain(|p| c.reaches(&p.name));
    }
    scoped
}

/// `--pool NAME` for client `client`: a pool of the farm that the client may use.
pub(crate) fn pool_for<'a>(
    farm: &'a Farm,
    client: &str,
    name: Option<&str>,
) -> anyhow::Result<&'a Pool> {
    let allowed = |p: &&Pool| farm.tls.admits(client, &p.name);
    let Some(name) = name else {
        let Some(first) = farm.pools.iter().find(allowed) else {
            anyhow::bail!("client `{client}` may use no pool");
        };
        return serving(farm, std::slice::from_ref(first)).map(|()| first);
    };
    let pool = pool(farm, Some(name))?;
    if !allowed(&pool) {
        let message = format!(
            "client `{client}` may not use pool `{name}`: its daemons refuse `{client}`'s certificate"
        );
        let hint = "pick one of the client's `pools`, or another `--client`";
        return Err(
            Invalid::from(Diagnostic::bare(message).hint(hint).rule(Rule::UnknownPool)).into(),
        );
    }
    Ok(pool)
}

pub(crate) fn pool<'a>(farm: &'a Farm, name: Option<&str>) -> anyhow::Result<&'a Pool> {
    let Some(name) = name else {
        return serving(farm, std::slice::from_ref(&farm.pools[0])).map(|()| &farm.pools[0]);
    };
    let found = farm.pools.iter().find(|p| p.name == name);
    if let Some(pool) = found {
        serving(farm, std::slice::from_ref(pool))?;
    }
    found.ok_or_else(|| {
        let names: Vec<&str> = farm.pools.iter().map(|p| p.name.as_str()).collect();
        let hint = match did_you_mean(name, names.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("the spec's pools: {}", one_of(&names)),
        };
        Invalid::from(
            Diagnostic::bare(format!("no pool is named `{name}`"))
                .hint(hint)
                .rule(Rule::UnknownPool),
        )
        .into()
    })
}

/// Every pool a client is pointed at must have daemons: a pool with `replicas = 0` has no
/// endpoint to print, and a CI job pointed at it would fail at its first build.
pub(crate) fn serving(farm: &Farm, pools: &[Pool]) -> anyhow::Result<()> {
    let idle: Vec<Diagnostic> = pools
        .iter()
        .filter(|p| p.ordinals() == 0)
        .map(|p| {
            let i = farm
                .pools
                .iter()
                .position(|x| x.name == p.name)
                .unwrap_or(0);
            let message = format!(
                "pool `{}` has no daemons (`replicas = 0`): no client can reach it",
                p.name
            );
            // An error here: a client pointed at it fails at its first build.
            farm.finding(Rule::ReplicasZero, &format!("pool.{i}.replicas"), message)
                .severity(crate::diagnostic::Severity::Error)
                .hint("raise `replicas`, or pick another pool with `--pool`")
        })
        .collect();
    match idle.is_empty() {
        true => Ok(()),
        false => Err(Invalid(idle).into()),
    }
}

/// A word for POSIX shells: as is when safe, else single-quoted.
pub(crate) fn sh(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A CSV field, as buildx reads `--driver-opt` values.
fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

pub(crate) use crate::reach::{JobVia, Via};
use crate::reach::{endpoint as endpoint_of, pod_host, pool_host, pool_hosts};

/// `docker buildx create` for every pool: the first with `--use`, the others `--append`, so
/// `docker buildx build --platform linux/amd64,linux/arm64` builds each arch natively. With
/// `key`, each pool's node is every one of its pods, in the key's rendezvous order: buildx
/// builds on the first node that serves the platform (docker/buildx#429, #1081).
pub(crate) fn buildx(
    farm: &Farm,
    name: &str,
    id: &Identity,
    via: Via,
    key: Option<&str>,
) -> anyhow::Result<String> {
    let hosts = pool_hosts(farm, via)?;
    let mut out = String::new();
    if via == Via::PortForward {
        if key.is_some() {
            anyhow::bail!(
                "`--key` pins to pods in the cluster or from outside: use `--via service` or `--via external`"
            );
        }
        out.push_str("# Forward each pool's Service to this machine (leave these running):\n");
        for (i, pool) in farm.pools.iter().enumerate() {
            let local = local_port(farm, i);
            out.push_str(&format!(
                "kubectl -n {} port-forward svc/{} {local}:{} &\n",
                sh(&farm.namespace),
                sh(&farm.pool_object(pool)),
                farm.port
            ));
        }
    }
    if let Some(k) = key {
        out.push_str(&format!(
            "# Pinned: each pool's pods, best first for `{k}`.\n"
        ));
    }
    for (i, (node, pool, host, endpoint)) in buildx_nodes(farm, &hosts, via, key)?
        .into_iter()
        .enumerate()
    {
        let opts = [
            ("cacert", id.ca()),
            ("cert", id.cert()),
            ("key", id.key()),
            ("servername", host),
        ]
        .map(|(k, v)| csv(&format!("{k}={v}")))
        .join(",");
        let role = if i == 0 { "--use" } else { "--append" };
        out.push_str(&format!(
            "docker buildx create --name {} {role} --node {} --platform {} --driver remote --driver-opt {} {}\n",
            sh(name),
            sh(&node),
            sh(&pool.arch.platform()),
            sh(&opts),
            sh(&endpoint)
        ));
    }
    if key.is_some() && farm.pools.iter().any(|p| p.autoscale.is_some()) {
        // A bootstrap connects every node, and an autoscaled pool's pods above its current
        // size do not exist.
        out.push_str("# An autoscaled pool's pods above its current size do not exist yet, so there is no\n# bootstrap here: it would fail on them. The CI snippets pick a pod that answers.\n");
    } else {
        out.push_str(BOOTSTRAP_WHY);
        out.push_str(&format!("docker buildx inspect --bootstrap {}\n", sh(name)));
    }
    let platforms: Vec<String> = farm.pools.iter().map(|p| p.arch.platform()).collect();
    out.push_str(&format!(
        "# then: docker buildx build --platform {} .\n",
        platforms.join(",")
    ));
    Ok(out)
}

/// Each buildx node: (node name, pool, host, endpoint). One per pool, or with `key` each pool's
/// pods in the key's rendezvous order.
fn buildx_nodes<'a>(
    farm: &'a Farm,
    hosts: &[String],
    via: Via,
    key: Option<&str>,
) -> anyhow::Result<Vec<(String, &'a Pool, String, String)>> {
    let mut nodes = Vec::new();
    for (i, (pool, host)) in farm.pools.iter().zip(hosts).enumerate() {
        match (key, via) {
            (Some(k), _) => {
                for ordinal in endpoint::preference(k, &farm.pool_object(pool), pool.ordinals()) {
                    let host = pod_host(farm, pool, ordinal, via)?;
                    let endpoint = endpoint_of(farm, pool, via, &host);
                    nodes.push((format!("{}-{ordinal}", pool.name), pool, host, endpoint));
                }
            }
            (None, Via::PortForward) => {
                let endpoint = names::endpoint("127.0.0.1", local_port(farm, i));
                nodes.push((pool.name.clone(), pool, host.clone(), endpoint));
            }
            (None, _) => {
                let endpoint = endpoint_of(farm, pool, via, host);
                nodes.push((pool.name.clone(), pool, host.clone(), endpoint));
            }
        }
    }
    Ok(nodes)
}

/// `buildx create` never contacts the daemons: without a bootstrap, a wrong certificate or
/// server name shows only at the first build, as a bare `context deadline exceeded`.
/// `--bootstrap`: https://docs.docker.com/reference/cli/docker/buildx/inspect/
const BOOTSTRAP_WHY: &str =
    "# Connect now, so a TLS or name problem fails here and not in the first build:\n";

/// 10000 + port + i, wrapped into the unprivileged range when that passes 65535 (a farm on a
/// high port).
fn local_port(farm: &Farm, i: usize) -> u16 {
    let wanted = 10_000 + u64::from(farm.port) + i as u64;
    let port = if wanted <= 65_535 {
        wanted
    } else {
        1024 + (wanted - 1024) % (65_536 - 1024)
    };
    u16::try_from(port).expect("wrapped into 1024..=65535")
}

/// `BUILDKIT_HOST` and a `buildctl` shell function carrying the TLS flags, for `eval`. With
/// `key`, the endpoint is the pool's pod that rendezvous hashing picks for it.
pub(crate) fn buildctl(
    farm: &Farm,
    pool: &Pool,
    id: &Identity,
    key: Option<&str>,
    via: JobVia,
) -> anyhow::Result<String> {
    let via = Via::from(via);
    let host = match key {
        Some(k) => {
            let best = endpoint::preference(k, &farm.pool_object(pool), pool.ordinals())[0];
            pod_host(farm, pool, best, via)?
        }
        None => pool_host(farm, pool, via)?,
    };
    // `buildctl --tlsdir` reads ca.crt, tls.crt and tls.key only from the release the table names.
    let tls = if farm.buildkit >= crate::farm::releases::buildkit().feature("tlsdir-names") {
        format!(
            "--tlsdir {} --tlsservername {}",
            sh(&id.dir.display().to_string()),
            sh(&host)
        )
    } else {
        format!(
            "--tlscacert {} --tlscert {} --tlskey {} --tlsservername {}",
            sh(&id.ca()),
            sh(&id.cert()),
            sh(&id.key()),
            sh(&host)
        )
    };
    Ok(format!(
        "export BUILDKIT_HOST={}\nbuildctl() {{ command buildctl {tls} \"$@\"; }}\n",
        sh(&endpoint_of(farm, pool, via, &host))
    ))
}

/// `client endpoint`: the pod for `key` (or every pod, in preference order), by its name in
/// the cluster or outside it.
pub(crate) fn endpoints(
    farm: &Farm,
    pool: &Pool,
    key: &str,
    all: bool,
    via: JobVia,
) -> anyhow::Result<String> {
    let via = Via::from(via);
    let order = endpoint::preference(key, &farm.pool_object(pool), pool.ordinals());
    let take = if all { order.len() } else { order.len().min(1) };
    let mut out = String::new();
    for &i in &order[..take] {
        out.push_str(&endpoint_of(
            farm,
            pool,
            via,
            &pod_host(farm, pool, i, via)?,
        ));
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod local_port_tests {
    #[test]
    fn local_ports_stay_in_range_for_a_farm_on_a_high_port() {
        let farm = |port: u16| {
            let spec = format!("port = {port}\n[[pool]]\narch = \"amd64\"\n");
            let source = crate::diagnostic::Source::new("farm.toml", spec);
            crate::farm::parse(&source, std::path::Path::new(""), None).unwrap()
        };
        assert_eq!(super::local_port(&farm(1234), 0), 11_234);
        assert_eq!(super::local_port(&farm(1234), 2), 11_236);
        let high = super::local_port(&farm(65_000), 3);
        assert!((1024..=65_535).contains(&high), "{high}");
        assert_ne!(
            super::local_port(&farm(65_000), 0),
            super::local_port(&farm(65_000), 1)
        );
    }
}
