//! A pool's way in from outside (`[expose]`): its LoadBalancer Services, or the TLSRoutes that
//! attach it to a Gateway and the per-daemon Services they route to.

use serde::Serialize;

use super::basic::{self, Labels};
use crate::farm::names::PoolPart;
use crate::farm::{Expose, Farm, GatewayRef, Pool};
use crate::render::kind::Kind;
use crate::render::meta::ObjectSpec;

/// Set on every pod of a StatefulSet by its controller:
/// https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#pod-name-label
const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";

/// `templates/tlsroute.yaml.j2`: one server name, routed (TLS passthrough) to one Service.
#[derive(Serialize)]
pub(crate) struct TlsRoute<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub labels: &'a Labels,
    pub gateway: &'a GatewayRef,
    pub hostname: String,
    pub service: &'a str,
    pub port: u16,
}

/// What a pool needs to make each of its Services: the shared fields.
pub(crate) struct Services<'a> {
    pub farm: &'a Farm,
    pub pool: &'a Pool,
    pub labels: &'a Labels,
    pub selector: &'a Labels,
    pub expose: &'a Expose,
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

    /// One of the pool's objects from outside (`names::pool_objects` lists them), named `name`.
    pub(crate) fn object(&self, part: PoolPart, name: String) -> ObjectSpec {
        let (farm, pool, expose) = (self.farm, self.pool, self.expose);
        let lb = |ip| basic::LoadBalancer {
            source_ranges: &expose.source_ranges,
            annotations: &expose.annotations,
            ip,
        };
        let gateway = || {
            expose
                .gateway
                .as_ref()
                .expect("a gateway pool has its gateway (validated)")
        };
        match part {
            PoolPart::ExternalService => {
                self.service(name, self.selector, Some(lb(expose.ip.as_deref())))
            }
            PoolPart::PodExternalService(i) => self.service(name, &self.one_pod(i), Some(lb(None))),
            PoolPart::Route => {
                let service = farm.pool_object(pool);
                self.route(gateway(), name, farm.external_host(pool), &service)
            }
            PoolPart::PodService(i) => self.service(name, &self.one_pod(i), None),
            PoolPart::PodRoute(i) => {
                let host = farm.pod_external_host(pool, i);
                self.route(gateway(), name.clone(), host, &name)
            }
            other => unreachable!("{other:?} is no object from outside"),
        }
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
