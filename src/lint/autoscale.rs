//! Autoscaled pools: what the signal needs to work, and why a pool cannot scale to zero.

use crate::diagnostic::Diagnostic;
use crate::farm::releases;
use crate::farm::{Autoscale, Farm, Pool, Signal};
use crate::rule::Rule;

pub(super) fn check(farm: &Farm, i: usize, pool: &Pool, a: &Autoscale, out: &mut Vec<Diagnostic>) {
    let at = |key: &str| format!("pool.{i}.autoscale.{key}");
    match &a.signal {
        Signal::Builds { query, .. } => {
            let since = releases::buildkit().feature("build-metrics");
            if farm.metrics_port.is_none() {
                let message = format!(
                    "pool `{}` scales on BuildKit's build metrics, and no daemon serves them: KEDA's query finds nothing and the pool stays at {}",
                    pool.name, a.min
                );
                let hint = "add `[metrics] port = 6060` (and `service_monitor = true` or `pod_monitor = true` so Prometheus scrapes it)";
                out.push(
                    farm.finding(Rule::AutoscaleNoMetrics, &at("builds_per_pod"), message)
                        .hint(hint),
                );
            } else if farm.buildkit < since && query.is_none() {
                let message = format!(
                    "BuildKit {} exports no build metrics (they came in {since}): KEDA's query finds nothing and pool `{}` stays at {}",
                    farm.buildkit, pool.name, a.min
                );
                let hint = format!("run BuildKit {since} or later, or give your own `query`");
                out.push(
                    farm.finding(Rule::AutoscaleNoMetrics, &at("builds_per_pod"), message)
                        .hint(hint),
                );
            }
        }
        Signal::Cpu { percent } => {
            let written = farm
                .spans
                .value(&format!("pool.{i}.resources.requests.cpu"))
                .is_some()
                || farm
                    .spans
                    .value(&format!("pool.{i}.resources.limits.cpu"))
                    .is_some();
            if !written {
                let request = pool.requests.get("cpu").map_or("none", String::as_str);
                let message = format!(
                    "pool `{}` scales at {percent}% of its CPU request, and that request is buildfarm's default ({request}), not a size you chose",
                    pool.name
                );
                let hint =
                    "set the CPU a build needs: `resources = { requests = { cpu = \"4\" } }`";
                out.push(
                    farm.finding(Rule::AutoscaleCpuRequest, &at("cpu"), message)
                        .hint(hint),
                );
            }
        }
    }
    if a.min == 0 {
        // `cpu` refuses min = 0 when the spec is read (an HPA cannot reach zero); this is the
        // build-metrics signal, which KEDA would take to zero and never bring back.
        let message = format!(
            "pool `{}` would scale to zero and never wake: with no daemon no build runs, BuildKit's build metrics stay at 0, and KEDA never starts the first daemon again; clients fail while it waits",
            pool.name
        );
        let hint = "set `min = 1`: one warm daemon takes the first build and the metrics that grow the pool";
        out.push(
            farm.finding(Rule::AutoscaleZero, &at("min"), message)
                .hint(hint),
        );
    }
}
