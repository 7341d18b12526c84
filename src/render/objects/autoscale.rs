//! An autoscaled pool's autoscaler: a HorizontalPodAutoscaler on CPU, or a KEDA ScaledObject on
//! BuildKit's build metrics; both with a scale-down that cannot hurt a build and a fast
//! scale-up.

use serde::Serialize;

use super::basic::Labels;
use crate::farm::{Autoscale, Farm, Pool, Signal};
use crate::render::kind::Kind;
use crate::render::meta::ObjectSpec;

/// The autoscaling/v2 API's longest policy period.
const MAX_PERIOD_SECONDS: u32 = 1800;

/// `templates/horizontalpodautoscaler.yaml.j2` and `scaledobject.yaml.j2`.
#[derive(Serialize)]
struct Autoscaler<'a> {
    name: &'a str,
    namespace: &'a str,
    labels: &'a Labels,
    min: u32,
    max: u32,
    /// The scale-down stabilisation window.
    scale_down_seconds: u32,
    /// One daemon may go per period: its drain (the grace period) fits in it.
    scale_down_period: u32,
    /// The HorizontalPodAutoscaler's CPU target, in percent of the request.
    cpu_percent: Option<u32>,
    /// KEDA's Prometheus trigger.
    prometheus: Option<Prometheus<'a>>,
}

#[derive(Serialize)]
struct Prometheus<'a> {
    server_address: &'a str,
    query: String,
    threshold: String,
}

/// The pool's autoscaler, named like its StatefulSet.
pub(crate) fn object(
    farm: &Farm,
    pool: &Pool,
    a: &Autoscale,
    labels: &Labels,
    name: String,
) -> ObjectSpec {
    let (kind, cpu_percent, prometheus) = match &a.signal {
        Signal::Cpu { percent } => (Kind::HorizontalPodAutoscaler, Some(*percent), None),
        Signal::Builds {
            per_pod,
            server_address,
            query,
        } => {
            let query = query
                .clone()
                .unwrap_or_else(|| builds_in_flight(farm, pool));
            let prometheus = Prometheus {
                server_address,
                query,
                threshold: per_pod.to_string(),
            };
            (Kind::ScaledObject, None, Some(prometheus))
        }
    };
    let ctx = Autoscaler {
        name: &name,
        namespace: &farm.namespace,
        labels,
        min: a.min,
        max: a.max,
        scale_down_seconds: a.scale_down_seconds,
        scale_down_period: farm.drain_seconds.clamp(1, MAX_PERIOD_SECONDS),
        cpu_percent,
        prometheus,
    };
    ObjectSpec::new(kind, name.clone(), Some(&farm.namespace), ctx)
}

/// The pool's builds in flight, from BuildKit's `buildkit.build.duration` histogram (seconds):
/// the build-seconds completed per second is the mean number of builds running (Little's law).
/// Prometheus keeps that histogram as classic series (`_sum`, `_count`, `_bucket`) by default
/// and as one native histogram with native histograms on; each form has data only in its own
/// mode, so the query asks for both and takes the one that answers (the classic one when a
/// Prometheus keeps both). No builds, no series: 0, so the pool shrinks to `min`. CI asks it of
/// a real Prometheus in both modes (`.ci/prometheus_check.py`).
pub(crate) fn builds_in_flight(farm: &Farm, pool: &Pool) -> String {
    let series = format!(
        "{{namespace=\"{}\",pod=~\"{}-[0-9]+\"}}",
        farm.namespace,
        farm.pool_object(pool)
    );
    format!(
        "sum(rate(buildkit_build_duration_seconds_sum{series}[5m])) \
         or sum(histogram_sum(rate(buildkit_build_duration_seconds{series}[5m]))) \
         or vector(0)"
    )
}
