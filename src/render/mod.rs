//! `Farm` (+ certificates) → Kubernetes objects in a fixed order, each rendered from its
//! template, and the stream parsed back before anyone sees it.

pub mod check;
mod config;
mod env;
pub mod filters;
mod meta;
mod objects;
pub mod out;
mod parallel;
mod parse_back;
mod plan;

use anyhow::Context as _;

use crate::certs::Material;
use crate::farm::Farm;
pub use config::buildkitd_toml;
pub use objects::sidecar;

/// The one kind table: each kind with its template (`templates/<file>.yaml.j2`, embedded),
/// in the order objects are applied (what a kind needs comes before it).
macro_rules! kinds {
    ($($kind:ident: $file:literal),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub enum Kind {
            $($kind),*
        }

        impl Kind {
            pub const ALL: &[Kind] = &[$(Kind::$kind),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$kind => stringify!($kind)),*
                }
            }

            fn template(self) -> &'static str {
                match self {
                    $(Kind::$kind => concat!($file, ".yaml.j2")),*
                }
            }

            fn source(self) -> &'static str {
                match self {
                    $(Kind::$kind => include_str!(concat!("../../templates/", $file, ".yaml.j2"))),*
                }
            }
        }
    };
}

kinds! {
    Namespace: "namespace",
    ServiceAccount: "serviceaccount",
    ConfigMap: "configmap",
    Secret: "secret",
    Issuer: "issuer",
    Certificate: "certificate",
    Service: "service",
    StatefulSet: "statefulset",
    PodDisruptionBudget: "poddisruptionbudget",
    NetworkPolicy: "networkpolicy",
    ServiceMonitor: "servicemonitor",
    PodMonitor: "podmonitor",
}

/// Templates that are not an object of their own: shared blocks (`{% import %}`ed) and the
/// pod-spec fragment of `client sidecar`.
const PARTIALS: &[(&str, &str)] = &[
    (
        "security_context.j2",
        include_str!("../../templates/security_context.j2"),
    ),
    ("sidecar.j2", include_str!("../../templates/sidecar.j2")),
];

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
    let plan = plan::plan(farm, certs, options.secrets);
    // Each thread renders its share of the objects and parses that slice of the stream back:
    // the documents are independent, and a context is dropped where it was used.
    let render_checked = |specs: Vec<meta::ObjectSpec>| {
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
        |pools| render_checked(pools.iter().flat_map(plan::PoolPlan::objects).collect()),
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

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn every_template_file_is_a_kind_or_a_partial_and_every_kind_has_its_file() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut kinds: Vec<String> = Kind::ALL.iter().map(|k| k.template().to_string()).collect();
        kinds.extend(super::PARTIALS.iter().map(|(name, _)| name.to_string()));
        kinds.sort();
        assert_eq!(files, kinds);
        assert!(
            Kind::ALL.windows(2).all(|w| w[0] < w[1]),
            "ALL is in apply order"
        );
    }
}
