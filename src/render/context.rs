//! Where a `Farm` turns into template contexts (`plan`, and `PoolPlan::objects` on the thread
//! that renders them): every name, label, path and version-dependent choice is made here, so
//! templates only lay out YAML.

use base64::Engine as _;
use indexmap::IndexMap;
use minijinja::value::Serde;
use minijinja::{Value, context};
use toml::Value as T;

use super::config::buildkitd_toml;
use super::{Kind, parallel};
use crate::certs::{Material, Pair};
use crate::farm::defaults::CERTS_DIR;
use crate::farm::releases;
use crate::farm::version::image_ref;
use crate::farm::{Farm, Pool, Storage, TlsMode};

/// An object to render: its kind, identity and template context.
pub struct ObjectSpec {
    pub kind: Kind,
    pub name: String,
    pub namespace: Option<String>,
    pub context: Value,
}

impl ObjectSpec {
    pub(super) fn new(
        kind: Kind,
        name: String,
        namespace: Option<&String>,
        context: Value,
    ) -> Self {
        let namespace = namespace.cloned();
        ObjectSpec {
            kind,
            name,
            namespace,
            context,
        }
    }
}

const POOL_LABEL: &str = "buildfarm/pool";
const CONFIG_FILE: &str = "buildkitd.toml";

/// What a farm renders to: the farm-wide objects' contexts, and per pool what its objects are
/// built from (on whichever thread renders them).
pub struct Plan<'a> {
    pub farm_wide: Vec<ObjectSpec>,
    pub pools: Vec<PoolPlan<'a>>,
}

pub struct PoolPlan<'a> {
    farm: &'a Farm,
    pool: &'a Pool,
    config_key: String,
    checksum: String,
}

impl PoolPlan<'_> {
    /// The pool's Service, headless Service, StatefulSet and PodDisruptionBudget.
    pub fn objects(&self) -> [ObjectSpec; 4] {
        let (farm, pool, ns) = (self.farm, self.pool, &self.farm.namespace);
        let selector = selector(farm, pool);
        let pool_labels = labels(farm, "daemon", Some(pool));
        let service = |name: String, headless| {
            let ctx = context! {
                name => &name, namespace => ns, labels => Serde(&pool_labels), selector => Serde(&selector), headless, port => farm.port, port_name => "buildkitd",
            };
            ObjectSpec::new(Kind::Service, name, Some(ns), ctx)
        };
        let statefulset = statefulset(farm, pool, &self.config_key, &self.checksum);
        let pdb = context! { name => farm.pool_object(pool), namespace => ns, labels => Serde(&pool_labels), selector => Serde(&selector) };
        [
            service(farm.pool_object(pool), false),
            service(farm.headless_service(pool), true),
            ObjectSpec::new(
                Kind::StatefulSet,
                farm.pool_object(pool),
                Some(ns),
                statefulset,
            ),
            ObjectSpec::new(
                Kind::PodDisruptionBudget,
                farm.pool_object(pool),
                Some(ns),
                pdb,
            ),
        ]
    }
}

/// The farm's objects; Secrets (private keys) only when `secrets`.
pub fn plan<'a>(farm: &'a Farm, certs: Option<&Material>, secrets: bool) -> Plan<'a> {
    let ns = &farm.namespace;
    let mut out = Vec::new();
    let mut push = |kind, name, namespace: Option<&String>, context| {
        out.push(ObjectSpec::new(kind, name, namespace, context));
    };

    if farm.create_namespace {
        let reason = match farm.profile.privileged {
            true => "buildkitd runs privileged: only the privileged level admits it.",
            false => {
                "rootless BuildKit needs seccomp and AppArmor Unconfined: only the privileged level admits it."
            }
        };
        let ctx = context! { name => ns, labels => Serde(labels(farm, "namespace", None)), pod_security_reason => reason };
        push(Kind::Namespace, ns.clone(), None, ctx);
    }
    let ctx = context! { name => farm.service_account(), namespace => ns, labels => Serde(labels(farm, "daemon", None)) };
    push(Kind::ServiceAccount, farm.service_account(), Some(ns), ctx);

    // The certificates are the same for every pool: hash them once (a big farm's daemon
    // certificate lists thousands of names).
    let certs_digest = certs.map(|m| {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [&m.ca_bundle, &m.daemon.crt, &m.daemon.key] {
            ctx.update(part.as_bytes());
            ctx.update(b"\0");
        }
        ctx.finish()
    });
    // A buildkitd.toml per distinct volume (pools usually share one), with its checksum.
    let mut volumes: Vec<Option<&Storage>> = Vec::new();
    let volume_of: Vec<usize> = farm
        .pools
        .iter()
        .map(|pool| {
            let volume = pool.storage.as_ref();
            volumes
                .iter()
                .position(|v| *v == volume)
                .unwrap_or_else(|| {
                    volumes.push(volume);
                    volumes.len() - 1
                })
        })
        .collect();
    let configs = parallel::map(&volumes, 64, |&volume| {
        let text = buildkitd_toml(farm, volume);
        let checksum = checksum(&text, certs_digest.as_ref());
        (text, checksum)
    });
    // One buildkitd.toml when the pools agree (the usual case), else one key per pool.
    let shared = configs.windows(2).all(|w| w[0].0 == w[1].0);
    let config_key = |pool: &Pool| match shared {
        true => CONFIG_FILE.to_string(),
        false => format!("buildkitd-{}.toml", pool.name),
    };
    let mut data = IndexMap::new();
    for (pool, &v) in farm.pools.iter().zip(&volume_of) {
        data.entry(config_key(pool))
            .or_insert_with(|| configs[v].0.clone());
    }
    let ctx = context! { name => farm.config_map(), namespace => ns, labels => Serde(labels(farm, "config", None)), data => Serde(data) };
    push(Kind::ConfigMap, farm.config_map(), Some(ns), ctx);

    if let Some(m) = certs.filter(|_| secrets) {
        let ctx = secret_context(
            &farm.tls.secret,
            ns,
            labels(farm, "tls", None),
            &m.ca_bundle,
            &m.daemon,
        );
        push(Kind::Secret, farm.tls.secret.clone(), Some(ns), ctx);
        for client in farm.tls.clients.iter().filter(|c| c.namespace.is_some()) {
            let Some((_, pair)) = m.clients.iter().find(|(name, _)| *name == client.name) else {
                continue;
            };
            let client_ns = client.namespace.as_ref().expect("filtered on namespace");
            let name = farm.client_secret(&client.name);
            let ctx = secret_context(
                &name,
                client_ns,
                labels(farm, "client-tls", None),
                &m.ca_bundle,
                pair,
            );
            push(Kind::Secret, name, Some(client_ns), ctx);
        }
    }
    if farm.tls.mode == TlsMode::CertManager {
        out.extend(super::cert_manager::objects(farm));
    }

    let pools = farm
        .pools
        .iter()
        .zip(volume_of)
        .map(|(pool, v)| PoolPlan {
            farm,
            pool,
            config_key: config_key(pool),
            checksum: configs[v].1.clone(),
        })
        .collect();
    Plan {
        farm_wide: out,
        pools,
    }
}

/// A kubernetes.io/tls Secret: the trusted CA bundle and one certificate with its key.
fn secret_context(
    name: &str,
    namespace: &str,
    labels: IndexMap<&'static str, String>,
    ca: &str,
    pair: &Pair,
) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let data: IndexMap<&str, String> = [
        ("ca.crt", b64(ca)),
        ("tls.crt", b64(&pair.crt)),
        ("tls.key", b64(&pair.key)),
    ]
    .into();
    context! { name, namespace, labels => Serde(labels), data => Serde(data) }
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
fn selector(farm: &Farm, pool: &Pool) -> IndexMap<&'static str, String> {
    let mut l = farm_selector(farm);
    l.insert(POOL_LABEL, pool.name.clone());
    l
}

/// Changes whenever buildkitd.toml or the certificates change, so `kubectl apply` restarts the
/// daemons (buildkitd reads both only at start).
fn checksum(config: &str, certs: Option<&ring::digest::Digest>) -> String {
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

fn table<const N: usize>(pairs: [(&str, T); N]) -> T {
    T::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn s(text: impl Into<String>) -> T {
    T::String(text.into())
}

fn statefulset(farm: &Farm, pool: &Pool, config_key: &str, checksum: &str) -> Value {
    let profile = &farm.profile;
    let apparmor_field = farm.kubernetes >= releases::kubernetes().since("apparmor-field");

    let mut annotations = IndexMap::new();
    annotations.insert("checksum/config".to_string(), checksum.to_string());
    if profile.unconfined && !apparmor_field {
        annotations.insert(
            "container.apparmor.security.beta.kubernetes.io/buildkitd".to_string(),
            "unconfined".to_string(),
        );
    }
    annotations.extend(pool.pod_annotations.clone());

    let mut pod_security = toml::Table::new();
    if let Some(group) = profile.fs_group {
        pod_security.insert("fsGroup".into(), T::Integer(group.into()));
        // Only chown the cache volume when its root is not ours yet: a full walk of a warm
        // cache would delay every restart.
        pod_security.insert("fsGroupChangePolicy".into(), s("OnRootMismatch"));
    }
    let mut container_security = toml::Table::new();
    if profile.privileged {
        container_security.insert("privileged".into(), T::Boolean(true));
    }
    if let Some(uid) = profile.run_as_user {
        container_security.insert("runAsUser".into(), T::Integer(uid.into()));
        container_security.insert("runAsNonRoot".into(), T::Boolean(true));
    }
    if let Some(gid) = profile.run_as_group {
        container_security.insert("runAsGroup".into(), T::Integer(gid.into()));
    }
    if let Some(add) = &profile.capabilities {
        let list = |names: &[String]| T::Array(names.iter().map(s).collect());
        container_security.insert(
            "capabilities".into(),
            table([("drop", list(&["ALL".to_string()])), ("add", list(add))]),
        );
    }
    if farm.read_only_root {
        container_security.insert("readOnlyRootFilesystem".into(), T::Boolean(true));
    }
    if profile.unconfined {
        container_security.insert("seccompProfile".into(), table([("type", s("Unconfined"))]));
        if apparmor_field {
            container_security.insert("appArmorProfile".into(), table([("type", s("Unconfined"))]));
        }
    }

    let mut node_selector = IndexMap::new();
    node_selector.insert("kubernetes.io/arch".to_string(), pool.arch.clone());
    node_selector.extend(pool.node_selector.clone());

    let mut args = vec!["--config".to_string(), profile.config_path()];
    args.extend(profile.args.iter().cloned());
    args.extend(farm.extra_args.iter().cloned());

    let mut mounts = vec![
        table([("name", s("state")), ("mountPath", s(&profile.state_dir))]),
        table([
            ("name", s("config")),
            ("mountPath", s(&profile.config_dir)),
            ("readOnly", T::Boolean(true)),
        ]),
        table([
            ("name", s("certs")),
            ("mountPath", s(CERTS_DIR)),
            ("readOnly", T::Boolean(true)),
        ]),
    ];
    let items = T::Array(vec![table([
        ("key", s(config_key)),
        ("path", s("buildkitd.toml")),
    ])]);
    let mut volumes = vec![
        table([
            ("name", s("config")),
            (
                "configMap",
                table([("name", s(farm.config_map())), ("items", items)]),
            ),
        ]),
        // 0440: readable by the daemon's group (fsGroup) without being world-readable.
        table([
            ("name", s("certs")),
            (
                "secret",
                table([
                    ("secretName", s(&farm.tls.secret)),
                    ("defaultMode", T::Integer(0o440)),
                ]),
            ),
        ]),
    ];
    if pool.storage.is_none() {
        volumes.insert(0, table([("name", s("state")), ("emptyDir", table([]))]));
    }
    // Over a read-only root filesystem, the folders the daemon writes.
    for w in profile.writable.iter().filter(|_| farm.read_only_root) {
        mounts.push(table([("name", s(&w.name)), ("mountPath", s(&w.path))]));
        volumes.push(table([("name", s(&w.name)), ("emptyDir", table([]))]));
    }
    for v in &farm.extra_volumes {
        mounts.push(table([
            ("name", s(&v.name)),
            ("mountPath", s(&v.mount_path)),
            ("readOnly", T::Boolean(v.read_only)),
        ]));
        let mut volume = toml::Table::new();
        volume.insert("name".into(), s(&v.name));
        volume.extend(v.source.clone());
        volumes.push(T::Table(volume));
    }

    let probe_command = [
        "buildctl",
        "--addr",
        profile.socket.as_str(),
        "debug",
        "workers",
    ];
    // Idle means no established connection (state 01) to the build port in two looks 5 s
    // apart: one look catches a client between two builds, or reconnecting, as idle. The
    // grace period (`drain_seconds`) bounds the wait.
    let port_hex = format!("{:04X}", farm.port);
    let drain = format!(
        "idle=0; while [ \"$idle\" -lt 2 ]; do sleep 5; \
         if grep -qE '^ *[0-9]+: [0-9A-F]+:{port_hex} [0-9A-F]+:[0-9A-F]+ 01 ' /proc/net/tcp /proc/net/tcp6 2>/dev/null; \
         then idle=0; else idle=$((idle + 1)); fi; done"
    );
    let storage = pool
        .storage
        .as_ref()
        .map(|st| context! { quantity => &st.quantity, class => &pool.storage_class });

    context! {
        name => farm.pool_object(pool),
        namespace => &farm.namespace,
        labels => Serde(labels(farm, "daemon", Some(pool))),
        selector => Serde(selector(farm, pool)),
        service_name => farm.headless_service(pool),
        replicas => pool.replicas,
        pod_management_policy => &pool.pod_management_policy,
        pod_annotations => Serde(annotations),
        service_account => farm.service_account(),
        host_users => profile.host_users,
        priority_class_name => &pool.priority_class_name,
        drain_seconds => farm.drain_seconds,
        pod_security_context => Serde(pod_security),
        node_selector => Serde(node_selector),
        tolerations => Serde(&pool.tolerations),
        affinity => pool.affinity.as_ref().map(Serde),
        image => &farm.image,
        args => Serde(args),
        port => farm.port,
        metrics_port => farm.metrics_port,
        container_security_context => Serde(container_security),
        probe_command => Serde(probe_command),
        probes => context! {
            timeout_seconds => farm.probes.timeout_seconds,
            readiness_period_seconds => farm.probes.readiness_period_seconds,
            liveness_period_seconds => farm.probes.liveness_period_seconds,
            liveness_failure_threshold => farm.probes.liveness_failure_threshold,
        },
        startup_failure_threshold => farm.probes.startup_seconds.div_ceil(5),
        prestop_command => Serde(["/bin/sh", "-c", drain.as_str()]),
        requests => Serde(&pool.requests),
        // A moving or re-pushed tag resolves to one image on every node, and every pull checks
        // the registry's credentials; a digest names one image already.
        pull_policy => if image_ref(&farm.image).digest { "IfNotPresent" } else { "Always" },
        limits => Serde(&pool.limits),
        volume_mounts => Serde(mounts),
        volumes => Serde(volumes),
        storage,
    }
}
