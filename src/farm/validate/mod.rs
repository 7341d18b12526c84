//! `RawFarm` → `Farm`: applies defaults (built-in < profile < farm.toml < flags) and checks
//! everything, collecting every problem with its location instead of stopping at the first.

use std::ops::Range;
use std::path::Path;

use crate::farm::raw::Spanned;

use super::defaults;
use super::defaults::CERTS_DIR;
use super::model::{Farm, Probes, Volume};
use super::names;
use super::raw::RawFarm;
use super::spans::Spans;
use super::syntax;
use super::version::{KubeVersion, Version, buildkit_version_of};
use crate::diagnostic::{Invalid, Source};
use crate::profile::{Mode, Profile};
use crate::rule::Rule;
use crate::suggest::one_of;
use checker::Checker;

mod autoscale;
mod buildkitd;
mod checker;
mod expose;
mod network;
mod pool;
mod schema;
mod tls;
mod trust;

/// Volumes and mounts every daemon has; extra volumes must not collide with them.
const BUILT_IN_VOLUMES: [&str; 6] = [
    "state",
    "config",
    "certs",
    "runtime",
    "tmp",
    "rootlesskit-tmp",
];

// long because it assembles the `Farm`: one call per section of the spec, then one line per
// field of the struct; splitting it would only move the list elsewhere.
pub(super) fn check(
    raw: RawFarm,
    spans: Spans,
    src: &Source,
    base: &Path,
    certs_dir: Option<&Path>,
) -> Result<Farm, Invalid> {
    let mut c = Checker {
        src,
        errors: Vec::new(),
        spans,
    };
    let (name, namespace) = identity(&mut c, raw.name, raw.namespace);
    let mode_span = raw.mode.as_ref().map_or(0..0, Spanned::span);
    let mode = c.choice(raw.mode, "mode", defaults::MODE);
    let profile = Profile::load(mode);
    let image_span = raw.image.as_ref().map(Spanned::span);
    let image = c.text(raw.image, "image", &profile.image, syntax::image_reference);
    let buildkit = buildkit_version(&mut c, &image, image_span, raw.buildkit_version);
    let kubernetes = kubernetes_version(&mut c, raw.kubernetes, &profile, mode, mode_span);

    let port = c.int(raw.port, "port", 1..=u16::MAX, defaults::PORT);
    let (metrics_port, service_monitor, pod_monitor) =
        network::metrics(&mut c, raw.metrics_port, raw.metrics, port);
    let network_policy = raw.network_policy.is_none_or(|n| *n.get_ref());
    let network = network::network(&mut c, raw.network);
    let expose = expose::farm_table(&mut c, raw.expose);
    let cluster_domain = c.text(
        raw.cluster_domain,
        "cluster_domain",
        defaults::CLUSTER_DOMAIN,
        syntax::dns_subdomain,
    );
    let extra_args = buildkitd::extra_args(&mut c, raw.extra_args);
    let drain_seconds = c.seconds(raw.drain_seconds, "drain_seconds", defaults::DRAIN_SECONDS);
    let read_only_root = read_only_root(&mut c, raw.read_only_root_filesystem, &profile, mode);

    let probes = probes(&mut c, raw.probes);

    let (tls, pool_refs) = tls::tls(&mut c, raw.tls, &name, base, certs_dir);
    let gc = raw.gc.map(|g| buildkitd::gc(&mut c, g, buildkit, "gc"));
    let history = buildkitd::history(&mut c, raw.history, buildkit);
    let buildkitd = raw
        .buildkitd
        .map(|t| buildkitd::passthrough(&mut c, t))
        .unwrap_or_default();
    let extra_volumes = volumes(&mut c, raw.extra_volume, &profile, read_only_root);
    let mut pools = pool::pools(&mut c, raw.pool, &name, expose.as_ref(), buildkit);
    let untrusted = trust::Untrusted {
        network_policy,
        extra_args: &extra_args,
        buildkitd: &buildkitd,
    };
    trust::domains(&mut c, &tls, pool_refs, &mut pools, &untrusted);
    unique_objects(&mut c, &name, &namespace, &tls, &pools, service_monitor);

    if c.errors.is_empty() {
        Ok(Farm {
            source: src.clone(),
            spans: c.spans,
            name,
            namespace,
            create_namespace: raw.create_namespace.unwrap_or(true),
            mode,
            profile,
            image,
            buildkit,
            kubernetes,
            port,
            cluster_domain,
            debug: raw.debug.unwrap_or(false),
            metrics_port,
            service_monitor,
            pod_monitor,
            network_policy,
            network,
            extra_args,
            drain_seconds,
            read_only_root,
            probes,
            tls,
            gc,
            history,
            buildkitd,
            extra_volumes,
            pools,
        })
    } else {
        Err(Invalid(c.errors))
    }
}

/// `name` and `namespace`: DNS labels; the farm never lives in a namespace that holds
/// everything else.
fn identity(
    c: &mut Checker,
    name: Option<Spanned<String>>,
    namespace: Option<Spanned<String>>,
) -> (String, String) {
    let name = c.text(name, "name", defaults::NAME, |s| {
        syntax::dns_label(s)?;
        match s.starts_with(|ch: char| ch.is_ascii_lowercase()) {
            true => Ok(()),
            false => Err("it must start with a letter (Service names are DNS-1035 labels)".into()),
        }
    });
    let namespace_span = namespace.as_ref().map(Spanned::span);
    let namespace = c.text(
        namespace,
        "namespace",
        defaults::NAMESPACE,
        syntax::dns_label,
    );
    if let Some(span) =
        namespace_span.filter(|_| syntax::RESERVED_NAMESPACES.contains(&namespace.as_str()))
    {
        // Its Pod Security labels would have to admit privileged pods, for everything else in it.
        let message = format!(
            "a build farm must not run in `{namespace}`: the daemons run every CI job's code and need a namespace that admits privileged pods"
        );
        let hint = "give the farm its own namespace, e.g. `namespace = \"buildkit\"`; if another tool creates it, add `create_namespace = false`";
        c.error(Rule::NamespaceReserved, span, message, Some(hint.into()));
    }
    (name, namespace)
}

/// A read-only root filesystem where the profile knows where the daemon writes.
fn read_only_root(
    c: &mut Checker,
    raw: Option<Spanned<bool>>,
    profile: &Profile,
    mode: Mode,
) -> bool {
    match raw {
        None => !profile.writable.is_empty(),
        Some(v) if *v.get_ref() && profile.writable.is_empty() => {
            let message = format!(
                "mode `{}` cannot run on a read-only root filesystem: where its daemon writes is not known",
                mode.as_str()
            );
            let hint =
                "remove `read_only_root_filesystem`; a privileged daemon could remount it anyway";
            c.error(Rule::Unsupported, v.span(), message, Some(hint.into()));
            false
        }
        Some(v) => *v.get_ref(),
    }
}

fn probes(c: &mut Checker, raw: Option<Spanned<super::raw::RawProbes>>) -> Probes {
    let p = raw.map(Spanned::into_inner).unwrap_or_default();
    Probes {
        timeout_seconds: c.seconds(
            p.timeout_seconds,
            "probes.timeout_seconds",
            defaults::PROBE_TIMEOUT_SECONDS,
        ),
        readiness_period_seconds: c.seconds(
            p.readiness_period_seconds,
            "probes.readiness_period_seconds",
            defaults::READINESS_PERIOD_SECONDS,
        ),
        liveness_period_seconds: c.seconds(
            p.liveness_period_seconds,
            "probes.liveness_period_seconds",
            defaults::LIVENESS_PERIOD_SECONDS,
        ),
        liveness_failure_threshold: c.int(
            p.liveness_failure_threshold,
            "probes.liveness_failure_threshold",
            1..=100,
            defaults::LIVENESS_FAILURE_THRESHOLD,
        ),
        startup_seconds: c.seconds(
            p.startup_seconds,
            "probes.startup_seconds",
            defaults::STARTUP_SECONDS,
        ),
    }
}

/// No two rendered objects may share a kind, namespace and name (the second would silently
/// replace the first on apply). Reported at the spec entry that makes the second name.
fn unique_objects(
    c: &mut Checker,
    name: &str,
    namespace: &str,
    tls: &super::model::Tls,
    pools: &[super::model::Pool],
    metrics_service: bool,
) {
    // (kind, namespace, name, where in the spec, what made it)
    let mut objects: Vec<(&str, &str, String, String, String)> = Vec::new();
    for (i, pool) in pools.iter().enumerate() {
        let (at, what) = (format!("pool.{i}.name"), format!("pool `{}`", pool.name));
        for (part, object) in names::pool_objects(name, pool) {
            objects.push((part.kind(), namespace, object, at.clone(), what.clone()));
        }
    }
    if metrics_service {
        objects.push((
            "Service",
            namespace,
            names::metrics_service(name),
            "metrics".into(),
            "`[metrics] service_monitor`".into(),
        ));
    }
    objects.push((
        "Secret",
        namespace,
        tls.secret.clone(),
        "tls.secret".into(),
        "`tls.secret`".into(),
    ));
    for (i, client) in tls.clients.iter().enumerate() {
        if let Some(ns) = &client.namespace {
            let what = format!("client `{}`", client.name);
            objects.push((
                "Secret",
                ns,
                names::client_secret(name, &client.name),
                format!("tls.client.{i}.name"),
                what,
            ));
        }
    }
    let mut seen = std::collections::HashMap::new();
    for (kind, ns, object, at, what) in objects {
        let Some(first) = seen.insert((kind, ns, object.clone()), what.clone()) else {
            continue;
        };
        if first == what {
            continue; // two pools of one name: reported as such
        }
        let span = [at.as_str(), at.rsplit_once('.').map_or("", |(p, _)| p)]
            .iter()
            .find_map(|k| c.spans.value(k))
            .unwrap_or(0..0);
        let message = format!(
            "{what} and {first} would both render the {kind} `{object}` in namespace `{ns}`"
        );
        let hint = "rename one of them: the second would replace the first when applied";
        c.error(Rule::DuplicateObject, span, message, Some(hint.into()));
    }
}

fn buildkit_version(
    c: &mut Checker,
    image: &str,
    image_span: Option<Range<usize>>,
    explicit: Option<Spanned<String>>,
) -> Version {
    let from_tag = buildkit_version_of(image);
    match explicit {
        Some(v) => match Version::parse(v.get_ref()) {
            None => {
                let message = format!("`buildkit_version` = `{}` is not a version", v.get_ref());
                c.error(Rule::InvalidValue, v.span(), message, Some("write a release like `0.17.1`".into()));
                Version::new(0, 0, 0)
            }
            Some(ver) => {
                if let Some(tag) = from_tag.filter(|t| *t != ver) {
                    let message = format!("`buildkit_version` {ver} disagrees with the image tag, which says {tag}");
                    c.error(Rule::BuildkitVersionMismatch, v.span(), message, Some("remove `buildkit_version`: the tag already tells".into()));
                }
                ver
            }
        },
        None => from_tag.unwrap_or_else(|| {
            let message = format!("cannot tell which BuildKit release `{image}` runs");
            let newest = super::releases::buildkit().newest().latest;
            let bare = newest.to_string().trim_start_matches('v').to_string();
            let hint = format!("buildkitd.toml keys depend on it: pin a release tag such as `moby/buildkit:{newest}`, or set `buildkit_version = \"{bare}\"`");
            c.error(Rule::BuildkitVersionUnknown, image_span.unwrap_or(0..0), message, Some(hint));
            Version::new(0, 0, 0)
        }),
    }
}

fn kubernetes_version(
    c: &mut Checker,
    value: Option<Spanned<String>>,
    profile: &Profile,
    mode: Mode,
    mode_span: Range<usize>,
) -> KubeVersion {
    let table = super::releases::kubernetes();
    let span = value.as_ref().map(Spanned::span);
    let version = match value.as_ref().map(|v| (v, KubeVersion::parse(v.get_ref()))) {
        None => table.default_target(),
        Some((_, Some(version))) => version,
        Some((text, None)) => {
            let message = format!(
                "`kubernetes` = `{}` is not a Kubernetes version",
                text.get_ref()
            );
            let hint = format!(
                "write the oldest cluster version, like `{}`",
                table.default_target()
            );
            c.error(Rule::InvalidValue, text.span(), message, Some(hint));
            return table.default_target();
        }
    };
    let oldest = table.releases[0].minor;
    if version < oldest {
        let message = format!(
            "Kubernetes {version} is older than the oldest release buildfarm knows, {oldest}"
        );
        c.error(
            Rule::KubernetesTooOld,
            span.clone().unwrap_or(0..0),
            message,
            None,
        );
    }
    if !profile.host_users {
        let needed = table.since("user-namespaces");
        if version < needed {
            let message = format!(
                "mode `{}` needs Kubernetes {needed} or newer, the farm targets {version}",
                mode.as_str()
            );
            let hint = format!(
                "user namespaces (`hostUsers: false`) are on by default from {needed}: raise `kubernetes`, or use `mode = \"rootless\"`"
            );
            c.error(
                Rule::KubernetesTooOld,
                span.unwrap_or(mode_span),
                message,
                Some(hint),
            );
        }
    }
    version
}

fn volumes(
    c: &mut Checker,
    raw: Option<Vec<Spanned<super::raw::RawVolume>>>,
    profile: &Profile,
    read_only_root: bool,
) -> Vec<Volume> {
    let raw = raw.unwrap_or_default().into_iter().enumerate();
    raw.map(|(i, v)| volume(c, v, profile, read_only_root, i))
        .collect()
}

fn volume(
    c: &mut Checker,
    raw: Spanned<super::raw::RawVolume>,
    profile: &Profile,
    read_only_root: bool,
    index: usize,
) -> Volume {
    let span = raw.span();
    let v = raw.into_inner();
    if v.name.is_none() || v.mount_path.is_none() || v.source.is_none() {
        let hint = "write `{ name = \"registry-ca\", mount_path = \"/etc/ssl/registry\", source = { secret = { secretName = \"registry-ca\" } } }`";
        c.error(
            Rule::MissingKey,
            span.clone(),
            "an `[[extra_volume]]` needs `name`, `mount_path` and `source`",
            Some(hint.into()),
        );
    }
    let name = c.text(v.name, "extra_volume.name", "", |s| {
        syntax::dns_label(s)?;
        match BUILT_IN_VOLUMES.contains(&s) {
            true => Err(format!(
                "{} are the daemon's own volumes",
                one_of(&BUILT_IN_VOLUMES)
            )),
            false => Ok(()),
        }
    });
    // Over a read-only root, the folders the daemon writes (`/tmp` among them) are mounted too.
    let writable = profile.writable.iter().filter(|_| read_only_root);
    let taken: Vec<&str> = [
        profile.state_dir.as_str(),
        profile.config_dir.as_str(),
        CERTS_DIR,
    ]
    .into_iter()
    .chain(writable.map(|w| w.path.as_str()))
    .collect();
    let mount_path = c.text(v.mount_path, "extra_volume.mount_path", "", |s| {
        match (s.starts_with('/'), taken.contains(&s.trim_end_matches('/'))) {
            (false, _) => Err("it must be an absolute path".into()),
            (true, true) => Err(format!(
                "the daemon's own volumes are mounted there ({})",
                taken.join(", ")
            )),
            _ => Ok(()),
        }
    });
    let source = v.source.map(|s| {
        if s.get_ref().len() != 1 {
            let message = "`extra_volume.source` must hold exactly one volume type";
            c.error(
                Rule::InvalidValue,
                s.span(),
                message,
                Some("e.g. `{ configMap = { name = \"x\" } }`".into()),
            );
        }
        schema::check_entry(
            c,
            &s,
            &schema::VOLUME_SOURCE,
            ("extra_volume", index, "source"),
        );
        s.into_inner()
    });
    Volume {
        name,
        mount_path,
        read_only: v.read_only.unwrap_or(true),
        source: source.unwrap_or_default(),
    }
}
