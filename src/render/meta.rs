//! What every rendered object shares: its identity (`ObjectSpec`), the labels it carries, the
//! selectors that find its pods, and the checksum that rolls them.

use indexmap::IndexMap;
use minijinja::Value;

use super::kind::Kind;
use crate::farm::{Farm, Pool};

const POOL_LABEL: &str = "buildfarm/pool";

/// An object to render: its kind, identity and template context.
pub(super) struct ObjectSpec {
    pub kind: Kind,
    pub name: String,
    pub namespace: Option<String>,
    pub context: Value,
}

impl ObjectSpec {
    /// `context` is the template's typed context (`objects/`).
    pub(super) fn new(
        kind: Kind,
        name: String,
        namespace: Option<&String>,
        context: impl serde::Serialize,
    ) -> Self {
        let namespace = namespace.cloned();
        ObjectSpec {
            kind,
            name,
            namespace,
            context: Value::from(minijinja::value::Serde(context)),
        }
    }
}

/// The labels every daemon pod of the farm carries, whatever its pool.
pub(super) fn farm_selector(farm: &Farm) -> IndexMap<&'static str, String> {
    let mut l = IndexMap::new();
    l.insert("app.kubernetes.io/name", "buildkit".to_string());
    l.insert("app.kubernetes.io/instance", farm.name.clone());
    l
}

/// Labels every object carries; `buildfarm/pool` on a pool's objects.
pub(super) fn labels(
    farm: &Farm,
    component: &str,
    pool: Option<&Pool>,
) -> IndexMap<&'static str, String> {
    let mut l = IndexMap::new();
    l.insert("app.kubernetes.io/name", "buildkit".to_string());
    l.insert("app.kubernetes.io/instance", farm.name.clone());
    l.insert("app.kubernetes.io/component", component.to_string());
    l.insert("app.kubernetes.io/version", farm.buildkit.to_string());
    l.insert("app.kubernetes.io/managed-by", "buildfarm".to_string());
    if let Some(p) = pool {
        l.insert(POOL_LABEL, p.name.clone());
    }
    l
}

/// Only labels that never change: a StatefulSet's selector is immutable.
pub(super) fn selector(farm: &Farm, pool: &Pool) -> IndexMap<&'static str, String> {
    let mut l = farm_selector(farm);
    l.insert(POOL_LABEL, pool.name.clone());
    l
}

/// Changes whenever buildkitd.toml or the certificates change, so `kubectl apply` restarts the
/// daemons (buildkitd reads both only at start).
pub(super) fn checksum(config: &str, certs: Option<&ring::digest::Digest>) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(config.as_bytes());
    if let Some(digest) = certs {
        ctx.update(b"\0");
        ctx.update(digest.as_ref());
    }
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
