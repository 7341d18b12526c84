//! Which objects a `Farm` renders to (`plan`, and `PoolPlan::objects` on the thread that
//! renders them), each with its template context; the bigger contexts are built in `objects/`.
//! Every name, label, path and version-dependent choice is made before the templates, which
//! only lay out YAML.

use base64::Engine as _;
use indexmap::IndexMap;
use minijinja::value::Serde;
use minijinja::{Value, context};

use super::config::buildkitd_toml;
use super::meta::{ObjectSpec, checksum, labels, selector};
use super::objects::{cert_manager, network, statefulset};
use super::{Kind, parallel};
use crate::certs::{Material, Pair};
use crate::farm::{Farm, Pool, Storage, TlsMode};

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
        let statefulset = statefulset::context(farm, pool, &self.config_key, &self.checksum);
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
    let mut out: Vec<ObjectSpec> = farm
        .create_namespace
        .then(|| namespace(farm))
        .into_iter()
        .collect();
    let mut push = |kind, name, namespace: Option<&String>, context| {
        out.push(ObjectSpec::new(kind, name, namespace, context));
    };
    let ctx = context! { name => farm.service_account(), namespace => ns, labels => Serde(labels(farm, "daemon", None)) };
    push(Kind::ServiceAccount, farm.service_account(), Some(ns), ctx);

    // The certificates are the same for every pool: hash them once (a big farm's daemon
    // certificate lists thousands of names).
    let certs_digest = certs.map(digest_of);
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
        out.extend(tls_secrets(farm, m));
    }
    if farm.tls.mode == TlsMode::CertManager {
        out.extend(cert_manager::objects(farm));
    }
    out.extend(network::objects(farm));

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

/// SHA-256 of what the daemons mount from the certificate Secret.
fn digest_of(m: &Material) -> ring::digest::Digest {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [&m.ca_bundle, &m.daemon.crt, &m.daemon.key] {
        ctx.update(part.as_bytes());
        ctx.update(b"\0");
    }
    ctx.finish()
}

/// The farm's Namespace, labelled with the Pod Security level its pods need.
fn namespace(farm: &Farm) -> ObjectSpec {
    let ns = &farm.namespace;
    let reason = match farm.profile.privileged {
        true => "buildkitd runs privileged: only the privileged level admits it.",
        false => {
            "rootless BuildKit needs seccomp and AppArmor Unconfined: only the privileged level admits it."
        }
    };
    let ctx = context! { name => ns, labels => Serde(labels(farm, "namespace", None)), pod_security_reason => reason };
    ObjectSpec::new(Kind::Namespace, ns.clone(), None, ctx)
}

/// The daemons' Secret, and each client's in the client's namespace.
fn tls_secrets(farm: &Farm, m: &Material) -> Vec<ObjectSpec> {
    let ns = &farm.namespace;
    let mut out = Vec::new();
    let mut push = |kind, name, namespace: Option<&String>, context| {
        out.push(ObjectSpec::new(kind, name, namespace, context));
    };
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
    out
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
