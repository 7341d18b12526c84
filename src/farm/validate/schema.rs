//! The part of the Kubernetes API a spec may write verbatim (`affinity`, an `extra_volume`'s
//! `source`), as shapes: a key Kubernetes does not know, or a value of the wrong type, is
//! refused at its own line here instead of by the API server or kubelet at apply time.
//! Field names from the Kubernetes API reference (core/v1 Affinity, Volume):
//! https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/

use std::ops::Range;

use super::checker::Checker;
use crate::farm::raw::Spanned;
use crate::farm::spans::Seg;
use crate::rule::Rule;
use crate::suggest::{did_you_mean, one_of};

/// What a value must look like.
pub(super) enum Shape {
    Str,
    Int,
    Bool,
    StrList,
    /// A map of strings to strings (labels, attributes).
    StrMap,
    List(&'static Shape),
    Map(&'static [(&'static str, Shape)]),
    /// Kubernetes checks it; buildfarm passes it through.
    Any,
}

use Shape::*;

const LABEL_SELECTOR_REQUIREMENT: Shape =
    Map(&[("key", Str), ("operator", Str), ("values", StrList)]);
const LABEL_SELECTOR: Shape = Map(&[
    ("matchLabels", StrMap),
    ("matchExpressions", List(&LABEL_SELECTOR_REQUIREMENT)),
]);
const NODE_SELECTOR_TERM: Shape = Map(&[
    ("matchExpressions", List(&LABEL_SELECTOR_REQUIREMENT)),
    ("matchFields", List(&LABEL_SELECTOR_REQUIREMENT)),
]);
const POD_AFFINITY_TERM: Shape = Map(&[
    ("labelSelector", LABEL_SELECTOR),
    ("namespaceSelector", LABEL_SELECTOR),
    ("namespaces", StrList),
    ("topologyKey", Str),
    ("matchLabelKeys", StrList),
    ("mismatchLabelKeys", StrList),
]);
const POD_AFFINITY: Shape = Map(&[
    (
        "requiredDuringSchedulingIgnoredDuringExecution",
        List(&POD_AFFINITY_TERM),
    ),
    (
        "preferredDuringSchedulingIgnoredDuringExecution",
        List(&Map(&[
            ("weight", Int),
            ("podAffinityTerm", POD_AFFINITY_TERM),
        ])),
    ),
]);

/// core/v1 Affinity.
pub(super) const AFFINITY: Shape = Map(&[
    (
        "nodeAffinity",
        Map(&[
            (
                "requiredDuringSchedulingIgnoredDuringExecution",
                Map(&[("nodeSelectorTerms", List(&NODE_SELECTOR_TERM))]),
            ),
            (
                "preferredDuringSchedulingIgnoredDuringExecution",
                List(&Map(&[("weight", Int), ("preference", NODE_SELECTOR_TERM)])),
            ),
        ]),
    ),
    ("podAffinity", POD_AFFINITY),
    ("podAntiAffinity", POD_AFFINITY),
]);

const KEY_TO_PATH: Shape = Map(&[("key", Str), ("path", Str), ("mode", Int)]);

/// The volume sources of core/v1 Volume a build daemon may mount (one per `extra_volume`).
/// Sources marked deprecated in the API (in-tree cloud disks, gitRepo, ...) are left out.
pub(super) const VOLUME_SOURCE: Shape = Map(&[
    (
        "configMap",
        Map(&[
            ("name", Str),
            ("items", List(&KEY_TO_PATH)),
            ("defaultMode", Int),
            ("optional", Bool),
        ]),
    ),
    (
        "secret",
        Map(&[
            ("secretName", Str),
            ("items", List(&KEY_TO_PATH)),
            ("defaultMode", Int),
            ("optional", Bool),
        ]),
    ),
    ("emptyDir", Map(&[("medium", Str), ("sizeLimit", Str)])),
    (
        "persistentVolumeClaim",
        Map(&[("claimName", Str), ("readOnly", Bool)]),
    ),
    ("hostPath", Map(&[("path", Str), ("type", Str)])),
    (
        "projected",
        Map(&[("sources", List(&Any)), ("defaultMode", Int)]),
    ),
    (
        "downwardAPI",
        Map(&[("items", List(&Any)), ("defaultMode", Int)]),
    ),
    ("image", Map(&[("reference", Str), ("pullPolicy", Str)])),
    (
        "csi",
        Map(&[
            ("driver", Str),
            ("readOnly", Bool),
            ("fsType", Str),
            ("volumeAttributes", StrMap),
            ("nodePublishSecretRef", Map(&[("name", Str)])),
        ]),
    ),
    (
        "nfs",
        Map(&[("server", Str), ("path", Str), ("readOnly", Bool)]),
    ),
    ("ephemeral", Map(&[("volumeClaimTemplate", Any)])),
]);

/// Checks the table written at `list.index.key` (`pool.0.affinity`) against `shape`.
pub(super) fn check_entry(
    c: &mut Checker,
    table: &Spanned<toml::Table>,
    shape: &Shape,
    (list, index, key): (&str, usize, &str),
) {
    let mut at = vec![
        Seg::Key(list.into()),
        Seg::Index(index),
        Seg::Key(key.into()),
    ];
    let value = toml::Value::Table(table.get_ref().clone());
    let shown = format!("{list}.{key}");
    check(c, &value, shape, &mut at, &shown, &table.span());
}

/// Checks `value` (written at `at`, shown to the user as `shown`) against `shape`.
pub(super) fn check(
    c: &mut Checker,
    value: &toml::Value,
    shape: &Shape,
    at: &mut Vec<Seg>,
    shown: &str,
    fallback: &Range<usize>,
) {
    let found = value.type_str();
    let wrong = |c: &mut Checker, at: &Vec<Seg>, expected: &str| {
        let span = c.spans.key(at).unwrap_or_else(|| fallback.clone());
        c.error(
            Rule::InvalidType,
            span,
            format!("`{shown}` must be {expected}, found {found}"),
            None,
        );
    };
    match (shape, value) {
        (Any, _)
        | (Str, toml::Value::String(_))
        | (Int, toml::Value::Integer(_))
        | (Bool, toml::Value::Boolean(_)) => {}
        (StrList, toml::Value::Array(items)) if items.iter().all(toml::Value::is_str) => {}
        (StrMap, toml::Value::Table(t)) if t.values().all(toml::Value::is_str) => {}
        (List(item), toml::Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                at.push(Seg::Index(i));
                check(c, v, item, at, &format!("{shown}[{i}]"), fallback);
                at.pop();
            }
        }
        (Map(fields), toml::Value::Table(t)) => {
            for (key, v) in t {
                at.push(Seg::Key(key.clone()));
                match fields.iter().find(|(k, _)| k == key) {
                    Some((_, field)) => check(c, v, field, at, &format!("{shown}.{key}"), fallback),
                    None => {
                        let known: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
                        let hint = match did_you_mean(key, known.iter().copied()) {
                            Some(best) => format!("did you mean `{best}`?"),
                            None => format!("Kubernetes knows {} here", one_of(&known)),
                        };
                        let span = c.spans.key(at).unwrap_or_else(|| fallback.clone());
                        c.error(
                            Rule::UnknownKey,
                            span,
                            format!("unknown key `{key}` in `{shown}`"),
                            Some(hint),
                        );
                    }
                }
                at.pop();
            }
        }
        (Str, _) => wrong(c, at, "a string"),
        (Int, _) => wrong(c, at, "an integer"),
        (Bool, _) => wrong(c, at, "true or false"),
        (StrList, _) => wrong(c, at, "a list of strings"),
        (StrMap, _) => wrong(c, at, "a table of strings"),
        (List(_), _) => wrong(c, at, "a list"),
        (Map(_), _) => wrong(c, at, "a table"),
    }
}
