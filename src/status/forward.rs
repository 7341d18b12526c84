//! Asking every daemon at once, each under its own timeout, with a progress line on a terminal;
//! and `--via port-forward`: one `kubectl port-forward` per pod, started here, waited for, and
//! stopped by PID when `status` ends or is interrupted.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};
use tokio::task::JoinSet;

use super::conn::{self, Probes, Tls};
use super::model::{Daemon, Failure, Options, Progress, Target};
use super::targets::targets;
use crate::farm::Farm;
use crate::reach::Via;

/// Every target's answer, in target order. Ctrl-C stops the children and returns
/// `Interrupted`.
pub(super) async fn ask_all(
    farm: &Farm,
    pools: &[usize],
    opts: &Options,
    tls: &[Tls],
    probes: &Probes,
) -> anyhow::Result<Vec<Daemon>> {
    let mut targets = targets(farm, pools, opts)?;
    let mut children = Vec::new();
    if opts.via == Via::PortForward && opts.addrs.is_empty() {
        let pods: Vec<Target> = std::mem::take(&mut targets);
        // Interrupted while starting: the dropped future drops its children, which kills them.
        let started = tokio::select! {
            started = start_forwards(farm, pods, opts.timeout) => Some(started?),
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(started) = started else {
            return Err(interrupted(Vec::new()).await);
        };
        (targets, children) = started;
    }
    let asked = tokio::select! {
        daemons = ask(&targets, tls, probes, opts.timeout, opts.progress) => Some(daemons),
        _ = tokio::signal::ctrl_c() => None,
    };
    let Some(asked) = asked else {
        return Err(interrupted(children).await);
    };
    stop(children).await;
    Ok(asked)
}

/// Ctrl-C: the port-forwards go first; the edge then ends the process (130).
async fn interrupted(children: Vec<Forward>) -> anyhow::Error {
    stop(children).await;
    crate::diagnostic::Interrupted.into()
}

/// Queries all `targets` concurrently; a daemon that never answers costs `timeout`, once.
async fn ask(
    targets: &[Target],
    tls: &[Tls],
    probes: &Probes,
    timeout: Duration,
    progress: Option<Progress>,
) -> Vec<Daemon> {
    let mut set = JoinSet::new();
    for (i, target) in targets.iter().enumerate() {
        let (tls, target) = (tls[target.pool].clone(), target.clone());
        let probes = probes.clone();
        set.spawn(async move {
            let outcome = match tokio::time::timeout(timeout, conn::query(&tls, &target)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Failure::Timeout(timeout)),
            };
            // Each client certificate, once the daemon has answered at all.
            let mut trust = Vec::new();
            if outcome.is_ok() {
                for (client, tls) in &probes {
                    let tried = tokio::time::timeout(timeout, conn::admits(tls, &target)).await;
                    trust.push((client.clone(), tried.ok().flatten()));
                }
            }
            (
                i,
                Daemon {
                    target,
                    outcome,
                    trust,
                },
            )
        });
    }
    let total = targets.len();
    let mut done: Vec<Option<Daemon>> = vec![None; total];
    let mut count = 0;
    while let Some(joined) = set.join_next().await {
        if let Ok((i, daemon)) = joined {
            done[i] = Some(daemon);
        }
        count += 1;
        if let Some(show) = progress {
            show(count, total);
        }
    }
    done.into_iter().flatten().collect()
}

/// A `kubectl port-forward` this process started.
pub(super) struct Forward {
    child: Child,
}

/// Starts one port-forward per pod to a free local port, and waits until each forwards (or
/// fails, which makes that pod unreachable). The targets then point at 127.0.0.1, with the
/// pod's DNS name as server name (the daemon certificate covers it).
async fn start_forwards(
    farm: &Farm,
    pods: Vec<Target>,
    timeout: Duration,
) -> anyhow::Result<(Vec<Target>, Vec<Forward>)> {
    // Every local port chosen while the others are still held, so no two pods get one.
    let held: Vec<std::net::TcpListener> = pods
        .iter()
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    let ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()?;
    drop(held);
    // All started at once, then waited for at once.
    let mut targets = Vec::new();
    let mut waiting = JoinSet::new();
    for (pod, local) in pods.into_iter().zip(ports) {
        let mut child = Command::new("kubectl")
            .args(["-n", &farm.namespace, "port-forward"])
            .arg(format!("pod/{}", pod.name))
            .arg(format!("{local}:{}", pod.port))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("cannot run `kubectl port-forward`: {e} (is kubectl on PATH?)")
            })?;
        waiting.spawn(async move {
            let ready = tokio::time::timeout(timeout, forwarding(&mut child)).await;
            (child, matches!(ready, Ok(true)))
        });
        targets.push(Target {
            host: "127.0.0.1".into(),
            port: local,
            ..pod
        });
    }
    let mut children = Vec::new();
    while let Some(joined) = waiting.join_next().await {
        // A child that is not forwarding is stopped; its pod is reported unreachable.
        match joined {
            Ok((child, true)) => children.push(Forward { child }),
            Ok((mut child, false)) => {
                let _ = child.kill().await;
            }
            Err(_) => {}
        }
    }
    Ok((targets, children))
}

/// Whether kubectl says it forwards (`Forwarding from 127.0.0.1:PORT -> PORT`) before it exits.
async fn forwarding(child: &mut Child) -> bool {
    let Some(stdout) = child.stdout.take() else {
        return false;
    };
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.starts_with("Forwarding from") {
            // Keep reading (and dropping) its output, so kubectl never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return true;
        }
    }
    false
}

/// Stops every port-forward started here, by its PID, and reaps it.
async fn stop(children: Vec<Forward>) {
    for mut f in children {
        let _ = f.child.kill().await;
    }
}
