//! Which daemons `status` asks: the selected pools' pods, Services or external names (as
//! `reach` resolves them), or the addresses given with `--addr`.

use super::model::{Options, Target};
use crate::farm::Farm;
use crate::reach::{self, Via};

/// The pools to ask: `--pool`, else all of them.
pub(super) fn selected_pools(farm: &Farm, pool: Option<&str>) -> anyhow::Result<Vec<usize>> {
    match pool {
        None => Ok((0..farm.pools.len()).collect()),
        Some(_) => {
            let chosen = crate::client::pool(farm, pool)?;
            Ok(vec![
                farm.pools
                    .iter()
                    .position(|p| p.name == chosen.name)
                    .unwrap_or(0),
            ])
        }
    }
}

/// The daemons to ask `via` this way (not port-forward, which starts its own).
pub(super) fn targets(farm: &Farm, pools: &[usize], opts: &Options) -> anyhow::Result<Vec<Target>> {
    if !opts.addrs.is_empty() {
        return opts
            .addrs
            .iter()
            .map(|a| addr_target(a, pools[0], opts))
            .collect();
    }
    let mut out = Vec::new();
    for &p in pools {
        let pool = &farm.pools[p];
        let port = reach::port(farm, pool, opts.via);
        match opts.via {
            Via::Service => out.push(target(
                p,
                None,
                farm.pool_object(pool),
                reach::pool_host(farm, pool, Via::Service)?,
                port,
            )),
            Via::Pods | Via::PortForward => {
                // An autoscaled pool's pods may be any of its ordinals.
                for i in 0..pool.ordinals() {
                    let host = reach::pod_host(farm, pool, i, Via::Pods)?;
                    out.push(target(p, Some(i), farm.pod_object(pool, i), host, port));
                }
            }
            // Every daemon by its own name where each has one, else the pool by its name.
            Via::External => {
                match reach::pod_external_hosts(farm, pool) {
                    Some(hosts) if !hosts.is_empty() => {
                        out.extend(hosts.into_iter().zip(0..).map(|(host, i)| {
                            target(p, Some(i), farm.pod_object(pool, i), host, port)
                        }));
                    }
                    _ => {
                        let host = reach::external_host(farm, pool)?;
                        out.push(target(p, None, farm.pool_object(pool), host, port));
                    }
                }
            }
        }
    }
    Ok(out)
}

fn target(pool: usize, ordinal: Option<u32>, name: String, host: String, port: u16) -> Target {
    Target {
        pool,
        ordinal,
        name,
        servername: host.clone(),
        host,
        port,
    }
}

/// `--addr tcp://host:port` (or `host:port`), named by what was given.
fn addr_target(addr: &str, pool: usize, opts: &Options) -> anyhow::Result<Target> {
    let bare = addr.strip_prefix("tcp://").unwrap_or(addr);
    let (host, port) = bare
        .rsplit_once(':')
        .and_then(|(h, p)| {
            Some((
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse::<u16>().ok()?,
            ))
        })
        .filter(|(h, _)| !h.is_empty())
        .ok_or_else(|| anyhow::anyhow!("`--addr {addr}` is not `tcp://HOST:PORT`"))?;
    Ok(Target {
        pool,
        ordinal: None,
        name: addr.to_string(),
        host: host.to_string(),
        port,
        servername: opts.servername.clone().unwrap_or_else(|| host.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::status::model::Format;

    fn farm(spec: &str) -> Farm {
        crate::farm::parse_str(spec).unwrap()
    }

    fn options(via: Via, addrs: &[&str]) -> Options {
        Options {
            pool: None,
            via,
            addrs: addrs.iter().map(|a| a.to_string()).collect(),
            servername: None,
            timeout: Duration::from_secs(5),
            format: Format::Json,
            progress: None,
        }
    }

    fn hosts(targets: &[Target]) -> Vec<String> {
        targets
            .iter()
            .map(|t| format!("{} {}:{} {}", t.name, t.host, t.port, t.servername))
            .collect()
    }

    #[test]
    fn each_way_names_its_daemons() {
        let f = farm(
            "name = \"b\"\nnamespace = \"ci\"\n[[pool]]\narch = \"amd64\"\nreplicas = 2\n[[pool]]\narch = \"arm64\"\nreplicas = 1\n",
        );
        let pods = targets(&f, &[0, 1], &options(Via::Pods, &[])).unwrap();
        assert_eq!(
            hosts(&pods),
            [
                "b-amd64-0 b-amd64-0.b-amd64-headless.ci.svc:1234 b-amd64-0.b-amd64-headless.ci.svc",
                "b-amd64-1 b-amd64-1.b-amd64-headless.ci.svc:1234 b-amd64-1.b-amd64-headless.ci.svc",
                "b-arm64-0 b-arm64-0.b-arm64-headless.ci.svc:1234 b-arm64-0.b-arm64-headless.ci.svc",
            ]
        );
        assert_eq!(pods.iter().map(|t| t.pool).collect::<Vec<_>>(), [0, 0, 1]);
        let services = targets(&f, &[1], &options(Via::Service, &[])).unwrap();
        assert_eq!(
            hosts(&services),
            ["b-arm64 b-arm64.ci.svc:1234 b-arm64.ci.svc"]
        );
        // Explicit endpoints, with and without the scheme, IPv6 in brackets.
        let mut o = options(Via::Pods, &["tcp://10.0.0.1:1234", "[2001:db8::1]:443"]);
        let addrs = targets(&f, &[1], &o).unwrap();
        assert_eq!(
            hosts(&addrs),
            [
                "tcp://10.0.0.1:1234 10.0.0.1:1234 10.0.0.1",
                "[2001:db8::1]:443 2001:db8::1:443 2001:db8::1"
            ]
        );
        assert!(addrs.iter().all(|t| t.pool == 1));
        o.servername = Some("b-arm64.example.com".into());
        assert!(
            targets(&f, &[1], &o)
                .unwrap()
                .iter()
                .all(|t| t.servername == "b-arm64.example.com")
        );
        for bad in ["10.0.0.1", "tcp://:1234", "host:port"] {
            assert!(
                targets(&f, &[0], &options(Via::Pods, &[bad])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn from_outside_every_daemon_by_its_own_name_else_the_pool() {
        let f = farm(
            "name = \"b\"\n[expose]\ntype = \"gateway\"\ndomain = \"x.example.com\"\ngateway = { name = \"g\", port = 8443 }\n[[pool]]\narch = \"amd64\"\nreplicas = 2\n[[pool]]\narch = \"arm64\"\n[pool.expose]\ntype = \"loadbalancer\"\nper_pod = false\nsource_ranges = [\"203.0.113.0/24\"]\n",
        );
        let t = targets(&f, &[0, 1], &options(Via::External, &[])).unwrap();
        assert_eq!(
            hosts(&t),
            [
                "b-amd64-0 b-amd64-0.x.example.com:8443 b-amd64-0.x.example.com",
                "b-amd64-1 b-amd64-1.x.example.com:8443 b-amd64-1.x.example.com",
                "b-arm64 b-arm64.x.example.com:1234 b-arm64.x.example.com",
            ]
        );
        let inside = farm("[[pool]]\narch = \"amd64\"\n");
        assert!(targets(&inside, &[0], &options(Via::External, &[])).is_err());
    }
}
