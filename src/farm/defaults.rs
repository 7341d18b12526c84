//! Every default, and the one order they layer in:
//! built-in (here) < profile (`profiles/<mode>.toml`) < farm.toml < command-line flags.

/// The farm used when there is no farm.toml: rootless, amd64 + arm64, 2 replicas each,
/// a persistent cache. It is also `examples/default.toml`, rendered and checked by the tests.
use super::model::PodManagementPolicy;
use crate::profile::Mode;

pub(crate) const BUILT_IN_FARM: &str = include_str!("../../examples/default.toml");

pub(crate) const NAME: &str = "buildkitd";
pub(crate) const NAMESPACE: &str = "buildkit";
pub(crate) const MODE: Mode = Mode::Rootless;
// The default `kubernetes` target is not here: it is the oldest minor still supported upstream
// on the Kubernetes table's date (`releases::kubernetes().default_target()`).
pub(crate) const PORT: u16 = 1234;
pub(crate) const CLUSTER_DOMAIN: &str = "cluster.local";
/// Long enough for most builds to finish during a rollout; SIGTERM aborts running builds.
pub(crate) const DRAIN_SECONDS: u32 = 1800;
pub(crate) const REPLICAS: u32 = 2;
/// Requests of a daemon whose pool sets neither request nor limit for them.
pub(crate) const REQUESTS: [(&str, &str); 2] = [("cpu", "1"), ("memory", "2Gi")];
pub(crate) const POD_MANAGEMENT_POLICY: PodManagementPolicy = PodManagementPolicy::Parallel;

pub(crate) const PROBE_TIMEOUT_SECONDS: u32 = 10;
pub(crate) const READINESS_PERIOD_SECONDS: u32 = 10;
pub(crate) const LIVENESS_PERIOD_SECONDS: u32 = 60;
pub(crate) const LIVENESS_FAILURE_THRESHOLD: u32 = 5;
pub(crate) const STARTUP_SECONDS: u32 = 300;

/// Where the daemon certificate, key and CA are mounted.
pub(crate) const CERTS_DIR: &str = "/certs";
/// With trust domains: where a pool's daemons find the CAs of the clients it admits.
pub(crate) const CLIENT_CAS_DIR: &str = "/client-cas";

pub(crate) const TLS_DIR: &str = "certs";
pub(crate) const SERVER_DAYS: u32 = 365;
pub(crate) const CLIENT_DAYS: u32 = 365;
pub(crate) const CA_DAYS: u32 = 3650;
pub(crate) const CLIENT: &str = "default";

pub(crate) const HISTORY_MAX_AGE_SECONDS: u64 = 48 * 3600;
pub(crate) const HISTORY_MAX_ENTRIES: u32 = 50;

/// Build contexts, cache mounts and git checkouts unused this long are the first to go
/// (BuildKit's own default).
pub(crate) const GC_KEEP_DURATION_SECONDS: u64 = 48 * 3600;
/// Anything unused this long goes once the cache is over its floor (BuildKit's default: 60 days).
pub(crate) const GC_STALE_SECONDS: u64 = 60 * 24 * 3600;
/// Size the easily reproduced data may take before the first policy prunes it (BuildKit's default).
pub(crate) const GC_TRANSIENT_BYTES: u64 = 512 * 1024 * 1024;

/// GC derived from a pool's volume when `[gc]` is absent, in percent of the volume:
/// the cache may fill 75% (room for the snapshot being written and the overlay upper dirs),
/// 10% is always kept (so a sweep never empties a warm cache), and GC starts freeing space
/// when less than 15% is free.
pub(crate) const GC_MAX_USED_PERCENT: u64 = 75;
pub(crate) const GC_RESERVED_PERCENT: u64 = 10;
pub(crate) const GC_MIN_FREE_PERCENT: u64 = 15;
