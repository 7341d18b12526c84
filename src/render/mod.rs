//! `Farm` (+ certificates) → Kubernetes objects in a fixed order, each rendered from its
//! template, and the stream parsed back before anyone sees it.

mod cert_manager;
pub mod check;
mod config;
mod context;
mod env;
pub mod filters;
mod network;
pub mod out;
mod parallel;
mod parse_back;

use anyhow::Context as _;

use crate::certs::Material;
use crate::farm::Farm;
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
    NetworkPolicy,
    ServiceMonitor,
    PodMonitor,
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
            Kind::NetworkPolicy => "NetworkPolicy",
            Kind::ServiceMonitor => "ServiceMonitor",
            Kind::PodMonitor => "PodMonitor",
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
            Kind::NetworkPolicy => "networkpolicy.yaml.j2",
            Kind::ServiceMonitor => "servicemonitor.yaml.j2",
            Kind::PodMonitor => "podmonitor.yaml.j2",
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
    let mut plan = context::plan(farm, certs, options.secrets);
    plan.farm_wide.extend(network::objects(farm));
    // Each thread renders its share of the objects and parses that slice of the stream back:
    // the documents are independent, and a context is dropped where it was used.
    let render_checked = |specs: Vec<context::ObjectSpec>| {
        let objects = specs
            .into_iter()
            .map(|spec| {
                let yaml = env
                    .get_template(spec.kind.template())
                    .and_then(|t| t.render(&spec.context))
                    .with_context(|| {
                        format!("failed to render {} `{}`", spec.kind.as_str(), spec.name)
                    })?;
                Ok(Object {
                    kind: spec.kind,
                    name: spec.name,
                    namespace: spec.namespace,
                    yaml,
                })
            })
            .collect::<anyhow::Result<Vec<Object>>>()?;
        parse_back::check(&objects)?;
        anyhow::Ok(objects)
    };
    let (farm_wide, pools) = parallel::beside(
        &plan.pools,
        POOLS_PER_SLICE,
        |pools| render_checked(pools.iter().flat_map(context::PoolPlan::objects).collect()),
        || render_checked(plan.farm_wide),
    );
    let mut objects = farm_wide?;
    for part in pools {
        objects.extend(part?);
    }
    objects.sort_by(|a, b| (a.kind, &a.namespace, &a.name).cmp(&(b.kind, &b.namespace, &b.name)));
    Ok(objects)
}

/// Pools per slice of work: a pool's four objects take about a tenth of a millisecond to build,
/// render and parse back, so a slice is short enough to even out the threads' loads and long
/// enough that taking it costs nothing.
const POOLS_PER_SLICE: usize = 8;

/// The objects as one YAML stream: `---` between documents, one final newline.
pub fn stream(objects: &[Object]) -> String {
    let mut out = String::with_capacity(objects.iter().map(|o| o.yaml.len() + 4).sum());
    out.extend(stream_parts(objects));
    out
}

/// The pieces of `stream`, in order, for writing it without a copy.
pub fn stream_parts(objects: &[Object]) -> impl Iterator<Item = &str> {
    objects.iter().enumerate().flat_map(|(i, o)| {
        let separator = if i > 0 { "---\n" } else { "" };
        [separator, o.yaml.as_str()]
    })
}
