//! Every name buildfarm gives: objects (`<name>-<pool>`, `<name>-config`, ...), the DNS names
//! clients and certificates use, and endpoints. Built here and nowhere else; the free
//! functions serve the checks that run before a `Farm` exists.

use super::{ExposeType, Farm, Pool};

/// A pool's StatefulSet, ClusterIP Service and PodDisruptionBudget.
pub fn pool_object(farm: &str, pool: &str) -> String {
    format!("{farm}-{pool}")
}

/// The headless Service that gives each pod of a pool a DNS name.
pub fn headless_service(farm: &str, pool: &str) -> String {
    format!("{farm}-{pool}-headless")
}

/// A pool's LoadBalancer Service (`[expose] type = "loadbalancer"`).
pub fn external_service(farm: &str, pool: &str) -> String {
    format!("{}-external", pool_object(farm, pool))
}

/// One daemon's LoadBalancer Service (`[expose] per_pod`).
pub fn pod_external_service(farm: &str, pool: &str, ordinal: u32) -> String {
    format!("{}-{ordinal}-external", pool_object(farm, pool))
}

/// One daemon by its pod's own name: its ClusterIP Service and TLSRoute (`[expose] type =
/// "gateway"`).
pub fn pod_object(farm: &str, pool: &str, ordinal: u32) -> String {
    format!("{}-{ordinal}", pool_object(farm, pool))
}

/// The Services and TLSRoutes a pool renders, by kind: its two Services and what `[expose]`
/// adds.
pub fn pool_objects(farm: &str, pool: &Pool) -> Vec<(&'static str, String)> {
    let p = &pool.name;
    let mut out = vec![
        ("Service", pool_object(farm, p)),
        ("Service", headless_service(farm, p)),
    ];
    let Some(expose) = &pool.expose else {
        return out;
    };
    let per_pod = (0..pool.ordinals()).filter(|_| expose.per_pod);
    match expose.kind {
        ExposeType::LoadBalancer => {
            out.push(("Service", external_service(farm, p)));
            out.extend(per_pod.map(|i| ("Service", pod_external_service(farm, p, i))));
        }
        ExposeType::Gateway => {
            out.push(("TLSRoute", pool_object(farm, p)));
            for i in per_pod {
                out.push(("Service", pod_object(farm, p, i)));
                out.push(("TLSRoute", pod_object(farm, p, i)));
            }
        }
        ExposeType::None => {}
    }
    out
}

/// The Service a ServiceMonitor scrapes, and the monitors' own name.
pub fn metrics_service(farm: &str) -> String {
    format!("{farm}-metrics")
}

/// The Secret the daemons mount, unless `tls.secret` names another.
pub fn daemon_secret(farm: &str) -> String {
    format!("{farm}-daemon-tls")
}

/// The Secret holding a client's certificate, in the client's namespace.
pub fn client_secret(farm: &str, client: &str) -> String {
    format!("{farm}-client-{client}")
}

/// cert-manager mode: the self-signed Issuer and the CA Issuer (and the CA's Certificate).
pub fn selfsigned_issuer(farm: &str) -> String {
    format!("{farm}-selfsigned")
}

pub fn ca_issuer(farm: &str) -> String {
    format!("{farm}-ca")
}

/// A Service as clients in the cluster address it.
pub fn service_host(service: &str, namespace: &str) -> String {
    format!("{service}.{namespace}.svc")
}

/// Every DNS form a Service answers to: `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<domain>`.
pub fn service_dns_names(service: &str, namespace: &str, domain: &str) -> [String; 4] {
    [
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.{domain}"),
    ]
}

/// The pods under a headless Service, as certificate wildcards.
pub fn pod_dns_wildcards(headless: &str, namespace: &str, domain: &str) -> [String; 2] {
    [
        format!("*.{headless}.{namespace}.svc"),
        format!("*.{headless}.{namespace}.svc.{domain}"),
    ]
}

/// A buildkitd address as buildctl and buildx take it.
pub fn endpoint(host: &str, port: u16) -> String {
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
