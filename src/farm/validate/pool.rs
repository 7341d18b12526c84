//! `[[pool]]`: names, placement, resources.

use std::collections::HashSet;
use std::ops::Range;

use crate::farm::raw::Spanned;
use indexmap::IndexMap;

use super::autoscale;
use super::buildkitd;
use super::checker::Checker;
use super::expose;
use super::schema;
use crate::closed::ClosedSet;
use crate::farm::defaults;
use crate::farm::model::{
    Arch, ExposeType, Pool, Storage, Toleration, TolerationEffect, TolerationOperator, VolumePolicy,
};
use crate::farm::raw::{RawPool, RawResources, RawToleration};
use crate::farm::size::parse_quantity;
use crate::farm::syntax;
use crate::farm::version::Version;
use crate::rule::Rule;
use crate::suggest::{did_you_mean, one_of};

/// A StatefulSet's pods carry `controller-revision-hash: <statefulset>-<hash>`, a label value
/// (≤ 63 characters) with a hash of up to 10 characters: so a StatefulSet name is at most 52.
const MAX_STATEFULSET_NAME: usize = 52;

pub(super) fn pools(
    c: &mut Checker,
    raw: Option<Spanned<Vec<Spanned<RawPool>>>>,
    farm_name: &str,
    farm_expose: Option<&expose::Table>,
    buildkit: Version,
) -> Vec<Pool> {
    let hint = "add one per CPU architecture:\n\n[[pool]]\narch = \"amd64\"\nreplicas = 2\nstorage = \"100Gi\"";
    let list = match raw {
        None => {
            c.error(
                Rule::NoPools,
                0..0,
                "the farm has no `[[pool]]`",
                Some(hint.into()),
            );
            return Vec::new();
        }
        Some(l) if l.get_ref().is_empty() => {
            c.error(
                Rule::NoPools,
                l.span(),
                "the farm has no `[[pool]]`",
                Some(hint.into()),
            );
            return Vec::new();
        }
        Some(l) => l.into_inner(),
    };
    let mut pools: Vec<Pool> = Vec::new();
    let mut own_ips = Vec::new();
    let mut names = HashSet::new();
    for (i, raw_pool) in list.into_iter().enumerate() {
        let span = raw_pool.span();
        let mut p = raw_pool.into_inner();
        let own_ip = expose::ip_span(p.expose.as_ref());
        let exposed = expose::for_pool(c, farm_expose, p.expose.take());
        let gc =
            p.gc.take()
                .map(|g| buildkitd::gc(c, g, buildkit, "pool.gc"));
        if let Some(pool) = pool(c, p, span, farm_name, &mut names, i) {
            own_ips.push(own_ip);
            pools.push(Pool {
                expose: exposed,
                gc,
                ..pool
            });
        }
    }
    let claims: Vec<expose::Claim> = pools
        .iter()
        .zip(own_ips)
        .filter_map(|(pool, own)| {
            let e = pool.expose.as_ref()?;
            let ip =
                e.ip.as_deref()
                    .filter(|_| e.kind == ExposeType::LoadBalancer)?;
            Some(expose::Claim {
                pool: &pool.name,
                ip,
                own,
            })
        })
        .collect();
    expose::unique_addresses(c, farm_expose, &claims);
    pools
}

// long because it assembles a `Pool`: one check per key of `[[pool]]`, then one line per field.
fn pool(
    c: &mut Checker,
    p: RawPool,
    span: Range<usize>,
    farm_name: &str,
    names: &mut HashSet<String>,
    index: usize,
) -> Option<Pool> {
    let (arch, name) = pool_identity(c, p.arch, p.name, span, farm_name, names)?;
    let (autoscale, replicas) = autoscale::autoscale(c, p.autoscale, p.replicas);
    let on_scale_down = p.volume_on_scale_down;
    let volume_on_scale_down =
        c.choice(on_scale_down, "volume_on_scale_down", VolumePolicy::Retain);
    let storage = storage(c, p.storage);
    let storage_class = p
        .storage_class
        .map(|s| c.text(Some(s), "pool.storage_class", "", syntax::dns_subdomain));
    let node_selector = c.string_map(
        p.node_selector,
        "pool.node_selector",
        syntax::label_value,
        &["kubernetes.io/arch"],
    );
    let tolerations = p
        .tolerations
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| toleration(c, t))
        .collect();
    let (mut requests, limits) = resources(c, p.resources);
    // Never BestEffort (the first pods evicted under pressure, with every build on them): a
    // resource with neither request nor limit gets the default request. (With only a limit,
    // Kubernetes makes the request equal to it.)
    for (resource, default) in defaults::REQUESTS {
        if !requests.contains_key(resource) && !limits.contains_key(resource) {
            requests.insert(resource.to_string(), default.to_string());
        }
    }
    let pod_annotations = c.string_map(
        p.pod_annotations,
        "pool.pod_annotations",
        |_| Ok(()),
        &["checksum/config"],
    );
    let affinity = p.affinity.map(|a| affinity(c, a, index));
    let priority_class_name = p.priority_class_name.map(|s| {
        c.text(
            Some(s),
            "pool.priority_class_name",
            "",
            syntax::dns_subdomain,
        )
    });
    let runtime_class = p
        .runtime_class
        .map(|s| c.text(Some(s), "pool.runtime_class", "", syntax::dns_subdomain));
    let pod_management_policy = c.choice(
        p.pod_management_policy,
        "pod_management_policy",
        defaults::POD_MANAGEMENT_POLICY,
    );
    Some(Pool {
        name,
        arch,
        replicas,
        storage,
        storage_class,
        node_selector,
        tolerations,
        requests,
        limits,
        pod_annotations,
        affinity,
        priority_class_name,
        pod_management_policy,
        expose: None,
        autoscale,
        volume_on_scale_down,
        untrusted: p.untrusted.is_some_and(Spanned::into_inner),
        runtime_class,
        gc: None,
        trust: None,
    })
}

/// A pool's arch and name (unique, and short enough for its objects' names).
fn pool_identity(
    c: &mut Checker,
    arch: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    span: Range<usize>,
    farm_name: &str,
    names: &mut HashSet<String>,
) -> Option<(Arch, String)> {
    let Some(arch) = arch else {
        c.error(
            Rule::MissingKey,
            span,
            "a `[[pool]]` has no `arch`",
            Some(format!(
                "add `arch = \"amd64\"`; known: {}",
                one_of(Arch::NAMES)
            )),
        );
        return None;
    };
    let arch_span = arch.span();
    let text = arch.into_inner();
    let arch = Arch::parse(&text);
    if arch.is_none() {
        let hint = match text.as_str() {
            "x86_64" | "x86-64" | "x64" => "Kubernetes calls x86_64 `amd64`".to_string(),
            "aarch64" | "arm64v8" => "Kubernetes calls aarch64 `arm64`".to_string(),
            other => match did_you_mean(other, Arch::NAMES.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("known: {}", one_of(Arch::NAMES)),
            },
        };
        c.error(
            Rule::UnknownValue,
            arch_span.clone(),
            format!("unknown arch `{text}`"),
            Some(hint),
        );
    }
    let name_span = name.as_ref().map_or(arch_span, Spanned::span);
    let name = c.text(name, "pool.name", &text, syntax::dns_label);
    if !names.insert(name.clone()) {
        let hint = "give each pool a distinct `name` (two pools of one arch need one)";
        c.error(
            Rule::DuplicatePool,
            name_span.clone(),
            format!("two pools are named `{name}`"),
            Some(hint.into()),
        );
    }
    let object = format!("{farm_name}-{name}");
    if object.len() > MAX_STATEFULSET_NAME {
        let message = format!(
            "StatefulSet name `{object}` is {} characters, the limit is {MAX_STATEFULSET_NAME}",
            object.len()
        );
        let hint = "its pods' controller-revision-hash label must fit in 63 characters: shorten `name` or the pool name";
        c.error(Rule::NameTooLong, name_span, message, Some(hint.into()));
    }
    // An unknown arch is already an error; the farm is never rendered.
    Some((arch.unwrap_or(Arch::Amd64), name))
}

/// The cache volume: a Kubernetes quantity larger than 0, or none (an emptyDir).
fn storage(c: &mut Checker, raw: Option<Spanned<String>>) -> Option<Storage> {
    raw.and_then(|s| match parse_quantity(s.get_ref()) {
        Ok(0) => {
            c.error(
                Rule::InvalidSize,
                s.span(),
                "`pool.storage` must be larger than 0",
                Some("omit `storage` for an ephemeral cache".into()),
            );
            None
        }
        Ok(bytes) => Some(Storage {
            quantity: s.into_inner(),
            bytes,
        }),
        Err(why) => {
            c.error(
                Rule::InvalidSize,
                s.span(),
                format!("`pool.storage`: {why}"),
                None,
            );
            None
        }
    })
}

/// An affinity as in a Pod spec, checked against the Kubernetes API's fields.
fn affinity(c: &mut Checker, a: Spanned<toml::Table>, index: usize) -> toml::Table {
    schema::check_entry(c, &a, &schema::AFFINITY, ("pool", index, "affinity"));
    a.into_inner()
}

fn toleration(c: &mut Checker, raw: Spanned<RawToleration>) -> Option<Toleration> {
    let span = raw.span();
    let t = raw.into_inner();
    let before = c.errors.len();
    let operator_text = t.operator.map_or("Equal".to_string(), Spanned::into_inner);
    let operator = TolerationOperator::parse(&operator_text).unwrap_or_else(|| {
        c.error(
            Rule::InvalidToleration,
            span.clone(),
            format!("toleration operator `{operator_text}` is not valid"),
            Some(format!("expected {}", one_of(TolerationOperator::NAMES))),
        );
        TolerationOperator::Equal
    });
    let effect = t
        .effect
        .and_then(|e| toleration_effect(c, e.into_inner(), &span));
    let key = t.key.map(Spanned::into_inner);
    let value = t.value.map(Spanned::into_inner);
    if key.is_none() && operator != TolerationOperator::Exists {
        c.error(
            Rule::InvalidToleration,
            span.clone(),
            "a toleration without `key` must use `operator = \"Exists\"`",
            None,
        );
    }
    if value.is_some() && operator == TolerationOperator::Exists {
        c.error(
            Rule::InvalidToleration,
            span.clone(),
            "a toleration with `operator = \"Exists\"` takes no `value`",
            None,
        );
    }
    // Kubernetes holds a toleration's key to a label key and its value to a label value.
    if let Some(why) = key.as_deref().and_then(|k| syntax::qualified_name(k).err()) {
        let message = format!(
            "toleration key `{}` is not a valid label key: {why}",
            key.as_deref().unwrap_or_default()
        );
        c.error(Rule::InvalidToleration, span.clone(), message, None);
    }
    if let Some(why) = value.as_deref().and_then(|v| syntax::label_value(v).err()) {
        let message = format!(
            "toleration value `{}` is not a valid label value: {why}",
            value.as_deref().unwrap_or_default()
        );
        c.error(Rule::InvalidToleration, span.clone(), message, None);
    }
    let toleration_seconds = t.toleration_seconds.map(|s| *s.get_ref());
    if toleration_seconds.is_some() && effect != Some(TolerationEffect::NoExecute) {
        c.error(
            Rule::InvalidToleration,
            span,
            "`toleration_seconds` only applies to `effect = \"NoExecute\"`",
            None,
        );
    }
    (c.errors.len() == before).then_some(Toleration {
        key,
        operator,
        value,
        effect,
        toleration_seconds,
    })
}

/// A toleration's `effect`, with a did-you-mean for a near miss.
fn toleration_effect(c: &mut Checker, e: String, span: &Range<usize>) -> Option<TolerationEffect> {
    let parsed = TolerationEffect::parse(&e);
    if parsed.is_none() {
        let names = TolerationEffect::NAMES;
        let hint = did_you_mean(&e, names.iter().copied())
            .map_or(format!("expected {}", one_of(names)), |b| {
                format!("did you mean `{b}`?")
            });
        c.error(
            Rule::InvalidToleration,
            span.clone(),
            format!("toleration effect `{e}` is not valid"),
            Some(hint),
        );
    }
    parsed
}

fn resources(
    c: &mut Checker,
    raw: Option<Spanned<RawResources>>,
) -> (IndexMap<String, String>, IndexMap<String, String>) {
    let r = raw.map(Spanned::into_inner).unwrap_or_default();
    let mut side = |map: Option<IndexMap<String, Spanned<toml::Value>>>, which: &str| {
        let mut out = IndexMap::new();
        for (k, v) in map.unwrap_or_default() {
            let text = match v.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(f) => f.to_string(),
                other => {
                    c.error(
                        Rule::InvalidType,
                        v.span(),
                        format!(
                            "`resources.{which}.{k}` must be a quantity, found {}",
                            other.type_str()
                        ),
                        None,
                    );
                    continue;
                }
            };
            let known = ["cpu", "memory", "ephemeral-storage"];
            if !known.contains(&k.as_str()) && !k.contains('/') {
                let hint = did_you_mean(&k, known).map_or(
                    format!(
                        "expected {} or an extended resource like `nvidia.com/gpu`",
                        one_of(&known)
                    ),
                    |b| format!("did you mean `{b}`?"),
                );
                c.error(
                    Rule::UnknownKey,
                    v.span(),
                    format!("unknown resource `{k}`"),
                    Some(hint),
                );
            } else if let Err(why) = syntax::quantity(&text) {
                c.error(
                    Rule::InvalidQuantity,
                    v.span(),
                    format!("`resources.{which}.{k}` = `{text}` is not valid: {why}"),
                    None,
                );
            } else if k == "cpu" && syntax::quantity_value(&text) * 1000.0 > i64::MAX as f64 {
                // CPU is kept in thousandths of a core.
                let message = format!(
                    "`resources.{which}.cpu` = `{text}` is larger than Kubernetes can hold"
                );
                c.error(Rule::InvalidQuantity, v.span(), message, None);
            }
            out.insert(k, text);
        }
        out
    };
    let requests = side(r.requests, "requests");
    let limits = side(r.limits, "limits");
    (requests, limits)
}
