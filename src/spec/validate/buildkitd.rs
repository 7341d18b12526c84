//! What ends up in buildkitd.toml: `[gc]`, `[history]` and the `[buildkitd]` passthrough, each
//! checked against the BuildKit release that will read it.

use std::ops::Range;

use crate::spec::raw::Spanned;

use super::Checker;
use crate::spec::raw::{RawGc, RawHistory};
use crate::spec::releases::{self, GC_SPACE_KEY, HISTORY_KEY};
use crate::spec::size::{DiskSpace, parse_disk_space};
use crate::spec::version::Version;
use crate::spec::{Gc, History, defaults};

/// buildkitd.toml keys the spec owns, and what to write instead.
const OWNED_KEYS: [(&str, &str); 12] = [
    ("root", "the state folder is fixed by the profile"),
    ("debug", "set `debug` at the top of farm.toml"),
    (
        "grpc.address",
        "set `port`; the local socket comes from the profile",
    ),
    ("grpc.tls", "use `[tls]`"),
    ("grpc.debugAddress", "set `metrics_port`"),
    ("history", "use `[history]`"),
    ("worker.oci.gc", "use `[gc]`"),
    ("worker.oci.gcpolicy", "use `[gc]`"),
    ("worker.oci.gckeepstorage", "use `[gc]`"),
    ("worker.oci.reservedSpace", "use `[gc]`"),
    ("worker.oci.maxUsedSpace", "use `[gc]`"),
    ("worker.oci.minFreeSpace", "use `[gc]`"),
];

pub(super) fn gc(c: &mut Checker, raw: Spanned<RawGc>, buildkit: Version) -> Gc {
    let table = releases::buildkit();
    let g = raw.into_inner();
    c.at("gc.reserved", &g.reserved);
    c.at("gc.max_used", &g.max_used);
    c.at("gc.min_free", &g.min_free);
    let size = |c: &mut Checker,
                v: Option<Spanned<toml::Value>>,
                key: &str|
     -> Option<(DiskSpace, Range<usize>)> {
        let v = v?;
        let parsed = match v.get_ref() {
            toml::Value::Integer(n) if *n >= 0 => Ok(DiskSpace::Bytes(*n as u64)),
            toml::Value::String(s) => parse_disk_space(s),
            other => Err(format!(
                "found {} {other}; write a size like \"50GB\", \"80%\" or a number of bytes",
                other.type_str()
            )),
        };
        match parsed {
            Ok(DiskSpace::Percent(_)) if buildkit < table.feature("size-strings") => {
                let message = format!(
                    "`gc.{key}` as a percentage needs BuildKit {} or newer, the image runs {buildkit}",
                    table.feature("size-strings")
                );
                c.error(
                    "buildkit-version-too-old",
                    v.span(),
                    message,
                    Some("write a size such as \"200GB\"".into()),
                );
                None
            }
            Ok(d) => Some((d, v.span())),
            Err(why) => {
                c.error("invalid-size", v.span(), format!("`gc.{key}`: {why}"), None);
                None
            }
        }
    };
    let reserved = size(c, g.reserved, "reserved");
    let max_used = size(c, g.max_used, "max_used");
    let min_free = size(c, g.min_free, "min_free");
    let new_gc_keys = table.introduced(GC_SPACE_KEY);
    if buildkit < new_gc_keys {
        for (key, value) in [("reserved", &reserved), ("min_free", &min_free)] {
            if let Some((_, span)) = value {
                let message = format!(
                    "`gc.{key}` needs BuildKit {new_gc_keys} or newer, the image runs {buildkit}"
                );
                let hint = format!(
                    "before {new_gc_keys} a GC policy has one size, its cap: set only `gc.max_used` (written as `keepBytes`)"
                );
                c.error(
                    "buildkit-version-too-old",
                    span.clone(),
                    message,
                    Some(hint),
                );
            }
        }
    }
    if let (Some((r, span)), Some((m, _))) = (&reserved, &max_used) {
        let bigger = match (r, m) {
            (DiskSpace::Bytes(a), DiskSpace::Bytes(b)) => a > b,
            (DiskSpace::Percent(a), DiskSpace::Percent(b)) => a > b,
            _ => false,
        };
        if bigger {
            let message = format!("`gc.reserved` ({r}) is larger than `gc.max_used` ({m})");
            c.error(
                "gc-floor-above-cap",
                span.clone(),
                message,
                Some("the floor must not exceed the cap".into()),
            );
        }
    }
    let keep_duration = g
        .keep_duration
        .map(|d| c.duration(Some(d), "gc.keep_duration", 0));
    Gc {
        reserved: reserved.map(|r| r.0),
        max_used: max_used.map(|m| m.0),
        min_free: min_free.map(|m| m.0),
        keep_duration,
    }
}

pub(super) fn history(
    c: &mut Checker,
    raw: Option<Spanned<RawHistory>>,
    buildkit: Version,
) -> Option<History> {
    let needs = releases::buildkit().introduced(HISTORY_KEY);
    if buildkit < needs {
        if let Some(h) = raw {
            let message =
                format!("`[history]` needs BuildKit {needs} or newer, the image runs {buildkit}");
            c.error(
                "buildkit-version-too-old",
                h.span(),
                message,
                Some("remove `[history]` or use a newer image".into()),
            );
        }
        return None;
    }
    let h = raw.map(Spanned::into_inner).unwrap_or_default();
    let off_span = h
        .max_entries
        .as_ref()
        .filter(|n| *n.get_ref() == 0)
        .map(Spanned::span);
    let disable = releases::buildkit().feature("history-disable");
    if let Some(span) = off_span.filter(|_| buildkit < disable) {
        let message = format!(
            "turning build history off (`history.max_entries = 0`) needs BuildKit {disable} or newer, the image runs {buildkit}"
        );
        let hint = "keep at least one entry, or use a newer image";
        c.error("buildkit-version-too-old", span, message, Some(hint.into()));
    }
    Some(History {
        max_age_seconds: c.duration(
            h.max_age,
            "history.max_age",
            defaults::HISTORY_MAX_AGE_SECONDS,
        ),
        max_entries: c.int(
            h.max_entries,
            "history.max_entries",
            0..=100_000,
            i64::from(defaults::HISTORY_MAX_ENTRIES),
        ) as u32,
    })
}

pub(super) fn passthrough(c: &mut Checker, table: Spanned<toml::Table>) -> toml::Table {
    for (path, instead) in OWNED_KEYS {
        let mut node: Option<&toml::Value> = None;
        let mut current = Some(table.get_ref());
        for part in path.split('.') {
            node = current.and_then(|t| t.get(part));
            current = node.and_then(toml::Value::as_table);
        }
        if node.is_some() {
            let message = format!("`buildkitd.{path}` is managed by buildfarm");
            c.error(
                "buildkitd-owned-key",
                table.span(),
                message,
                Some(instead.into()),
            );
        }
    }
    table.into_inner()
}
