//! `lint`'s view of the certificate folder: every problem as a finding (expiry, SAN coverage,
//! keys that do not match, broken chains, readable keys, an interrupted write), nothing
//! written. The loaders in `certs::store` do the checking; this names what they find.

use crate::certs::inspect::{self, CertInfo};
use crate::certs::store::{self, Authorities};
use crate::certs::{EXPIRY_WARNING_DAYS, Layout, Purpose, date, leaves, missing_sans, now};
use crate::diagnostic::{Diagnostic, Invalid};
use crate::farm::{Farm, TlsMode};
use crate::files;
use crate::rule::Rule;

pub fn audit(farm: &Farm) -> Vec<Diagnostic> {
    if farm.tls.mode != TlsMode::Generated {
        return Vec::new();
    }
    let layout = Layout::new(&farm.tls.dir);
    if files::has_journal(&layout.root) {
        let message = format!(
            "a run that was writing certificates in `{}` was interrupted",
            layout.root.display()
        );
        let d = farm.finding(Rule::CertInterrupted, "tls", message);
        return vec![d.hint("`buildfarm certs generate` (or `render`) finishes it")];
    }
    let cas = match store::load_authorities(&layout) {
        Ok(Some(cas)) => cas,
        Ok(None) => return Vec::new(), // nothing issued yet: render will
        Err(e) => return refused(farm, e),
    };
    let mut out = authorities(farm, &layout, &cas);
    let issuers = match crate::certs::issuers(farm, &layout, cas, None) {
        Ok(issuers) => issuers,
        Err(e) => return [out, refused(farm, e)].concat(),
    };
    for (dir, purpose, client) in leaves(farm, &layout) {
        match store::load_leaf(&dir, issuers.of(client), purpose, true) {
            Ok(Some(leaf)) => {
                let what = format!("`{}`", dir.join("tls.crt").display());
                out.extend(expiry(farm, &what, &leaf.info));
                if purpose == Purpose::Server {
                    out.extend(san_coverage(farm, &leaf.info));
                }
            }
            Ok(None) => {}
            Err(e) => out.extend(refused(farm, e)),
        }
    }
    out.extend(key_permissions(farm, &layout));
    out
}

/// What a loader refused, as findings at `[tls]`.
fn refused(farm: &Farm, err: anyhow::Error) -> Vec<Diagnostic> {
    match err.downcast::<Invalid>() {
        Ok(Invalid(ds)) => ds
            .into_iter()
            .map(|d| {
                let f = farm.finding(d.rule, "tls", d.message).severity(d.severity);
                Diagnostic { hint: d.hint, ..f }
            })
            .collect(),
        Err(e) => vec![farm.finding(Rule::CertUnreadable, "tls", format!("{e:#}"))],
    }
}

/// A CA (the active one, and the one a rotation retires) close to its end.
fn authorities(farm: &Farm, layout: &Layout, cas: &Authorities) -> Vec<Diagnostic> {
    let now = now();
    [
        (layout.ca_crt(), Some(&cas.active)),
        (layout.previous_crt(), cas.previous.as_ref()),
    ]
    .into_iter()
    .filter_map(|(crt, ca)| {
        let info = ca.and_then(|ca| inspect::read(&ca.cert_pem).ok())?;
        let left = info.days_left(now);
        (left < EXPIRY_WARNING_DAYS).then(|| {
            let message = format!("the CA `{}` expires in {left} days", crt.display());
            farm.finding(Rule::CertExpiring, "tls", message)
                .hint("run `buildfarm certs rotate-ca`")
        })
    })
    .collect()
}

/// Expired (an error) or expiring within `EXPIRY_WARNING_DAYS` (a warning).
fn expiry(farm: &Farm, what: &str, info: &CertInfo) -> Option<Diagnostic> {
    let now = now();
    let left = info.days_left(now);
    let (rule, message) = if info.not_after < now {
        (
            Rule::CertExpired,
            format!("{what} expired on {}", date(info.not_after)),
        )
    } else if left < EXPIRY_WARNING_DAYS {
        let message = format!("{what} expires in {left} days ({})", date(info.not_after));
        (Rule::CertExpiring, message)
    } else {
        return None;
    };
    Some(
        farm.finding(rule, "tls", message)
            .hint("run `buildfarm certs renew`"),
    )
}

/// Names of the spec the daemon certificate does not cover (render reissues it).
fn san_coverage(farm: &Farm, info: &CertInfo) -> Option<Diagnostic> {
    let missing = missing_sans(farm, &info.sans);
    if missing.is_empty() {
        return None;
    }
    let shown: Vec<String> = missing.iter().map(|s| format!("`{s}`")).collect();
    let message = format!("the daemon certificate does not cover {}", shown.join(", "));
    let d = farm.finding(Rule::CertSanMissing, "tls", message);
    Some(d.hint("`buildfarm render` or `buildfarm certs generate` reissues it from the same CA"))
}

/// Private keys that others than their owner may read.
fn key_permissions(farm: &Farm, layout: &Layout) -> Vec<Diagnostic> {
    use std::os::unix::fs::PermissionsExt;
    let leaf_keys = leaves(farm, layout)
        .into_iter()
        .map(|(dir, _, _)| dir.join("tls.key"));
    // With trust domains, each client's CA key too.
    let client_ca_keys = farm
        .tls
        .clients
        .iter()
        .map(|c| layout.client_ca(&c.name).join("ca.key"));
    [layout.ca_key(), layout.previous_key()]
        .into_iter()
        .chain(client_ca_keys)
        .chain(leaf_keys)
        .filter_map(|key| {
            let mode = std::fs::metadata(&key).ok()?.permissions().mode();
            (mode & 0o077 != 0).then(|| {
                let message = format!(
                    "`{}` is readable by others (mode {:o})",
                    key.display(),
                    mode & 0o777
                );
                let d = farm.finding(Rule::KeyPermissions, "tls", message);
                d.hint(format!("chmod 600 {}", key.display()))
            })
        })
        .collect()
}
