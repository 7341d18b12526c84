//! `buildfarm status`: the live farm through BuildKit's own API, over the same mTLS connection CI
//! uses (no pods/exec rights), judged against the spec with the rules lint uses.
//!
//! Every daemon is asked at once, each under its own timeout, on a single-threaded runtime that
//! exists only while `status` runs: no other command starts it.

mod conn;
mod forward;
mod judge;
mod output;
pub mod wire;

use std::process::ExitCode;
use std::time::Duration;

use crate::client::Identity;
use crate::diagnostic::Severity;
use crate::farm::Farm;

pub use conn::Tls;
pub use output::Format;

use crate::reach;
pub use crate::reach::Via;

/// What to ask and how to show it.
pub struct Options {
    pub pool: Option<String>,
    pub via: Via,
    /// Explicit endpoints (`tcp://host:port` or `host:port`), judged as daemons of `pool`.
    pub addrs: Vec<String>,
    pub servername: Option<String>,
    pub timeout: Duration,
    pub format: Format,
    /// Shown each time a daemon answers or gives up, if the edge wants a progress line (a
    /// terminal and no `--quiet`): the edge draws it.
    pub progress: Option<Progress>,
}

/// `(answered or gave up, of how many)`.
pub type Progress = fn(usize, usize);

/// One daemon to ask: which pool it serves, its name for people, and where it listens.
#[derive(Debug, Clone)]
pub struct Target {
    pub pool: usize,
    /// The pod's ordinal, when the target is one pod of the pool.
    pub ordinal: Option<u32>,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub servername: String,
}

/// What a daemon said.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub version: String,
    pub workers: Vec<Worker>,
    pub usage: Usage,
    pub builds: Vec<Build>,
    /// The daemon certificate's notAfter, seconds since the epoch (from the handshake).
    pub cert_not_after: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct Worker {
    pub id: String,
    /// `linux/arm64`, `linux/arm/v7`.
    pub platforms: Vec<String>,
    /// The architectures alone, as Kubernetes names them (`amd64`, `arm64`).
    pub architectures: Vec<String>,
    /// The GC policies the daemon runs.
    pub gc: Vec<wire::GcPolicy>,
}

/// The cache, as `buildctl du` totals it (bytes).
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub records: usize,
    pub used: u64,
    pub reclaimable: u64,
    pub in_use: u64,
    pub shared: u64,
}

/// One recorded build.
#[derive(Debug, Clone, Default)]
pub struct Build {
    pub created: i64,
    pub completed: Option<i64>,
    pub cached_steps: u32,
    pub total_steps: u32,
    pub failed: bool,
}

/// Why a daemon could not be asked.
#[derive(Debug, Clone)]
pub enum Failure {
    Unreachable(String),
    Timeout(Duration),
    /// buildfarm refused the daemon's certificate.
    DaemonCertRefused(String),
    /// The daemon refused buildfarm's client certificate (the alert it sent).
    ClientCertRefused(String),
    Tls(String),
    Rpc(String),
}

impl Target {
    /// Whether this pod may not exist: an autoscaled pool's ordinal at or above its `min`.
    pub fn may_be_absent(&self, farm: &Farm) -> bool {
        let min = farm.pools[self.pool].autoscale.as_ref().map(|a| a.min);
        matches!((self.ordinal, min), (Some(i), Some(min)) if i >= min)
    }
}

/// A target and what came of asking it.
#[derive(Debug, Clone)]
pub struct Daemon {
    pub target: Target,
    pub outcome: Result<Facts, Failure>,
}

/// `buildfarm status`: ask and judge; what to print and the exit code: 0 healthy, 1 with an
/// error finding, 2 when no daemon could be asked.
pub fn status(farm: &Farm, id: &Identity, opts: &Options) -> anyhow::Result<(String, ExitCode)> {
    let pools = selected_pools(farm, opts.pool.as_deref())?;
    let tls = Tls::load(&id.dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let daemons = runtime.block_on(forward::ask_all(farm, &pools, opts, &tls))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let findings = judge::judge(farm, &daemons, now);
    let text = output::render(farm, &daemons, &findings, now, opts.format);
    let reachable = daemons.iter().any(|d| d.outcome.is_ok());
    let code = match () {
        _ if !reachable => ExitCode::from(2),
        _ if findings
            .iter()
            .any(|f| f.diagnostic.severity == Severity::Error) =>
        {
            ExitCode::from(1)
        }
        _ => ExitCode::SUCCESS,
    };
    Ok((text, code))
}

/// The pools to ask: `--pool`, else all of them.
fn selected_pools(farm: &Farm, pool: Option<&str>) -> anyhow::Result<Vec<usize>> {
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
fn targets(farm: &Farm, pools: &[usize], opts: &Options) -> anyhow::Result<Vec<Target>> {
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
    use super::*;
    use crate::diagnostic::Source;

    fn farm(spec: &str) -> Farm {
        crate::farm::parse(
            &Source::new("farm.toml", spec),
            std::path::Path::new(""),
            None,
        )
        .unwrap()
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
