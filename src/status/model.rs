//! What `status` works with: the options, the daemons to ask, what they said or why they
//! could not be asked. Every file of `status/` reads these; none of them reads its siblings'
//! mod.rs.

use std::time::Duration;

use super::wire;
use crate::farm::Farm;
use crate::reach::Via;

/// How `status` prints: a table per pool for people, or one JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// What to ask and how to show it.
pub(crate) struct Options {
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
pub(crate) type Progress = fn(usize, usize);

/// One daemon to ask: which pool it serves, its name for people, and where it listens.
#[derive(Debug, Clone)]
pub(crate) struct Target {
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
pub(crate) struct Facts {
    pub version: String,
    pub workers: Vec<Worker>,
    pub usage: Usage,
    pub builds: Vec<Build>,
    /// The daemon certificate's notAfter, seconds since the epoch (from the handshake).
    pub cert_not_after: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Worker {
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
pub(crate) struct Usage {
    pub records: usize,
    pub used: u64,
    pub reclaimable: u64,
    pub in_use: u64,
    pub shared: u64,
}

/// One recorded build.
#[derive(Debug, Clone, Default)]
pub(crate) struct Build {
    pub created: i64,
    pub completed: Option<i64>,
    pub cached_steps: u32,
    pub total_steps: u32,
    pub failed: bool,
}

/// Why a daemon could not be asked.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
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
    pub(crate) fn may_be_absent(&self, farm: &Farm) -> bool {
        let min = farm.pools[self.pool].autoscale.as_ref().map(|a| a.min);
        matches!((self.ordinal, min), (Some(i), Some(min)) if i >= min)
    }
}

/// A target and what came of asking it.
#[derive(Debug, Clone)]
pub(crate) struct Daemon {
    pub target: Target,
    pub outcome: Result<Facts, Failure>,
    /// With trust domains: each client certificate at hand, and whether the daemon admitted it
    /// (`None`: the try told nothing, e.g. the daemon did not answer).
    pub trust: Vec<(String, Option<bool>)>,
}
