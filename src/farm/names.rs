//! Every name buildfarm gives: objects (`<name>-<pool>`, `<name>-config`, ...), the DNS names
//! clients and certificates use, and endpoints. Built here and nowhere else; the free
//! functions serve the checks that run before a `Farm` exists.

use super::model::{ExposeType, Farm, Pool};

/// A pool's StatefulSet, ClusterIP Service and PodDisruptionBudget.
pub(crate) fn pool_object(farm: &str, pool: &str) -> String {
    format!("{farm}-{pool}")
}

/// The headless Service that gives each pod of a pool a DNS name.
pub(crate) fn headless_service(farm: &str, pool: &str) -> String {
    format!("{farm}-{pool}-headless")
}

/// A pool's LoadBalancer Service (`[expose] type = "loadbalancer"`).
pub(crate) fn external_service(farm: &str, pool: &str) -> String {
    format!("{}-external", pool_object(farm, pool))
}

/// One daemon's LoadBalancer Service (`[expose] per_pod`).
pub(crate) fn pod_external_service(farm: &str, pool: &str, ordinal: u32) -> String {
    format!("{}-{ordinal}-external", pool_object(farm, pool))
}

/// One daemon by its pod's own name: its ClusterIP Service and TLSRoute (`[expose] type =
/// "gateway"`).
pub(crate) fn pod_object(farm: &str, pool: &str, ordinal: u32) -> String {
    format!("{}-{ordinal}", pool_object(farm, pool))
}

/// With trust domains: the ConfigMap holding the CAs of the clients a pool admits (its
/// daemons' `grpc.tls.ca`).
pub(crate) fn pool_client_cas(farm: &str, pool: &str) -> String {
    format!("{}-clients", pool_object(farm, pool))
}

/// One object of a pool. `pool_objects` lists them; the renderer builds a pool's objects by
/// matching over that list (exhaustively: a new variant does not compile until it renders) and
/// the duplicate-object check reads the same list, so no per-pool object escapes either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolPart {
    /// The ClusterIP Service clients use.
    Service,
    /// The headless Service that names each pod.
    Headless,
    StatefulSet,
    PodDisruptionBudget,
    /// The HorizontalPodAutoscaler (`cpu`) or KEDA ScaledObject (`builds_per_pod`).
    Autoscaler {
        keda: bool,
    },
    /// `[expose] type = "loadbalancer"`: the pool's LoadBalancer Service...
    ExternalService,
    /// ...and with `per_pod`, one per daemon.
    PodExternalService(u32),
    /// `[expose] type = "gateway"`: the pool's TLSRoute...
    Route,
    /// ...and with `per_pod`, a Service and a TLSRoute per daemon.
    PodService(u32),
    PodRoute(u32),
    /// With trust domains: the CAs of the clients the pool admits...
    ClientCas,
    /// ...and its own NetworkPolicy, admitting only their namespaces.
    NetworkPolicy,
    /// A stand-in for the next per-pool object, in unit tests only: it shows that whatever a
    /// pool renders, the duplicate check sees.
    #[cfg(test)]
    Probe,
}

impl PoolPart {
    /// The Kubernetes kind.
    pub fn kind(self) -> &'static str {
        match self {
            PoolPart::Service
            | PoolPart::Headless
            | PoolPart::ExternalService
            | PoolPart::PodExternalService(_)
            | PoolPart::PodService(_) => "Service",
            PoolPart::StatefulSet => "StatefulSet",
            PoolPart::PodDisruptionBudget => "PodDisruptionBudget",
            PoolPart::Autoscaler { keda: true } => "ScaledObject",
            PoolPart::Autoscaler { keda: false } => "HorizontalPodAutoscaler",
            PoolPart::Route | PoolPart::PodRoute(_) => "TLSRoute",
            PoolPart::ClientCas => "ConfigMap",
            PoolPart::NetworkPolicy => "NetworkPolicy",
            #[cfg(test)]
            PoolPart::Probe => "Service",
        }
    }
}

/// Every object a pool renders, with its name: its Services, StatefulSet and
/// PodDisruptionBudget, its autoscaler, with trust domains its client CAs and NetworkPolicy,
/// and what `[expose]` adds.
pub fn pool_objects(farm: &str, pool: &Pool) -> Vec<(PoolPart, String)> {
    let p = &pool.name;
    let object = pool_object(farm, p);
    let mut out = vec![
        (PoolPart::Service, object.clone()),
        (PoolPart::Headless, headless_service(farm, p)),
        (PoolPart::StatefulSet, object.clone()),
        (PoolPart::PodDisruptionBudget, object.clone()),
    ];
    if let Some(a) = &pool.autoscale {
        let keda = matches!(a.signal, super::model::Signal::Builds { .. });
        out.push((PoolPart::Autoscaler { keda }, object.clone()));
    }
    if let Some(trust) = &pool.trust {
        if trust.clients.is_some() {
            out.push((PoolPart::ClientCas, pool_client_cas(farm, p)));
        }
        if trust.network_policy {
            out.push((PoolPart::NetworkPolicy, object.clone()));
        }
    }
    #[cfg(test)]
    out.push((PoolPart::Probe, format!("{object}-probe")));
    let Some(expose) = &pool.expose else {
        return out;
    };
    let per_pod = (0..pool.ordinals()).filter(|_| expose.per_pod);
    match expose.kind {
        ExposeType::LoadBalancer => {
            out.push((PoolPart::ExternalService, external_service(farm, p)));
            out.extend(per_pod.map(|i| {
                (
                    PoolPart::PodExternalService(i),
                    pod_external_service(farm, p, i),
                )
            }));
        }
        ExposeType::Gateway => {
            out.push((PoolPart::Route, object));
            for i in per_pod {
                out.push((PoolPart::PodService(i), pod_object(farm, p, i)));
                out.push((PoolPart::PodRoute(i), pod_object(farm, p, i)));
            }
        }
        ExposeType::None => {}
    }
    out
}

/// The Service a ServiceMonitor scrapes, and the monitors' own name.
pub(crate) fn metrics_service(farm: &str) -> String {
    format!("{farm}-metrics")
}

/// The Secret the daemons mount, unless `tls.secret` names another.
pub(crate) fn daemon_secret(farm: &str) -> String {
    format!("{farm}-daemon-tls")
}

/// The Secret holding a client's certificate, in the client's namespace.
pub(crate) fn client_secret(farm: &str, client: &str) -> String {
    format!("{farm}-client-{client}")
}

/// cert-manager mode: the self-signed Issuer and the CA Issuer (and the CA's Certificate).
pub(crate) fn selfsigned_issuer(farm: &str) -> String {
    format!("{farm}-selfsigned")
}

pub(crate) fn ca_issuer(farm: &str) -> String {
    format!("{farm}-ca")
}

/// A Service as clients in the cluster address it.
pub(crate) fn service_host(service: &str, namespace: &str) -> String {
    format!("{service}.{namespace}.svc")
}

/// Every DNS form a Service answers to: `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<domain>`.
pub(crate) fn service_dns_names(service: &str, namespace: &str, domain: &str) -> [String; 4] {
    [
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.{domain}"),
    ]
}

/// The pods under a headless Service, as certificate wildcards.
pub(crate) fn pod_dns_wildcards(headless: &str, namespace: &str, domain: &str) -> [String; 2] {
    [
        format!("*.{headless}.{namespace}.svc"),
        format!("*.{headless}.{namespace}.svc.{domain}"),
    ]
}

/// A buildkitd address as buildctl and buildx take it.
pub(crate) fn endpoint(host: &str, port: u16) -> String {
    format!("tcp://{host}:{port}")
}

impl Farm {
    pub fn pool_object(&self, pool: &Pool) -> String {
        pool_object(&self.name, &pool.name)
    }

    pub fn headless_service(&self, pool: &Pool) -> String {
        headless_service(&self.name, &pool.name)
    }

    /// The farm's NetworkPolicy.
    pub fn network_policy_name(&self) -> String {
        self.name.clone()
    }

    pub fn metrics_service(&self) -> String {
        metrics_service(&self.name)
    }

    pub fn config_map(&self) -> String {
        format!("{}-config", self.name)
    }

    pub fn service_account(&self) -> String {
        self.name.clone()
    }

    pub fn client_secret(&self, client: &str) -> String {
        client_secret(&self.name, client)
    }

    /// The pool's Service as clients in the cluster address it (a SAN of the daemon certificate).
    pub fn service_host(&self, pool: &Pool) -> String {
        service_host(&self.pool_object(pool), &self.namespace)
    }

    /// One pod of a pool by ordinal, under the headless Service (the wildcard SAN covers it).
    pub fn pod_host(&self, pool: &Pool, ordinal: u32) -> String {
        let headless = self.headless_service(pool);
        format!(
            "{}-{ordinal}.{headless}.{}.svc",
            self.pool_object(pool),
            self.namespace
        )
    }

    pub fn external_service(&self, pool: &Pool) -> String {
        external_service(&self.name, &pool.name)
    }

    /// The pool's name outside the cluster, `<name>-<pool>.<domain>` (with `[expose] domain`).
    pub fn external_host(&self, pool: &Pool) -> Option<String> {
        let domain = pool.expose.as_ref()?.domain.as_ref()?;
        Some(format!("{}.{domain}", self.pool_object(pool)))
    }

    /// One daemon's Service and TLSRoute behind a Gateway.
    pub fn pod_object(&self, pool: &Pool, ordinal: u32) -> String {
        pod_object(&self.name, &pool.name, ordinal)
    }

    pub fn pod_external_service(&self, pool: &Pool, ordinal: u32) -> String {
        pod_external_service(&self.name, &pool.name, ordinal)
    }

    /// One daemon's name outside the cluster, `<name>-<pool>-<i>.<domain>` (with `[expose]
    /// per_pod` and `domain`).
    pub fn pod_external_host(&self, pool: &Pool, ordinal: u32) -> Option<String> {
        let expose = pool.expose.as_ref().filter(|e| e.per_pod)?;
        let domain = expose.domain.as_ref()?;
        Some(format!("{}.{domain}", self.pod_object(pool, ordinal)))
    }

    /// The farm's build port at `host`.
    pub fn endpoint(&self, host: &str) -> String {
        endpoint(host, self.port)
    }
}
