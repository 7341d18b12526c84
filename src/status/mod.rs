//! `buildfarm status`: the live farm through BuildKit's own API, over the same mTLS connection CI
//! uses (no pods/exec rights), judged against the spec with the rules lint uses.
//!
//! Every daemon is asked at once, each under its own timeout, on a single-threaded runtime that
//! exists only while `status` runs: no other command starts it. This file declares the rooms
//! and runs them in order; what they share lives in `model.rs`.

mod conn;
mod forward;
mod judge;
mod model;
mod output;
mod targets;
pub mod wire;

use std::process::ExitCode;

use crate::client::Identity;
use crate::diagnostic::Severity;
use crate::farm::Farm;

pub(crate) use conn::Tls;
pub(crate) use model::{Format, Options};

/// `buildfarm status`: ask and judge; what to print and the exit code: 0 healthy, 1 with an
/// error finding, 2 when no daemon could be asked.
pub(crate) fn status(
    farm: &Farm,
    id: &Identity,
    opts: &Options,
) -> anyhow::Result<(String, ExitCode)> {
    let pools = targets::selected_pools(farm, opts.pool.as_deref())?;
    let (tls, probes) = certificates(farm, id)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let daemons = runtime.block_on(forward::ask_all(farm, &pools, opts, &tls, &probes))?;
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

/// The client certificate each pool is asked with, by pool index: `id`'s; with trust domains,
/// for a pool outside its `pools`, the first client folder at hand that the pool admits. And
/// with trust domains, every client folder at hand, to try each daemon with.
fn certificates(farm: &Farm, id: &Identity) -> anyhow::Result<(Vec<Tls>, conn::Probes)> {
    let own = Tls::load(&id.dir)?;
    if !farm.tls.domains() {
        return Ok((vec![own; farm.pools.len()], Vec::new()));
    }
    let at_hand: conn::Probes = farm
        .tls
        .clients
        .iter()
        .filter_map(|c| {
            Some((
                c.name.clone(),
                Tls::load(&farm.tls.dir.join("client").join(&c.name)).ok()?,
            ))
        })
        .collect();
    let mine = farm.tls.clients.iter().find(|c| c.name == id.name);
    let per_pool = farm
        .pools
        .iter()
        .map(|p| {
            if mine.is_some_and(|c| c.reaches(&p.name)) {
                return own.clone();
            }
            farm.tls
                .clients_of(&p.name)
                .find_map(|c| at_hand.iter().find(|(n, _)| *n == c.name))
                .map_or_else(|| own.clone(), |(_, tls)| tls.clone())
        })
        .collect();
    Ok((per_pool, at_hand))
}
