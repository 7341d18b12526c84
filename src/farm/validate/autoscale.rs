//! `[pool.autoscale]`: the bounds, the one signal, and how `replicas` fits between them.

use std::ops::Range;

use super::checker::Checker;
use crate::farm::defaults;
use crate::farm::model::{Autoscale, Signal};
use crate::farm::raw::{RawAutoscale, Spanned};
use crate::rule::Rule;

/// Minutes demand must stay low before a daemon goes, unless the spec says.
const SCALE_DOWN_MINUTES: u32 = 30;

/// The pool's autoscaling, and its `replicas`: as written (which must lie between `min` and
/// `max`), else the default brought between them.
pub(super) fn autoscale(
    c: &mut Checker,
    raw: Option<Spanned<RawAutoscale>>,
    replicas: Option<Spanned<i64>>,
) -> (Option<Autoscale>, u32) {
    let Some(raw) = raw else {
        return (
            None,
            c.int(replicas, "pool.replicas", 0..=1000, defaults::REPLICAS),
        );
    };
    let span = raw.span();
    let a = raw.into_inner();
    let Some(max_raw) = a.max.clone() else {
        let hint = "add the most daemons the pool may have, e.g. `max = 8`";
        c.error(
            Rule::MissingKey,
            span,
            "`[pool.autoscale]` has no `max`",
            Some(hint.into()),
        );
        return (None, defaults::REPLICAS);
    };
    let max = c.int(Some(max_raw), "pool.autoscale.max", 1..=1000, 1);
    let min_span = a.min.as_ref().map(Spanned::span);
    let min = c.int(a.min.clone(), "pool.autoscale.min", 0..=1000, 1u32.min(max));
    if min > max {
        let message = format!("`pool.autoscale.min` = {min} is above `max` = {max}");
        c.error(
            Rule::OutOfRange,
            min_span.clone().unwrap_or(span.clone()),
            message,
            None,
        );
    }
    let signal = signal(c, &a, span.clone(), min, min_span);
    let scale_down_minutes = c.int(
        a.scale_down_minutes.clone(),
        "pool.autoscale.scale_down_minutes",
        // The autoscaling/v2 API caps a stabilisation window at one hour.
        1..=60,
        SCALE_DOWN_MINUTES,
    );
    let replicas = starting_size(c, replicas, min, max);
    let autoscale = signal.map(|signal| Autoscale {
        min,
        max,
        signal,
        scale_down_seconds: scale_down_minutes * 60,
    });
    (autoscale, replicas)
}

/// `replicas` between the bounds: refused when written outside them.
fn starting_size(c: &mut Checker, replicas: Option<Spanned<i64>>, min: u32, max: u32) -> u32 {
    let Some(written) = replicas else {
        // Not `clamp`: with `min` above `max` (reported) it would panic.
        return defaults::REPLICAS.max(min.max(1)).min(max.max(1));
    };
    let span = written.span();
    let n = c.int(Some(written), "pool.replicas", 0..=1000, defaults::REPLICAS);
    if n < min || n > max {
        let message = format!("`replicas` = {n} is outside `[pool.autoscale]` {min} to {max}");
        let hint = "the autoscaler owns the pool's size: remove `replicas`, or write a size between `min` and `max`";
        c.error(Rule::OutOfRange, span, message, Some(hint.into()));
    }
    n
}

/// The one signal the table names.
fn signal(
    c: &mut Checker,
    a: &RawAutoscale,
    span: Range<usize>,
    min: u32,
    min_span: Option<Range<usize>>,
) -> Option<Signal> {
    match (&a.builds_per_pod, &a.cpu) {
        (None, None) => {
            let hint = "`builds_per_pod = 2` (KEDA, on BuildKit's build metrics) or `cpu = 70` (a HorizontalPodAutoscaler)";
            let message = "`[pool.autoscale]` has no signal to follow";
            c.error(Rule::MissingKey, span, message, Some(hint.into()));
            None
        }
        (Some(_), Some(cpu)) => {
            let message =
                "`[pool.autoscale]` follows one signal: `builds_per_pod` or `cpu`, not both";
            c.error(
                Rule::Unsupported,
                cpu.span(),
                message,
                Some("remove one of them".into()),
            );
            None
        }
        (Some(builds), None) => builds_signal(c, a, builds.clone(), span),
        (None, Some(cpu)) => {
            for (key, value) in [("server_address", &a.server_address), ("query", &a.query)] {
                if let Some(v) = value {
                    let message =
                        format!("`pool.autoscale.{key}` is for `builds_per_pod` (KEDA), not `cpu`");
                    c.error(
                        Rule::Unsupported,
                        v.span(),
                        message,
                        Some("remove it".into()),
                    );
                }
            }
            if min == 0 {
                let message = "a HorizontalPodAutoscaler cannot scale to zero";
                let hint = "`min = 1`, or `builds_per_pod` (KEDA scales to zero and back)";
                c.error(
                    Rule::Unsupported,
                    min_span.unwrap_or(span),
                    message,
                    Some(hint.into()),
                );
            }
            let percent = c.int(Some(cpu.clone()), "pool.autoscale.cpu", 1..=100, 70);
            Some(Signal::Cpu { percent })
        }
    }
}

fn builds_signal(
    c: &mut Checker,
    a: &RawAutoscale,
    builds: Spanned<i64>,
    span: Range<usize>,
) -> Option<Signal> {
    let per_pod = c.int(Some(builds), "pool.autoscale.builds_per_pod", 1..=100, 1);
    let Some(address) = a.server_address.clone() else {
        let hint = "where KEDA asks Prometheus, e.g. `server_address = \"http://prometheus.monitoring.svc:9090\"`";
        c.error(
            Rule::MissingKey,
            span,
            "`builds_per_pod` needs `server_address`",
            Some(hint.into()),
        );
        return None;
    };
    let server_address = c.text(
        Some(address),
        "pool.autoscale.server_address",
        "",
        |s| match (s.starts_with("http://") || s.starts_with("https://"))
            && !s.contains(char::is_whitespace)
        {
            true => Ok(()),
            false => Err("write the Prometheus URL, `http://HOST:PORT`".into()),
        },
    );
    let query = a.query.clone().map(|q| {
        c.text(
            Some(q),
            "pool.autoscale.query",
            "",
            super::checker::non_empty,
        )
    });
    Some(Signal::Builds {
        per_pod,
        server_address,
        query,
    })
}
