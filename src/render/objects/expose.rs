//! A pool's way in from outside (`[expose]`): its LoadBalancer Services, or the TLSRoutes that
//! attach it to a Gateway and the per-daemon Services they route to.

use serde::Serialize;

use super::basic::{self, Labels};
use crate::farm::{Expose, ExposeType, Farm, GatewayRef, Pool};
use crate::render::kind::Kind;
use crate::render::meta::ObjectSpec;

/// Set on every pod of a StatefulSet by its controller:
/// https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#pod-name-label
const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";

/// `templates/tlsroute.yaml.j2`: one server name, routed (TLS passthrough) to one Service.
#[derive(Serialize)]
pub struct TlsRoute<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub labels: &'a Labels,
    pub gateway: &'a GatewayRef,
    pub hostname: String,
    pub service: &'a str,
    pub port: u16,
}

/// What a pool needs to make each of its Services: the shared fields.
pub struct Services<'a> {
    pub farm: &'a Farm,
    pub pool: &'a Pool,
    pub labels: &'a Labels,
    pub selector: &'a Labels,
}

impl Services<'_> {
    fn service(
        &self,
        name: String,
        selector: &Labels,
        lb: Option<basic::LoadBalancer>,
    ) -> ObjectSpec {
        let ns = &self.farm.namespace;
        let ctx = basic::Service {
            name: &name,
            namespace: ns,
            labels: self.labels,
            selector,
            headless: false,
            load_balancer: lb,
            port: self.farm.port,
            port_name: "buildkitd",
        };
        ObjectSpec::new(Kind::Service, name.clone(), Some(ns), ctx)
    }

    /// The selector of daemon `i` alone: the StatefulSet controller labels each pod with its
    /// own name.
    fn one_pod(&self, i: u32) -> Labels {
        let mut one = self.selector.clone();
        one.insert(POD_NAME_LABEL, self.farm.pod_object(self.pool, i));
        one
    }

    /// The pool's objects for `expose`.
    pub fn objects(&self, expose: &Expose) -> Vec<ObjectSpec> {
        let (farm, pool) = (self.farm, self.pool);
        let per_pod = (0..pool.ordinals()).filter(|_| expose.per_pod);
        let mut out = Vec::new();
        match (expose.kind, &expose.gateway) {
            (ExposeType::LoadBalancer, _) => {
                let lb = |ip| basic::LoadBalancer {
                    source_ranges: &expose.source_ranges,
                    annotations: &expose.annotations,
                    ip,
                };
                let pool_ip = expose.ip.as_deref();
                out.push(self.service(
                    farm.external_service(pool),
                    self.selector,
                    Some(lb(pool_ip)),
                ));
                for i in per_pod {
                    let name = farm.pod_external_service(pool, i);
                    out.push(self.service(name, &self.one_pod(i), Some(lb(None))));
                }
            }
            (ExposeType::Gateway, Some(gateway)) => {
                let pool_service = farm.pool_object(pool);
                out.push(self.route(
                    gateway,
                    farm.pool_object(pool),
                    farm.external_host(pool),
                    &pool_service,
                ));
                for i in per_pod {
                    let name = farm.pod_object(pool, i);
                    out.push(self.service(name.clone(), &self.one_pod(i), None));
                    out.push(self.route(
                        gateway,
                        name.clone(),
                        farm.pod_external_host(pool, i),
                        &name,
                    ));
                }
            }
            _ => {}
        }
        out
    }

    fn route(
        &self,
        gateway: &GatewayRef,
        name: String,
        host: Option<String>,
        service: &str,
    ) -> ObjectSpec {
        let ns = &self.farm.namespace;
        let ctx = TlsRoute {
            name: &name,
            namespace: ns,
            labels: self.labels,
            gateway,
            // A gateway pool always has a domain (validated), so every route has its name.
            hostname: host.unwrap_or_default(),
            service,
            port: self.farm.port,
        };
        ObjectSpec::new(Kind::TLSRoute, name.clone(), Some(ns), ctx)
    }
}
