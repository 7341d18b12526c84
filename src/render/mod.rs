//! `Farm` (+ certificates) → Kubernetes objects in a fixed order, each rendered from its
//! template, and the stream parsed back before anyone sees it.

mod cert_manager;
pub mod check;
mod config;
mod context;
mod env;
pub mod filters;
pub mod out;
mod parallel;

use anyhow::{Context as _, bail};

use crate::certs::Material;
use crate::spec::Farm;
pub use config::buildkitd_toml;

/// Kinds in the order they are applied: what a kind needs comes before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Namespace,
    ServiceAccount,
    ConfigMap,
    Secret,
    Issuer,
    Certificate,
    Service,
    StatefulSet,
    PodDisruptionBudget,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::Issuer => "Issuer",
            Kind::Certificate => "Certificate",
            Kind::Service => "Service",
            Kind::StatefulSet => "StatefulSet",
            Kind::PodDisruptionBudget => "PodDisruptionBudget",
        }
    }

    fn template(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace.yaml.j2",
            Kind::ServiceAccount => "serviceaccount.yaml.j2",
            Kind::ConfigMap => "configmap.yaml.j2",
            Kind::Secret => "secret.yaml.j2",
            Kind::Issuer => "issuer.yaml.j2",
            Kind::Certificate => "certificate.yaml.j2",
            Kind::Service => "service.yaml.j2",
            Kind::StatefulSet => "statefulset.yaml.j2",
            Kind::PodDisruptionBudget => "poddisruptionbudget.yaml.j2",
        }
    }
}

/// One rendered Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub kind: Kind,
    pub name: String,
    pub namespace: Option<String>,
    pub yaml: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Include Secrets (private keys). Off for GitOps repos that hold no keys.
    pub secrets: bool,
}

/// Renders every object of the farm, sorted, and checks that the stream parses back.
pub fn render(
    farm: &Farm,
    certs: Option<&Material>,
    options: Options,
) -> anyhow::Result<Vec<Object>> {
    let env = env::environment();
    let specs: Vec<context::ObjectSpec> = context::objects(farm, certs)
        .into_iter()
        .filter(|spec| spec.kind != Kind::Secret || options.secrets)
        .collect();
    let rendered = parallel::map(&specs, |spec| {
        env.get_template(spec.kind.template())
            .and_then(|t| t.render(&spec.context))
            .with_context(|| format!("failed to render {} `{}`", spec.kind.as_str(), spec.name))
    });
    let mut objects = Vec::with_capacity(specs.len());
    for (spec, yaml) in specs.into_iter().zip(rendered) {
        objects.push(Object {
            kind: spec.kind,
            name: spec.name,
            namespace: spec.namespace,
            yaml: yaml?,
        });
    }
    objects.sort_by(|a, b| (a.kind, &a.namespace, &a.name).cmp(&(b.kind, &b.namespace, &b.name)));
    // Each slice of the stream parses on its own core; the documents are independent.
    parallel::weighted_chunks(&objects, |o| o.yaml.len(), self_check)
        .into_iter()
        .collect::<anyhow::Result<()>>()?;
    Ok(objects)
}

/// The objects as one YAML stream: `---` between documents, one final newline.
pub fn stream(objects: &[Object]) -> String {
    let mut out = String::with_capacity(objects.iter().map(|o| o.yaml.len() + 4).sum());
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&o.yaml);
    }
    out
}

/// Parses the stream back: exactly one document per object, each the kind and name it claims.
/// A failure here is a buildfarm bug, never the user's input.
fn self_check(objects: &[Object]) -> anyhow::Result<()> {
    let text = stream(objects);
    let mut documents = 0;
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
        let value = <serde_yaml_ng::Value as serde::Deserialize>::deserialize(doc)
            .context("internal error: the rendered YAML does not parse back")?;
        let Some(o) = objects.get(i) else {
            bail!("internal error: the rendered YAML holds more documents than objects");
        };
        let kind = value.get("kind").and_then(|k| k.as_str());
        let name = value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|n| n.as_str());
        if kind != Some(o.kind.as_str()) || name != Some(o.name.as_str()) {
            bail!(
                "internal error: document {i} is {kind:?} {name:?}, expected {} `{}`",
                o.kind.as_str(),
                o.name
            );
        }
        documents += 1;
    }
    if documents != objects.len() {
        bail!(
            "internal error: {documents} YAML documents for {} objects",
            objects.len()
        );
    }
    Ok(())
}
