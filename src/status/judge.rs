//! The live farm judged against the spec: each finding a `Diagnostic` with its rule, as lint
//! reports them, naming the daemon it is about.

use crate::diagnostic::Diagnostic;
use crate::farm::size::human_bytes;
use crate::farm::version::Version;
use crate::farm::{Farm, Pool};
use crate::rule::Rule;

use super::model::{Daemon, Facts, Failure};
use super::wire;

/// A cache this far over its GC cap means GC is not keeping up (BuildKit collects after builds,
/// so a little over the cap between collections is normal).
pub(super) const GC_MARGIN_PERCENT: u64 = 10;
/// A cache at this share of its volume is about to fill it.
pub(super) const DISK_FULL_PERCENT: u64 = 90;
/// A daemon certificate with fewer days left than this is about to stop every client.
pub(super) const CERT_DAYS: i64 = 30;
/// Below this share of cached steps (over at least `MIN_BUILDS` builds), the warm cache is not
/// being found.
pub(super) const CACHE_HIT_PERCENT: u64 = 30;
pub(super) const MIN_BUILDS: usize = 5;
/// A daemon with more than 3/2 of its pool's mean of builds takes too much of the load (with
/// two daemons: more than 75% of the builds).
pub(super) const SPREAD_NUMERATOR: usize = 3;
pub(super) const SPREAD_DENOMINATOR: usize = 2;
/// Spread is judged from this many builds in a pool.
pub(super) const SPREAD_MIN_BUILDS: usize = 10;

/// A finding and what it is about: a daemon's name, or `pool NAME`.
pub(super) struct Finding {
    pub about: String,
    pub diagnostic: Diagnostic,
}

pub(super) fn judge(farm: &Farm, daemons: &[Daemon], now: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    // Each pool's rendered GC policies, rendered once however many daemons it has.
    let rendered: Vec<Option<Vec<toml::Table>>> =
        farm.pools.iter().map(|p| rendered_gc(farm, p)).collect();
    for d in daemons {
        let pool = &farm.pools[d.target.pool];
        let name = &d.target.name;
        match &d.outcome {
            // An autoscaled pool's pod above `min` that is not there: the autoscaler's choice.
            Err(Failure::Unreachable(_) | Failure::Timeout(_)) if d.target.may_be_absent(farm) => {}
            Err(failure) => out.push(failed(name, &d.target.servername, failure)),
            Ok(facts) => {
                let expected = rendered[d.target.pool].as_deref();
                judge_daemon(farm, pool, expected, name, facts, now, &mut out);
            }
        }
    }
    spread(farm, daemons, &mut out);
    for d in daemons {
        trust(farm, d, &mut out);
    }
    out
}

/// With trust domains: each client certificate tried on the daemon, against its pool's
/// `pools`: one it admits and must refuse is the cache shared across domains.
fn trust(farm: &Farm, d: &Daemon, out: &mut Vec<Finding>) {
    let pool = &farm.pools[d.target.pool];
    for (client, admitted) in &d.trust {
        let allowed = farm.tls.admits(client, &pool.name);
        let hint = "the daemon runs another client CA bundle than the rendered one: apply the farm again and roll the pool";
        let message = match (allowed, admitted) {
            (false, Some(true)) => format!(
                "admits client `{client}`, which pool `{}` must refuse: builds of two trust domains share its cache",
                pool.name
            ),
            (true, Some(false)) => format!(
                "refuses client `{client}`, which pool `{}` admits",
                pool.name
            ),
            _ => continue,
        };
        out.push(finding(Rule::StatusTrust, &d.target.name, message, hint));
    }
}

fn finding(rule: Rule, name: &str, message: String, hint: &str) -> Finding {
    let diagnostic = Diagnostic::bare(format!("{name}: {message}"))
        .rule(rule)
        .severity(rule.severity())
        .hint(hint);
    Finding {
        about: name.to_string(),
        diagnostic,
    }
}

fn failed(name: &str, servername: &str, failure: &Failure) -> Finding {
    match failure {
        Failure::Unreachable(why) => finding(
            Rule::StatusUnreachable,
            name,
            format!("cannot connect: {why}"),
            "is the pod running (`kubectl get pods`), and does the NetworkPolicy admit this client?",
        ),
        Failure::Timeout(t) => finding(
            Rule::StatusUnreachable,
            name,
            format!("no answer within {}s", t.as_secs()),
            "a hung or overloaded daemon, or a network that drops the packets; raise `--timeout` to wait longer",
        ),
        Failure::DaemonCertRefused(why) => finding(
            Rule::StatusTls,
            name,
            format!("buildfarm refused the daemon's certificate for `{servername}`: {why}"),
            "`buildfarm certs show` says what the certificates cover; re-render and roll the pods after a change",
        ),
        Failure::ClientCertRefused(alert) => finding(
            Rule::StatusTls,
            name,
            format!("the daemon refused buildfarm's client certificate (TLS alert {alert})"),
            "the client certificate must come from the farm's CA: `buildfarm certs show`, or `--client` to pick another",
        ),
        Failure::Tls(why) => finding(
            Rule::StatusTls,
            name,
            format!("TLS failed: {why}"),
            "check the certificates with `buildfarm lint`",
        ),
        Failure::Rpc(why) => finding(
            Rule::StatusUnreachable,
            name,
            format!("the Control API failed: {why}"),
            "is this a BuildKit daemon on this port? `buildctl debug workers` with the same endpoint says more",
        ),
    }
}

fn judge_daemon(
    farm: &Farm,
    pool: &Pool,
    expected_gc: Option<&[toml::Table]>,
    name: &str,
    facts: &Facts,
    now: i64,
    out: &mut Vec<Finding>,
) {
    match Version::parse(&facts.version) {
        Some(v) if v == farm.buildkit => {}
        _ => out.push(finding(Rule::StatusVersion, name,
            format!("runs BuildKit {}, the spec says {}", or_unknown(&facts.version), farm.buildkit),
            "a rollout in progress (`kubectl rollout status statefulset/...`), or an image changed without a render")),
    }
    let arch = pool.arch.as_str();
    if !facts
        .workers
        .iter()
        .any(|w| w.architectures.iter().any(|a| a == arch))
    {
        let seen: Vec<&str> = facts
            .workers
            .iter()
            .flat_map(|w| w.platforms.iter().map(String::as_str))
            .collect();
        out.push(finding(Rule::StatusPlatform, name,
            format!("builds for {}, not for pool `{}`'s {arch}", or_unknown(&seen.join(", ")), pool.name),
            "the pod landed on a node of another architecture: check the StatefulSet's `kubernetes.io/arch` node selector"));
    }
    let running = facts
        .workers
        .first()
        .map(|w| w.gc.as_slice())
        .unwrap_or_default();
    if let Some(diff) = expected_gc.and_then(|e| gc_difference(e, pool, running)) {
        out.push(finding(Rule::StatusGc, name, diff,
            "a ConfigMap change not rolled out yet (the pods restart when its checksum changes), or keys this BuildKit ignores"));
    }
    disk(pool, name, facts, running, out);
    if let Some(not_after) = facts.cert_not_after {
        let days = (not_after - now).div_euclid(86_400);
        if days < CERT_DAYS {
            out.push(finding(
                Rule::StatusCertExpiring,
                name,
                format!("its certificate expires in {days} days"),
                "`buildfarm certs renew`, apply the new Secret, then restart the pods",
            ));
        }
    }
    cache_hits(name, facts, out);
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() {
        "nothing it reports"
    } else {
        s
    }
}

/// The GC cap the daemon runs: the last policy's (the `all` one BuildKit applies last).
pub(super) fn gc_cap(running: &[wire::GcPolicy]) -> Option<u64> {
    let last = running.last()?;
    let cap = if last.max_used_space > 0 {
        last.max_used_space
    } else {
        last.reserved_space
    };
    u64::try_from(cap).ok().filter(|c| *c > 0)
}

fn disk(
    pool: &Pool,
    name: &str,
    facts: &Facts,
    running: &[wire::GcPolicy],
    out: &mut Vec<Finding>,
) {
    let used = facts.usage.used;
    if let Some(cap) = gc_cap(running)
        && used > cap + cap / 100 * GC_MARGIN_PERCENT
    {
        out.push(finding(Rule::StatusGcBehind, name,
            format!("its cache holds {}, over its GC cap of {} by more than {GC_MARGIN_PERCENT}%", human_bytes(used), human_bytes(cap)),
            "GC runs after builds: look for gc errors in the daemon's log, and compare `buildctl du` with `du -sh` of its state (BuildKit can undercount)"));
    }
    if let Some(volume) = pool.storage.as_ref().map(|s| s.bytes)
        && used > volume / 100 * DISK_FULL_PERCENT
    {
        out.push(finding(Rule::StatusDiskFull, name,
            format!("its cache holds {} of its {} volume", human_bytes(used), human_bytes(volume)),
            "builds fail when the volume fills: lower the GC cap (`[gc] max_used`), or grow the volume"));
    }
}

fn cache_hits(name: &str, facts: &Facts, out: &mut Vec<Finding>) {
    let built: Vec<_> = facts.builds.iter().filter(|b| b.total_steps > 0).collect();
    if built.len() < MIN_BUILDS {
        return;
    }
    let cached: u64 = built.iter().map(|b| u64::from(b.cached_steps)).sum();
    let total: u64 = built.iter().map(|b| u64::from(b.total_steps)).sum();
    if cached * 100 < total * CACHE_HIT_PERCENT {
        out.push(finding(Rule::StatusCacheHits, name,
            format!("{}% of the steps of its last {} builds came from the cache", cached * 100 / total, built.len()),
            "builds that land on a cold daemon: pin projects to their pod (`client gitlab`/`github` do by default), or check the GC cap is not evicting what builds reuse"));
    }
}

/// A pool whose builds pile onto one daemon.
fn spread(farm: &Farm, daemons: &[Daemon], out: &mut Vec<Finding>) {
    for (p, pool) in farm.pools.iter().enumerate() {
        let counts: Vec<(&str, usize)> = daemons
            .iter()
            .filter(|d| d.target.pool == p)
            .filter_map(|d| {
                Some((
                    d.target.name.as_str(),
                    d.outcome.as_ref().ok()?.builds.len(),
                ))
            })
            .collect();
        let total: usize = counts.iter().map(|(_, n)| n).sum();
        if counts.len() < 2 || total < SPREAD_MIN_BUILDS {
            continue;
        }
        if let Some((busiest, n)) = counts.iter().max_by_key(|(_, n)| *n)
            && n * counts.len() * SPREAD_DENOMINATOR > SPREAD_NUMERATOR * total
        {
            out.push(finding(Rule::StatusSpread, &format!("pool {}", pool.name),
                format!("{busiest} ran {n} of the pool's {total} recent builds ({} daemons answered)", counts.len()),
                "pinning sends each project to its own pod, so a few busy projects weigh on theirs; if one project dominates, give it more replicas or its own pool"));
        }
    }
}

/// The GC policies the pool's rendered buildkitd.toml gives (after `[buildkitd]`), if any.
fn rendered_gc(farm: &Farm, pool: &Pool) -> Option<Vec<toml::Table>> {
    let rendered = crate::render::buildkitd_toml(farm, pool);
    let config: toml::Table = toml::from_str(&rendered).ok()?;
    let policies = config
        .get("worker")?
        .get("oci")?
        .get("gcpolicy")?
        .as_array()?;
    policies.iter().map(|p| p.as_table().cloned()).collect()
}

/// How the GC policy the daemon runs differs from the rendered one, if it does.
fn gc_difference(
    expected: &[toml::Table],
    pool: &Pool,
    running: &[wire::GcPolicy],
) -> Option<String> {
    if expected.len() != running.len() {
        return Some(format!(
            "runs {} GC policies, {} are rendered",
            running.len(),
            expected.len()
        ));
    }
    let volume = pool.storage.as_ref().map(|s| s.bytes);
    for (i, (want, got)) in expected.iter().zip(running).enumerate() {
        if let Some(diff) = policy_difference(want, got, volume) {
            return Some(format!("GC policy {}: {diff}", i + 1));
        }
    }
    None
}

fn policy_difference(
    want: &toml::Table,
    got: &wire::GcPolicy,
    volume: Option<u64>,
) -> Option<String> {
    let all = want
        .get("all")
        .and_then(toml::Value::as_bool)
        .unwrap_or(false);
    if all != got.all {
        return Some(format!("`all` is {}, rendered {all}", got.all));
    }
    let mut filters: Vec<&str> = want
        .get("filters")
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    let mut running: Vec<&str> = got.filters.iter().map(String::as_str).collect();
    filters.sort_unstable();
    running.sort_unstable();
    if filters != running {
        return Some(format!(
            "filters are [{}], rendered [{}]",
            running.join(", "),
            filters.join(", ")
        ));
    }
    if let Some(seconds) = want.get("keepDuration").and_then(toml::Value::as_integer)
        && got.keep_duration / 1_000_000_000 != seconds
    {
        return Some(format!(
            "keepDuration is {}s, rendered {seconds}s",
            got.keep_duration / 1_000_000_000
        ));
    }
    // `keepBytes` before v0.17 travels where `reservedSpace` does (field 3).
    let sizes = [
        ("reservedSpace", got.reserved_space),
        ("keepBytes", got.reserved_space),
        ("maxUsedSpace", got.max_used_space),
        ("minFreeSpace", got.min_free_space),
    ];
    for (key, running) in sizes {
        let Some(value) = want.get(key) else { continue };
        let running = u64::try_from(running).unwrap_or(0);
        if !size_matches(value, running, volume) {
            return Some(format!(
                "{key} is {}, rendered {}",
                human_bytes(running),
                describe(value)
            ));
        }
    }
    None
}

/// A rendered size (bytes, or a percentage the daemon resolves against its disk) against the
/// bytes the daemon runs; a size in another form is taken as it is.
fn size_matches(value: &toml::Value, running: u64, volume: Option<u64>) -> bool {
    match value {
        toml::Value::Integer(b) => u64::try_from(*b).is_ok_and(|b| b == running),
        toml::Value::String(s) => match (
            s.strip_suffix('%').and_then(|p| p.parse::<u64>().ok()),
            volume,
        ) {
            // The daemon's disk is the volume, give or take a file system's overhead.
            (Some(p), Some(v)) => (v / 100 * p).abs_diff(running) <= v / 50,
            _ => true,
        },
        _ => true,
    }
}

fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::Integer(b) => human_bytes(u64::try_from(*b).unwrap_or(0)),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::model::Target;

    #[test]
    fn an_autoscaled_pool_may_lack_pods_above_its_min() {
        let spec = "[metrics]\nport = 6060\n[[pool]]\narch = \"amd64\"\n[pool.autoscale]\nmin = 2\nmax = 5\nbuilds_per_pod = 1\nserver_address = \"http://p:9090\"\n";
        let farm = crate::farm::parse_str(spec).unwrap();
        let daemon = |ordinal: u32| Daemon {
            target: Target {
                pool: 0,
                ordinal: Some(ordinal),
                name: format!("buildkitd-amd64-{ordinal}"),
                host: "h".into(),
                port: 1234,
                servername: "h".into(),
            },
            outcome: Err(Failure::Unreachable("failed to lookup address".into())),
            trust: Vec::new(),
        };
        let daemons: Vec<Daemon> = (0..5).map(daemon).collect();
        let about: Vec<String> = judge(&farm, &daemons, 0)
            .into_iter()
            .map(|f| f.about)
            .collect();
        // Pods 0 and 1 must be there; 2 to 4 are the autoscaler's to add.
        assert_eq!(about, ["buildkitd-amd64-0", "buildkitd-amd64-1"]);
        // A refused TLS handshake is never the autoscaler's doing.
        let mut refused = daemon(4);
        refused.outcome = Err(Failure::ClientCertRefused("UnknownCA".into()));
        assert_eq!(judge(&farm, &[refused], 0).len(), 1);
    }
}
