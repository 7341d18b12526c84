//! `[expose]` and `[pool.expose]`: how pools are reached from outside the cluster. Each table's
//! keys are checked where they are written; a pool's table replaces the farm's key by key.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;

use indexmap::IndexMap;

use super::checker::Checker;
use super::network::parse_cidr;
use crate::closed::ClosedSet;
use crate::farm::model::{Expose, ExposeType, GatewayRef};
use crate::farm::raw::{RawExpose, RawGateway, Spanned};
use crate::farm::syntax;
use crate::rule::Rule;
use crate::suggest::one_of;

/// The port of a Gateway's TLS listener when the spec does not say.
const GATEWAY_PORT: u16 = 443;

/// One `[expose]` table, checked: what it leaves out, a pool takes from the farm's.
pub(super) struct Table {
    span: Range<usize>,
    kind: Option<ExposeType>,
    domain: Option<String>,
    source_ranges: Option<Vec<String>>,
    annotations: Option<IndexMap<String, String>>,
    ip: Option<Spanned<String>>,
    per_pod: Option<bool>,
    gateway: Option<GatewayRef>,
}

/// The farm's `[expose]`: it must say its `type`.
pub(super) fn farm_table(c: &mut Checker, raw: Option<Spanned<RawExpose>>) -> Option<Table> {
    let table = table(c, raw?, "expose", None)?;
    if table.kind.is_none() {
        missing_type(c, "`[expose]`", table.span.clone());
        return None;
    }
    Some(table)
}

/// How one pool is reached: its own `[pool.expose]` over the farm's.
pub(super) fn for_pool(
    c: &mut Checker,
    farm: Option<&Table>,
    raw: Option<Spanned<RawExpose>>,
) -> Option<Expose> {
    let own = match raw {
        Some(raw) => Some(table(c, raw, "pool.expose", farm)?),
        None => None,
    };
    if let Some(t) = own.as_ref().filter(|t| t.kind.is_none() && farm.is_none()) {
        missing_type(c, "the pool's `[pool.expose]`", t.span.clone());
        return None;
    }
    macro_rules! key {
        ($field:ident) => {
            own.as_ref()
                .and_then(|t| t.$field.clone())
                .or_else(|| farm.and_then(|f| f.$field.clone()))
        };
    }
    let kind = key!(kind).filter(|k| *k != ExposeType::None)?;
    // Keys inherited from a table of the other type do not apply.
    let balancer = kind == ExposeType::LoadBalancer;
    Some(Expose {
        kind,
        domain: key!(domain),
        source_ranges: key!(source_ranges).filter(|_| balancer).unwrap_or_default(),
        annotations: key!(annotations).filter(|_| balancer).unwrap_or_default(),
        ip: key!(ip).filter(|_| balancer).map(Spanned::into_inner),
        per_pod: key!(per_pod).unwrap_or(!balancer),
        gateway: key!(gateway).filter(|_| !balancer),
    })
}

/// A pool's load balancer address, and where the pool's own table writes it (else the farm's).
pub(super) struct Claim<'a> {
    pub pool: &'a str,
    pub ip: &'a str,
    pub own: Option<Range<usize>>,
}

/// No two load balancers claim one address: reported at the `ip` that gives the second.
pub(super) fn unique_addresses(c: &mut Checker, farm: Option<&Table>, claims: &[Claim]) {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for claim in claims {
        let Some(first) = seen.insert(claim.ip, claim.pool) else {
            continue;
        };
        let span = claim
            .own
            .clone()
            .or_else(|| farm.and_then(|f| f.ip.as_ref().map(Spanned::span)))
            .unwrap_or(0..0);
        let message = format!(
            "pools `{first}` and `{}` would both claim the load balancer address {}",
            claim.pool, claim.ip
        );
        let hint = "give each pool its own `ip` in its `[pool.expose]`";
        c.error(Rule::DuplicateObject, span, message, Some(hint.into()));
    }
}

/// Where a pool's own `ip` is written, for `unique_addresses`.
pub(super) fn ip_span(raw: Option<&Spanned<RawExpose>>) -> Option<Range<usize>> {
    raw?.get_ref().ip.as_ref().map(Spanned::span)
}

fn missing_type(c: &mut Checker, what: &str, span: Range<usize>) {
    let hint = format!(
        "add `type = \"loadbalancer\"` or `type = \"gateway\"` (known: {})",
        one_of(ExposeType::NAMES)
    );
    c.error(
        Rule::MissingKey,
        span,
        format!("{what} has no `type`"),
        Some(hint),
    );
}

/// Each key of one table, and whether its type (its own, or the farm's for a pool's table)
/// can use the keys it writes. `None` when the table cannot be used at all.
fn table(
    c: &mut Checker,
    raw: Spanned<RawExpose>,
    at: &str,
    farm: Option<&Table>,
) -> Option<Table> {
    let span = raw.span();
    let mut e = raw.into_inner();
    let kind = e
        .kind
        .take()
        .map(|k| c.choice(Some(k), "expose type", ExposeType::LoadBalancer));
    let effective = kind.or_else(|| farm.and_then(|f| f.kind));
    if let Some(effective) = effective {
        unusable_keys(c, at, effective, &e, &span);
    }
    let domain = e.domain.map(|d| {
        let key = format!("{at}.domain");
        c.text(Some(d), &key, "", |s| {
            syntax::dns_subdomain(s)?;
            match s.len() <= 190 {
                true => Ok(()),
                false => {
                    Err("it leaves no room for `<name>-<pool>-<i>.` in a 253-character name".into())
                }
            }
        })
    });
    let source_ranges = e.source_ranges.map(|ranges| cidrs(c, ranges, at));
    let annotations = e
        .annotations
        .map(|a| c.string_map(Some(a), &format!("{at}.annotations"), |_| Ok(()), &[]));
    if let Some(ip) =
        e.ip.as_ref()
            .filter(|ip| ip.get_ref().parse::<IpAddr>().is_err())
    {
        let message = format!("`{at}.ip` = `{}` is not an IP address", ip.get_ref());
        let hint = "write an address such as `203.0.113.7`";
        c.error(Rule::InvalidValue, ip.span(), message, Some(hint.into()));
    }
    let gateway = e.gateway.map(|g| gateway(c, g, at));
    if effective == Some(ExposeType::Gateway) {
        let inherits = |has: fn(&Table) -> bool| farm.is_some_and(has);
        if gateway.is_none() && !inherits(|f| f.gateway.is_some()) {
            let message = format!("`[{at}]` with `type = \"gateway\"` needs `gateway`");
            let hint = "name the Gateway and its TLS passthrough listener: `gateway = { name = \"shared\", namespace = \"gateways\", section_name = \"builds\" }`";
            c.error(Rule::MissingKey, span.clone(), message, Some(hint.into()));
        }
        if domain.is_none() && !inherits(|f| f.domain.is_some()) {
            let message = format!("`[{at}]` with `type = \"gateway\"` needs `domain`");
            let hint = "the Gateway routes by server name: add `domain = \"ci.example.com\"` (names `<name>-<pool>.<domain>`)";
            c.error(Rule::MissingKey, span.clone(), message, Some(hint.into()));
        }
    }
    Some(Table {
        span,
        kind,
        domain,
        source_ranges,
        annotations,
        ip: e.ip,
        per_pod: e.per_pod,
        gateway,
    })
}

/// Keys the table's type has no use for are refused where they are written.
fn unusable_keys(c: &mut Checker, at: &str, kind: ExposeType, e: &RawExpose, table: &Range<usize>) {
    use ExposeType::{Gateway, LoadBalancer, None};
    let or_table = |s: Option<Range<usize>>| s.unwrap_or(table.clone());
    // (key, where it is written, the types that use it)
    type Key<'k> = (&'k str, Option<Range<usize>>, &'k [ExposeType]);
    let keys: [Key; 6] = [
        (
            "source_ranges",
            e.source_ranges
                .as_ref()
                .map(|r| or_table(r.first().map(Spanned::span))),
            &[LoadBalancer],
        ),
        (
            "annotations",
            e.annotations
                .as_ref()
                .map(|a| or_table(a.values().next().map(Spanned::span))),
            &[LoadBalancer],
        ),
        ("ip", e.ip.as_ref().map(Spanned::span), &[LoadBalancer]),
        ("gateway", e.gateway.as_ref().map(Spanned::span), &[Gateway]),
        (
            "domain",
            e.domain.as_ref().map(Spanned::span),
            &[LoadBalancer, Gateway],
        ),
        (
            "per_pod",
            e.per_pod.map(|_| table.clone()),
            &[LoadBalancer, Gateway],
        ),
    ];
    for (key, span, used_by) in keys {
        let Some(span) = span.filter(|_| !used_by.contains(&kind)) else {
            continue;
        };
        let message = format!(
            "`{at}.{key}` has no use with `type = \"{}\"`",
            kind.as_str()
        );
        let hint = match (kind, key) {
            (None, _) => "remove it: the pool is not reached from outside".to_string(),
            (Gateway, "source_ranges") => "the daemons see the Gateway's proxies, not the clients: restrict who reaches the Gateway in its own listener or load balancer, and remove it here".to_string(),
            (Gateway, _) => "the Gateway's own configuration decides this: remove it".to_string(),
            _ => format!("it is for `type = \"{}\"`: remove it", used_by[0].as_str()),
        };
        c.error(Rule::Unsupported, span, message, Some(hint));
    }
}

fn cidrs(c: &mut Checker, ranges: Vec<Spanned<String>>, at: &str) -> Vec<String> {
    let mut ok = Vec::new();
    for range in ranges {
        match parse_cidr(range.get_ref()) {
            Ok(()) => ok.push(range.into_inner()),
            Err(why) => c.error(
                Rule::InvalidValue,
                range.span(),
                format!(
                    "`{at}.source_ranges` entry `{}` is not valid: {why}",
                    range.get_ref()
                ),
                None,
            ),
        }
    }
    ok
}

/// `gateway = { name, namespace, section_name, port }`: names as Kubernetes takes them.
fn gateway(c: &mut Checker, raw: Spanned<RawGateway>, at: &str) -> GatewayRef {
    let span = raw.span();
    let g = raw.into_inner();
    let name = match g.name {
        Some(n) => c.text(
            Some(n),
            &format!("{at}.gateway.name"),
            "",
            syntax::dns_subdomain,
        ),
        None => {
            let hint = "add `name`, the Gateway's `metadata.name`";
            c.error(
                Rule::MissingKey,
                span,
                format!("`{at}.gateway` has no `name`"),
                Some(hint.into()),
            );
            String::new()
        }
    };
    let namespace = g.namespace.map(|n| {
        c.text(
            Some(n),
            &format!("{at}.gateway.namespace"),
            "",
            syntax::dns_label,
        )
    });
    let section_name = g.section_name.map(|n| {
        c.text(
            Some(n),
            &format!("{at}.gateway.section_name"),
            "",
            syntax::dns_subdomain,
        )
    });
    let port = c.int(
        g.port,
        &format!("{at}.gateway.port"),
        1..=u16::MAX,
        GATEWAY_PORT,
    );
    GatewayRef {
        name,
        namespace,
        section_name,
        port,
    }
}
