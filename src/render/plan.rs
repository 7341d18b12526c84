//! Which objects a `Farm` renders to (`plan`, and `PoolPlan::objects` on the thread that
//! renders them), each with its template context; the bigger contexts are built in `objects/`.
//! Every name, label, path and version-dependent choice is made before the templates, which
//! only lay out YAML.

use base64::Engine as _;
use indexmap::IndexMap;

use super::config::buildkitd_toml;
use super::kind::Kind;
use super::meta::{ObjectSpec, checksum, labels, selector};
use super::objects::{autoscale, basic, cert_manager, expose, network, statefulset};
use super::parallel;
use crate::certs::{Material, Pair};
use crate::farm::names::PoolPart;
use crate::farm::{Farm, Pool, TlsMode};

const CONFIG_FILE: &str = "buildkitd.toml";

/// What a farm renders to: the farm-wide objects' contexts, and per pool what its objects are
/// built from (on whichever thread renders them).
pub(super) struct Plan<'a> {
    pub farm_wide: Vec<ObjectSpec>,
    pub pools: Vec<PoolPlan<'a>>,
}

pub(super) struct PoolPlan<'a> {
    farm: &'a Farm,
    pool: &'a Pool,
    config_key: String,
    checksum: String,
    /// With trust domains: the CAs of the clients the pool admits, one PEM bundle.
    client_cas: String,
}

impl PoolPlan<'_> {
    /// The pool's Service, headless Service, StatefulSet and PodDisruptionBudget, and its way in
    /// from outside (`[expose]`).
    pub(super) fn objects(&self) -> Vec<ObjectSpec> {
        let (farm, pool, ns) = (self.farm, self.pool, &self.farm.namespace);
        let selector = selector(farm, pool);
        let pool_labels = labels(farm, "daemon", Some(pool));
        let service = |name: String, headless, load_balancer, selector: &basic::Labels| {
            let ctx = basic::Service {
                name: &name,
                namespace: ns,
                labels: &pool_labels,
                selector,
                headless,
                load_balancer,
                port: farm.port,
                port_name: "buildkitd",
            };
            ObjectSpec::new(Kind::Service, name.clone(), Some(ns), ctx)
        };
        let outside = |expose| expose::Services {
            farm,
            pool,
            labels: &pool_labels,
            selector: &selector,
            expose,
        };
        // The one list of a pool's objects (the duplicate check reads it too), matched
        // exhaustively: a new kind of per-pool object does not compile until it renders here.
        crate::farm::names::pool_objects(&farm.name, pool)
            .into_iter()
            .map(|(part, name)| match part {
                PoolPart::Service => service(name, false, None, &selector),
                PoolPart::Headless => service(name, true, None, &selector),
                PoolPart::StatefulSet => {
                    let ctx = statefulset::context(farm, pool, &self.config_key, &self.checksum);
                    ObjectSpec::new(Kind::StatefulSet, name, Some(ns), ctx)
                }
                PoolPart::PodDisruptionBudget => {
                    let ctx = basic::Selecting {
                        name: &name,
                        namespace: ns,
                        labels: &pool_labels,
                        selector: &selector,
                    };
                    ObjectSpec::new(Kind::PodDisruptionBudget, name.clone(), Some(ns), ctx)
                }
                PoolPart::Autoscaler { .. } => {
                    let a = pool
                        .autoscale
                        .as_ref()
                        .expect("listed for autoscaled pools");
                    autoscale::object(farm, pool, a, &pool_labels, name)
                }
                PoolPart::ExternalService
                | PoolPart::PodExternalService(_)
                | PoolPart::Route
                | PoolPart::PodService(_)
                | PoolPart::PodRoute(_) => {
                    let e = pool.expose.as_ref().expect("listed for exposed pools");
                    outside(e).object(part, name)
                }
                PoolPart::ClientCas => self.client_cas(name, &pool_labels),
                PoolPart::NetworkPolicy => network::pool_policy(farm, pool, name),
                #[cfg(test)]
                PoolPart::Probe => service(name, false, None, &selector),
            })
            .collect()
    }
}

impl PoolPlan<'_> {
    /// With trust domains, the ConfigMap of the CAs of the clients the pool admits.
    fn client_cas(&self, name: String, labels: &basic::Labels) -> ObjectSpec {
        let (pool, ns) = (self.pool, &self.farm.namespace);
        let mut data = IndexMap::new();
        data.insert("ca.crt".to_string(), self.client_cas.clone());
        let clients = pool.trust.as_ref().and_then(|t| t.clients.as_ref());
        let comment = clients.map(|c| {
            format!(
                "Trust domains: the CAs of the clients pool {} admits ({}), its daemons' grpc.tls.ca.",
                pool.name,
                c.join(", ")
            )
        });
        let ctx = basic::Data {
            name: &name,
            namespace: ns,
            labels: labels.clone(),
            data,
            comment,
        };
        ObjectSpec::new(Kind::ConfigMap, name.clone(), Some(ns), ctx)
    }
}

/// The farm's objects; Secrets (private keys) only when `secrets`.
pub(super) fn plan<'a>(farm: &'a Farm, certs: Option<&Material>, secrets: bool) -> Plan<'a> {
    let ns = &farm.namespace;
    let mut out: Vec<ObjectSpec> = farm
        .create_namespace
        .then(|| namespace(farm))
        .into_iter()
        .collect();
    let name = farm.service_account();
    let ctx = basic::ServiceAccount {
        name: &name,
        namespace: ns,
        labels: labels(farm, "daemon", None),
    };
    out.push(ObjectSpec::new(
        Kind::ServiceAccount,
        name.clone(),
        Some(ns),
        ctx,
    ));

    let configs = Configs::of(farm, certs);
    let name = farm.config_map();
    let ctx = basic::Data {
        name: &name,
        namespace: ns,
        labels: labels(farm, "config", None),
        data: configs.data,
        comment: None,
    };
    out.push(ObjectSpec::new(
        Kind::ConfigMap,
        name.clone(),
        Some(ns),
        ctx,
    ));

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
        .zip(configs.keys)
        .zip(configs.checksums)
        .map(|((pool, config_key), checksum)| {
            let client_cas = pool_client_cas(pool, certs);
            // The pool's own trust is part of what its pods run with: a change rolls them.
            let checksum = match client_cas.is_empty() {
                true => checksum,
                false => super::meta::checksum(&(checksum + &client_cas), None),
            };
            PoolPlan {
                farm,
                pool,
                config_key,
                checksum,
                client_cas,
            }
        })
        .collect();
    Plan {
        farm_wide: out,
        pools,
    }
}

/// With trust domains, the CAs of the clients `pool` admits, in spec order; else empty.
fn pool_client_cas(pool: &Pool, certs: Option<&Material>) -> String {
    let clients = pool.trust.as_ref().and_then(|t| t.clients.as_ref());
    let (Some(clients), Some(m)) = (clients, certs) else {
        return String::new();
    };
    clients
        .iter()
        .filter_map(|c| m.client_cas.iter().find(|(n, _)| n == c))
        .map(|(_, pem)| pem.as_str())
        .collect()
}

/// The ConfigMap's buildkitd.toml files, and per pool which one it mounts and its checksum.
struct Configs {
    data: IndexMap<String, String>,
    keys: Vec<String>,
    checksums: Vec<String>,
}

impl Configs {
    fn of(farm: &Farm, certs: Option<&Material>) -> Configs {
        // The certificates are the same for every pool: hash them once (a big farm's daemon
        // certificate lists thousands of names).
        let certs_digest = certs.map(digest_of);
        // A buildkitd.toml per distinct volume and GC (pools usually share one), with its
        // checksum: a pool stands for the others like it.
        let mut volumes: Vec<&Pool> = Vec::new();
        let alike = |a: &Pool, b: &Pool| a.storage == b.storage && a.gc(farm) == b.gc(farm);
        let volume_of: Vec<usize> = farm
            .pools
            .iter()
            .map(|pool| {
                volumes
                    .iter()
                    .position(|v| alike(v, pool))
                    .unwrap_or_else(|| {
                        volumes.push(pool);
                        volumes.len() - 1
                    })
            })
            .collect();
        let configs = parallel::map(&volumes, 64, |&pool| {
            let text = buildkitd_toml(farm, pool);
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
        let keys: Vec<String> = farm.pools.iter().map(config_key).collect();
        let checksums = volume_of.iter().map(|&v| configs[v].1.clone()).collect();
        Configs {
            data,
            keys,
            checksums,
        }
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
    let ctx = basic::Namespace {
        name: ns,
        labels: labels(farm, "namespace", None),
        pod_security_reason: reason,
    };
    ObjectSpec::new(Kind::Namespace, ns.clone(), None, ctx)
}

/// The daemons' Secret, and each client's in the client's namespace.
fn tls_secrets(farm: &Farm, m: &Material) -> Vec<ObjectSpec> {
    let ns = &farm.namespace;
    let mut out = Vec::new();
    let mut push = |name: &String, namespace: &String, component, pair| {
        let ctx = secret_context(
            name,
            namespace,
            labels(farm, component, None),
            &m.ca_bundle,
            pair,
        );
        out.push(ObjectSpec::new(
            Kind::Secret,
            name.clone(),
            Some(namespace),
            ctx,
        ));
    };
    push(&farm.tls.secret, ns, "tls", &m.daemon);
    for client in farm.tls.clients.iter().filter(|c| c.namespace.is_some()) {
        let Some((_, pair)) = m.clients.iter().find(|(name, _)| *name == client.name) else {
            continue;
        };
        let client_ns = client.namespace.as_ref().expect("filtered on namespace");
        push(
            &farm.client_secret(&client.name),
            client_ns,
            "client-tls",
            pair,
        );
    }
    out
}

/// A kubernetes.io/tls Secret: the trusted CA bundle and one certificate with its key.
fn secret_context<'a>(
    name: &'a str,
    namespace: &'a str,
    labels: basic::Labels,
    ca: &str,
    pair: &Pair,
) -> basic::Data<'a> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let data = [
        ("ca.crt".to_string(), b64(ca)),
        ("tls.crt".to_string(), b64(&pair.crt)),
        ("tls.key".to_string(), b64(&pair.key)),
    ]
    .into();
    basic::Data {
        name,
        namespace,
        labels,
        data,
        comment: None,
    }
}

#[cfg(test)]
mod probe_tests {
    use crate::rule::Rule;

    /// Whatever a pool renders, the duplicate check sees: `PoolPart::Probe` stands in for the
    /// next per-pool object (unit tests only), and its collision is caught like any other.
    #[test]
    fn a_new_per_pool_object_is_in_the_duplicate_check() {
        let spec = "name = \"bk\"\n[[pool]]\narch = \"amd64\"\nname = \"a\"\n[[pool]]\narch = \"amd64\"\nname = \"a-probe\"\n";
        let err = crate::farm::parse_str(spec)
            .expect_err("pool `a`'s probe is named like pool `a-probe`'s Service");
        let d = err
            .0
            .iter()
            .find(|d| d.rule == Rule::DuplicateObject)
            .unwrap_or_else(|| panic!("{err}"));
        assert!(d.message.contains("Service `bk-a-probe`"), "{}", d.message);
        // And the renderer renders exactly what the list names, the probe included.
        let ok = "name = \"bk\"\n[[pool]]\narch = \"amd64\"\nname = \"a\"\n";
        let farm = crate::farm::parse_str(ok).unwrap();
        let objects =
            crate::render::render(&farm, None, crate::render::Options { secrets: false }).unwrap();
        assert!(objects.iter().any(|o| o.name == "bk-a-probe"));
    }
}
