//! What `status` prints: a table per pool and the findings for people (colour only on a
//! terminal), or one JSON document with a stable shape (schema `buildfarm.status/v1`, described
//! in the README) for tools.

use std::io::IsTerminal;

use serde_json::{Value, json};

use super::judge::{Finding, gc_cap};
use super::model::{Daemon, Facts, Failure, Format};
use crate::diagnostic::Severity;
use crate::farm::size::human_bytes;
use crate::farm::{Farm, Pool};

/// The version of the JSON document's shape: fields are only ever added under it.
pub(super) const SCHEMA: &str = "buildfarm.status/v1";

pub(super) fn render(
    farm: &Farm,
    daemons: &[Daemon],
    findings: &[Finding],
    now: i64,
    format: Format,
) -> String {
    match format {
        Format::Human => human(farm, daemons, findings, now),
        Format::Json => {
            let doc = document(farm, daemons, findings, now);
            serde_json::to_string_pretty(&doc).expect("JSON values serialize") + "\n"
        }
    }
}

/// A daemon's state: how it was reached, else the worst finding about it.
fn state(farm: &Farm, d: &Daemon, findings: &[Finding]) -> &'static str {
    match &d.outcome {
        Err(Failure::Unreachable(_) | Failure::Timeout(_)) if d.target.may_be_absent(farm) => {
            "absent"
        }
        Err(Failure::Unreachable(_) | Failure::Timeout(_) | Failure::Rpc(_)) => "unreachable",
        Err(_) => "tls-refused",
        Ok(_) => {
            let about = findings.iter().filter(|f| f.about == d.target.name);
            // Severity orders worst first.
            match about.map(|f| f.diagnostic.severity).min() {
                Some(Severity::Error) => "error",
                Some(Severity::Warning) => "warning",
                _ => "ok",
            }
        }
    }
}

/// Cached steps over all steps of the recorded builds, if any had steps.
fn hit_ratio(facts: &Facts) -> Option<f64> {
    let (cached, total) = facts.builds.iter().fold((0u64, 0u64), |(c, t), b| {
        (c + u64::from(b.cached_steps), t + u64::from(b.total_steps))
    });
    (total > 0).then(|| cached as f64 / total as f64)
}

fn cert_days(facts: &Facts, now: i64) -> Option<i64> {
    facts.cert_not_after.map(|t| (t - now).div_euclid(86_400))
}

fn human(farm: &Farm, daemons: &[Daemon], findings: &[Finding], now: i64) -> String {
    let colour = std::io::stdout().is_terminal();
    let mut out = String::new();
    for (p, pool) in farm.pools.iter().enumerate() {
        let rows: Vec<[String; 8]> = daemons
            .iter()
            .filter(|d| d.target.pool == p)
            .map(|d| row(farm, d, findings, now))
            .collect();
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "pool {} ({}, {} daemons)\n",
            pool.name,
            pool.arch.as_str(),
            pool.replicas
        ));
        let header = [
            "POD",
            "VERSION",
            "PLATFORMS",
            "USED / CAP / VOLUME",
            "BUILDS",
            "CACHE HITS",
            "CERT",
            "STATE",
        ]
        .map(String::from);
        let mut widths = [0usize; 8];
        for r in std::iter::once(&header).chain(&rows) {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for r in std::iter::once(&header).chain(&rows) {
            let mut line = String::new();
            for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
                let padded = format!("{cell:<w$}");
                line.push_str(&if colour && i == 7 {
                    paint(&padded)
                } else {
                    padded
                });
                line.push_str(if i == 7 { "" } else { "  " });
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        if farm.tls.domains() {
            out.push_str(&trust_line(
                farm,
                pool,
                daemons.iter().filter(|d| d.target.pool == p),
            ));
        }
        out.push('\n');
    }
    let diagnostics: Vec<_> = findings.iter().map(|f| f.diagnostic.clone()).collect();
    out.push_str(&crate::lint::format::render(
        &diagnostics,
        crate::lint::format::Format::Human,
    ));
    out
}

/// With trust domains: the clients the pool's `pools` admit, and what its daemons did with
/// each client certificate tried.
fn trust_line<'a>(farm: &Farm, pool: &Pool, daemons: impl Iterator<Item = &'a Daemon>) -> String {
    let allowed: Vec<&str> = farm
        .tls
        .clients_of(&pool.name)
        .map(|c| c.name.as_str())
        .collect();
    let (mut admits, mut refuses) = (Vec::new(), Vec::new());
    for d in daemons {
        let (a, r) = trusted(d);
        admits.extend(a);
        refuses.extend(r);
    }
    for list in [&mut admits, &mut refuses] {
        list.sort_unstable();
        list.dedup();
    }
    let none = |l: &[&str]| {
        if l.is_empty() {
            "none".to_string()
        } else {
            l.join(", ")
        }
    };
    format!(
        "trust: the spec admits {}; the daemons admitted {}, refused {}\n",
        none(&allowed),
        none(&admits),
        none(&refuses)
    )
}

fn paint(cell: &str) -> String {
    let code = match cell.trim_end() {
        "ok" => "32",
        "warning" => "33",
        _ => "31",
    };
    format!("\x1b[{code}m{cell}\x1b[0m")
}

fn row(farm: &Farm, d: &Daemon, findings: &[Finding], now: i64) -> [String; 8] {
    let volume = farm.pools[d.target.pool].storage.as_ref().map(|s| s.bytes);
    let dash = || "-".to_string();
    let state = state(farm, d, findings).to_string();
    let Ok(facts) = &d.outcome else {
        return [
            d.target.name.clone(),
            dash(),
            dash(),
            dash(),
            dash(),
            dash(),
            dash(),
            state,
        ];
    };
    let running = facts
        .workers
        .first()
        .map(|w| w.gc.as_slice())
        .unwrap_or_default();
    let size = |b: Option<u64>| b.map_or_else(dash, human_bytes);
    let platforms: Vec<&str> = facts
        .workers
        .iter()
        .flat_map(|w| w.platforms.iter().map(String::as_str))
        .collect();
    [
        d.target.name.clone(),
        facts.version.clone(),
        platforms.join(","),
        format!(
            "{} / {} / {}",
            human_bytes(facts.usage.used),
            size(gc_cap(running)),
            size(volume)
        ),
        facts.builds.len().to_string(),
        hit_ratio(facts).map_or_else(dash, |r| format!("{:.0}%", r * 100.0)),
        cert_days(facts, now).map_or_else(dash, |d| format!("{d}d")),
        state,
    ]
}

/// The JSON document: every pool asked, each daemon with what it said, then the findings.
fn document(farm: &Farm, daemons: &[Daemon], findings: &[Finding], now: i64) -> Value {
    let pools: Vec<Value> = farm
        .pools
        .iter()
        .enumerate()
        .filter(|(p, _)| daemons.iter().any(|d| d.target.pool == *p))
        .map(|(p, pool)| {
            let list: Vec<Value> = daemons
                .iter()
                .filter(|d| d.target.pool == p)
                .map(|d| daemon_json(farm, d, findings, now))
                .collect();
            json!({ "name": pool.name, "arch": pool.arch.as_str(), "replicas": pool.replicas, "daemons": list })
        })
        .collect();
    let count = |s: Severity| {
        findings
            .iter()
            .filter(|f| f.diagnostic.severity == s)
            .count()
    };
    let list: Vec<Value> = findings
        .iter()
        .map(|f| {
            let d = &f.diagnostic;
            json!({ "severity": d.severity.as_str(), "rule": d.rule.name(), "about": f.about, "message": d.message, "hint": d.hint })
        })
        .collect();
    json!({
        "schema": SCHEMA,
        "farm": farm.name,
        "namespace": farm.namespace,
        "buildkit": farm.buildkit.to_string(),
        "checked_at": now,
        "pools": pools,
        "findings": list,
        "summary": {
            "daemons": daemons.len(),
            "reachable": daemons.iter().filter(|d| d.outcome.is_ok()).count(),
            "errors": count(Severity::Error),
            "warnings": count(Severity::Warning),
            "notes": count(Severity::Note),
        },
    })
}

fn daemon_json(farm: &Farm, d: &Daemon, findings: &[Finding], now: i64) -> Value {
    let volume = farm.pools[d.target.pool].storage.as_ref().map(|s| s.bytes);
    let t = &d.target;
    let mut v = json!({
        "name": t.name,
        "endpoint": format!("tcp://{}:{}", t.host, t.port),
        "servername": t.servername,
        "state": state(farm, d, findings),
    });
    match &d.outcome {
        Err(f) => v["error"] = json!(format!("{f:?}")),
        Ok(facts) => {
            let running = facts
                .workers
                .first()
                .map(|w| w.gc.as_slice())
                .unwrap_or_default();
            let completed: Vec<i64> = facts.builds.iter().filter_map(|b| b.completed).collect();
            // Wall-clock seconds from creation to completion, of the builds that completed.
            let durations: Vec<i64> = facts
                .builds
                .iter()
                .filter_map(|b| Some(b.completed? - b.created))
                .collect();
            let mean_duration = (!durations.is_empty())
                .then(|| durations.iter().sum::<i64>() as f64 / durations.len() as f64);
            v["buildkit_version"] = json!(facts.version);
            v["workers"] = json!(
                facts
                    .workers
                    .iter()
                    .map(|w| w.id.as_str())
                    .collect::<Vec<_>>()
            );
            v["platforms"] = json!(
                facts
                    .workers
                    .iter()
                    .flat_map(|w| w.platforms.clone())
                    .collect::<Vec<_>>()
            );
            v["disk"] = json!({
                "records": facts.usage.records,
                "used_bytes": facts.usage.used,
                "reclaimable_bytes": facts.usage.reclaimable,
                "in_use_bytes": facts.usage.in_use,
                "shared_bytes": facts.usage.shared,
                "gc_cap_bytes": gc_cap(running),
                "volume_bytes": volume,
            });
            v["builds"] = json!({
                "count": facts.builds.len(),
                "failed": facts.builds.iter().filter(|b| b.failed).count(),
                "cached_steps": facts.builds.iter().map(|b| u64::from(b.cached_steps)).sum::<u64>(),
                "total_steps": facts.builds.iter().map(|b| u64::from(b.total_steps)).sum::<u64>(),
                "cache_hit_ratio": hit_ratio(facts),
                "last_completed_at": completed.iter().max(),
                "mean_duration_seconds": mean_duration,
            });
            v["cert_days_left"] = json!(cert_days(facts, now));
        }
    }
    if farm.tls.domains() {
        let (admits, refuses) = trusted(d);
        v["trust"] = json!({ "admits": admits, "refuses": refuses });
    }
    v
}

/// With trust domains, the clients a daemon admitted and refused when tried.
fn trusted(d: &Daemon) -> (Vec<&str>, Vec<&str>) {
    let with = |want: bool| {
        d.trust
            .iter()
            .filter(|(_, a)| *a == Some(want))
            .map(|(c, _)| c.as_str())
            .collect()
    };
    (with(true), with(false))
}
