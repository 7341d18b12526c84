//! `Farm` (+ certificates) → Kubernetes objects in a fixed order, each rendered from its
//! template, and the stream parsed back before anyone sees it.

pub(crate) mod check;
mod config;
mod env;
pub(crate) mod filters;
mod kind;
mod meta;
mod objects;
pub(crate) mod out;
mod parallel;
mod parse_back;
mod plan;
mod stream;

use anyhow::Context as _;

use crate::certs::Material;
use crate::farm::Farm;
pub use config::buildkitd_toml;
pub use kind::Kind;
pub(crate) use objects::sidecar;
pub use stream::stream;
pub(crate) use stream::{Object, stream_parts};

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Include Secrets (private keys). Off for GitOps repos that hold no keys.
    pub secrets: bool,
}

/// Renders every object of the farm, sorted, and checks that the stream parses back.
pub(crate) fn render(
    farm: &Farm,
    certs: Option<&Material>,
    options: Options,
) -> anyhow::Result<Vec<Object>> {
    let env = env::environment();
    let plan = plan::plan(farm, certs, options.secrets);
    // Shapes of documents already parsed back, across the threads (see parse_back).
    let shapes = parse_back::Shapes::default();
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
        parse_back::check_with(&objects, &shapes)?;
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
