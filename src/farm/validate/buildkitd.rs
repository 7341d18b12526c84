//! What ends up in buildkitd.toml: `[gc]`, `[history]` and the `[buildkitd]` passthrough, each
//! checked against the BuildKit release that will read it.

use std::ops::Range;

use crate::farm::raw::Spanned;

use super::checker::Checker;
use crate::farm::defaults;
use crate::farm::model::{Gc, History};
use crate::farm::raw::{RawGc, RawHistory};
use crate::farm::releases::{self, GC_SPACE_KEY, HISTORY_KEY};
use crate::farm::size::{DiskSpace, parse_disk_space};
use crate::farm::spans::Seg;
use crate::farm::version::Version;
use crate::rule::Rule;

/// buildkitd.toml keys the spec owns, and what to write instead. buildkitd reads keys without
/// regard to case, so they are matched that way: `GRPC.TLS` is `grpc.tls`.
const OWNED_KEYS: [(&str, &str); 16] = [
    ("root", "the state folder is fixed by the profile"),
    ("debug", "set `debug` at the top of farm.toml"),
    (
        "grpc.address",
        "set `port`; the local socket comes from the profile",
    ),
    ("grpc.tls", "use `[tls]`"),
    ("grpc.debugAddress", "set `metrics_port`"),
    ("history", "use `[history]`"),
    ("worker.oci.enabled", "buildfarm runs the OCI worker"),
    (
        "worker.containerd.enabled",
        "there is no containerd in the pod",
    ),
    ("worker.oci.gc", "use `[gc]`"),
    ("worker.oci.gcpolicy", "use `[gc]`"),
    ("worker.oci.gckeepstorage", "use `[gc]`"),
    ("worker.oci.reservedSpace", "use `[gc]`"),
    ("worker.oci.maxUsedSpace", "use `[gc]`"),
    ("worker.oci.minFreeSpace", "use `[gc]`"),
    ("worker.oci.rootless", "the profile decides (`mode`)"),
    (
        "worker.oci.noProcessSandbox",
        "the profile decides (`mode`)",
    ),
];

/// Tables that hold owned keys: a value of another type there would replace them all.
const OWNED_TABLES: [&str; 4] = ["grpc", "worker", "worker.oci", "worker.containerd"];

/// buildkitd flags buildfarm sets itself: the listen addresses, config, state, TLS, metrics
/// and which worker runs, with GC.
const OWNED_FLAGS: [(&str, &str); 12] = [
    ("addr", "set `port`"),
    ("config", "use `[buildkitd]` for buildkitd.toml keys"),
    ("root", "the state folder is fixed by the profile"),
    ("tlscert", "use `[tls]`"),
    ("tlskey", "use `[tls]`"),
    ("tlscacert", "use `[tls]`"),
    ("debugaddr", "set `metrics_port`"),
    ("oci-worker", "buildfarm runs the OCI worker"),
    ("containerd-worker", "there is no containerd in the pod"),
    ("oci-worker-gc", "use `[gc]`"),
    ("oci-worker-gc-keepstorage", "use `[gc]`"),
    ("oci-worker-rootless", "the profile decides (`mode`)"),
];

/// `[gc]`, or a pool's own `[pool.gc]` (`at` names the table in messages).
pub(super) fn gc(c: &mut Checker, raw: Spanned<RawGc>, buildkit: Version, at: &str) -> Gc {
    let table = releases::buildkit();
    let g = raw.into_inner();
    let size = |c: &mut Checker, v, key: &str| gc_size(c, v, &format!("{at}.{key}"), buildkit);
    let reserved = size(c, g.reserved, "reserved");
    let max_used = size(c, g.max_used, "max_used");
    let min_free = size(c, g.min_free, "min_free");
    let new_gc_keys = table.introduced(GC_SPACE_KEY);
    if buildkit < new_gc_keys {
        for (key, value) in [("reserved", &reserved), ("min_free", &min_free)] {
            if let Some((_, span)) = value {
                let message = format!(
                    "`{at}.{key}` needs BuildKit {new_gc_keys} or newer, the image runs {buildkit}"
                );
                let hint = format!(
                    "before {new_gc_keys} a GC policy has one size, its cap: set only `{at}.max_used` (written as `keepBytes`)"
                );
                c.error(
                    Rule::BuildkitVersionTooOld,
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
            let message = format!("`{at}.reserved` ({r}) is larger than `{at}.max_used` ({m})");
            c.error(
                Rule::GcFloorAboveCap,
                span.clone(),
                message,
                Some("the floor must not exceed the cap".into()),
            );
        }
    }
    let keep_duration = g
        .keep_duration
        .map(|d| c.duration(Some(d), &format!("{at}.keep_duration"), 0));
    Gc {
        reserved: reserved.map(|r| r.0),
        max_used: max_used.map(|m| m.0),
        min_free: min_free.map(|m| m.0),
        keep_duration,
    }
}

/// One GC size: bytes, or a size string / percentage where the release reads them.
fn gc_size(
    c: &mut Checker,
    v: Option<Spanned<toml::Value>>,
    key: &str,
    buildkit: Version,
) -> Option<(DiskSpace, Range<usize>)> {
    let table = releases::buildkit();
    let v = v?;
    let parsed = match v.get_ref() {
        toml::Value::Integer(n) if *n >= 0 => Ok(DiskSpace::Bytes(n.unsigned_abs())),
        toml::Value::String(s) => parse_disk_space(s),
        other => Err(format!(
            "found {} {other}; write a size like \"50GB\", \"80%\" or a number of bytes",
            other.type_str()
        )),
    };
    match parsed {
        Ok(DiskSpace::Percent(_)) if buildkit < table.feature("size-strings") => {
            let message = format!(
                "`{key}` as a percentage needs BuildKit {} or newer, the image runs {buildkit}",
                table.feature("size-strings")
            );
            c.error(
                Rule::BuildkitVersionTooOld,
                v.span(),
                message,
                Some("write a size such as \"200GB\"".into()),
            );
            None
        }
        Ok(d) => Some((d, v.span())),
        Err(why) => {
            c.error(Rule::InvalidSize, v.span(), format!("`{key}`: {why}"), None);
            None
        }
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
                Rule::BuildkitVersionTooOld,
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
        c.error(
            Rule::BuildkitVersionTooOld,
            span,
            message,
            Some(hint.into()),
        );
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
            defaults::HISTORY_MAX_ENTRIES,
        ),
    })
}

/// The `[buildkitd]` table may add keys but never replace or remove what buildfarm owns.
pub(super) fn passthrough(c: &mut Checker, table: Spanned<toml::Table>) -> toml::Table {
    let mut owned = Vec::new();
    walk(table.get_ref(), &mut Vec::new(), &mut owned);
    for (path, problem) in owned {
        // Point at the key's own line; the table header when the key cannot be found.
        let at: Vec<Seg> = path.iter().cloned().map(Seg::Key).collect();
        let span = c.spans.key(&at).unwrap_or_else(|| table.span());
        let shown = path[1..].join(".");
        let (message, hint) = match problem {
            Owned::Key(instead) => (
                format!("`buildkitd.{shown}` is managed by buildfarm"),
                instead.to_string(),
            ),
            Owned::NotATable => (
                format!(
                    "`buildkitd.{shown}` must be a table: another value would replace the keys buildfarm writes there"
                ),
                format!("write keys under it, like `[buildkitd.{shown}]`"),
            ),
        };
        c.error(Rule::BuildkitdOwnedKey, span, message, Some(hint));
    }
    table.into_inner()
}

enum Owned {
    Key(&'static str),
    NotATable,
}

/// Every owned key (or owned table given another type) in `table`, by its path as written,
/// starting with `buildkitd`.
fn walk(table: &toml::Table, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Owned)>) {
    for (key, value) in table {
        path.push(key.clone());
        let dotted = path.join(".");
        let is = |owned: &str| owned.eq_ignore_ascii_case(&dotted);
        let full = || {
            std::iter::once("buildkitd".to_string())
                .chain(path.iter().cloned())
                .collect()
        };
        if let Some((_, instead)) = OWNED_KEYS.iter().find(|(k, _)| is(k)) {
            out.push((full(), Owned::Key(instead)));
        } else if let toml::Value::Table(inner) = value {
            walk(inner, path, out);
        } else if OWNED_TABLES.iter().any(|t| is(t)) {
            out.push((full(), Owned::NotATable));
        }
        path.pop();
    }
}

/// `extra_args`: appended to the daemon's arguments; none may set what buildfarm owns.
pub(super) fn extra_args(c: &mut Checker, raw: Option<Vec<Spanned<String>>>) -> Vec<String> {
    let args = raw.unwrap_or_default().into_iter();
    args.map(|a| {
        extra_arg(c, &a);
        c.text(Some(a), "extra_args", "", super::checker::non_empty)
    })
    .collect()
}

/// `extra_args` may add flags, but not ones that set what buildfarm owns (`--addr`, TLS, ...).
fn extra_arg(c: &mut Checker, arg: &Spanned<String>) {
    let Some(flag) = arg.get_ref().strip_prefix('-') else {
        return;
    };
    // buildkitd takes `-flag`, `--flag`, `--flag=value` alike.
    let name = flag
        .trim_start_matches('-')
        .split('=')
        .next()
        .unwrap_or_default();
    if let Some((owned, instead)) = OWNED_FLAGS.iter().find(|(f, _)| *f == name) {
        let message = format!("`extra_args` must not set `--{owned}`: buildfarm sets it");
        c.error(
            Rule::BuildkitdOwnedFlag,
            arg.span(),
            message,
            Some((*instead).into()),
        );
    }
}
