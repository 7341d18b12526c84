//! The contexts of the objects that are little more than their identity: ServiceAccount,
//! Namespace, Service, PodDisruptionBudget, ServiceMonitor, PodMonitor, ConfigMap and Secret.
//! Each is a typed struct: a misspelled field is a compile error here, an undefined variable
//! (a render error the tests catch) in its template.

use indexmap::IndexMap;
use serde::Serialize;

pub(crate) type Labels = IndexMap<&'static str, String>;

/// `templates/serviceaccount.yaml.j2`.
#[derive(Serialize)]
pub(crate) struct ServiceAccount<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub labels: Labels,
}

/// `templates/namespace.yaml.j2`: with why its pods need the Pod Security level it sets.
#[derive(Serialize)]
pub(crate) struct Namespace<'a> {
    pub name: &'a str,
    pub labels: Labels,
    pub pod_security_reason: &'static str,
}

/// `templates/service.yaml.j2`: a pool's Service, its headless Service, its LoadBalancer
/// (`[expose]`), the metrics Service.
#[derive(Serialize)]
pub(crate) struct Service<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub labels: &'a Labels,
    pub selector: &'a Labels,
    pub headless: bool,
    pub load_balancer: Option<LoadBalancer<'a>>,
    pub port: u16,
    pub port_name: &'static str,
}

/// A Service of type LoadBalancer: who may reach it, and the cloud's options.
#[derive(Serialize)]
pub(crate) struct LoadBalancer<'a> {
    pub source_ranges: &'a [String],
    pub annotations: &'a IndexMap<String, String>,
    /// `loadBalancerIP`: deprecated since Kubernetes 1.24 for provider annotations, but still
    /// how most providers take a reserved address.
    pub ip: Option<&'a str>,
}

/// `templates/poddisruptionbudget.yaml.j2`, `servicemonitor.yaml.j2`, `podmonitor.yaml.j2`:
/// an object that finds its targets by `selector`.
#[derive(Serialize)]
pub(crate) struct Selecting<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub labels: &'a Labels,
    pub selector: &'a Labels,
}

/// `templates/configmap.yaml.j2` (file name → text) and `secret.yaml.j2` (key → base64).
#[derive(Serialize)]
pub(crate) struct Data<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub labels: Labels,
    pub data: IndexMap<String, String>,
    /// A line that says what the object is for (names only: DNS labels, one line).
    pub comment: Option<String>,
}
