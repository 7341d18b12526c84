//! Autoscaled pools: what the signal needs to work, and what scale-to-zero costs.

use crate::diagnostic::Diagnostic;
use crate::farm::releases;
use crate::farm::{Autoscale, Farm, Pool, Signal};
use crate::rule::Rule;

pub fn check(farm: &Farm, i: usize, pool: &Pool, a: &Autoscale, out: &mut Vec<Diagnostic>) {
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
        let message = format!(
            "pool `{}` scales to zero: the first build after an idle spell waits for a daemon to start (image pull, volume attach, readiness); its cache volume is kept",
            pool.name
        );
        let hint = "worth it for pools idle for hours; `min = 1` keeps one warm daemon";
        out.push(
            farm.finding(Rule::AutoscaleZero, &at("min"), message)
                .hint(hint),
        );
    }
}
