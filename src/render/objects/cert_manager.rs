//! `tls.mode = "cert-manager"`: the farm's PKI as cert-manager objects. A self-signed Issuer
//! signs the CA Certificate; a CA Issuer signs the daemon and client Certificates. The daemon
//! Certificate writes the same Secret, with the same SANs, that generated mode renders, so the
//! pods are identical in both modes.

use serde::Serialize;

use super::basic::Labels;
use crate::certs::daemon_sans;
use crate::farm::{Farm, KeyAlgorithm, names};
use crate::render::kind::Kind;
use crate::render::meta::{ObjectSpec, labels};

/// `templates/issuer.yaml.j2`: self-signed, or a CA Issuer signing with `ca_secret`.
#[derive(Serialize)]
struct Issuer<'a> {
    name: &'a str,
    namespace: &'a str,
    labels: Labels,
    ca_secret: Option<&'a str>,
}

/// `templates/certificate.yaml.j2`.
#[derive(Serialize)]
struct Certificate<'a> {
    name: &'a str,
    namespace: &'a str,
    labels: Labels,
    secret_name: &'a str,
    common_name: &'a str,
    /// A Go duration, in hours.
    duration: String,
    key_algorithm: &'static str,
    key_size: Option<u32>,
    is_ca: bool,
    dns_names: Vec<String>,
    ip_addresses: Vec<String>,
    usages: &'static [&'static str],
    issuer: &'a str,
}

/// What sets one Certificate apart: a CA (signed by the self-signed Issuer), or a leaf with
/// its SANs and usages (signed by the CA Issuer).
struct Role<'a> {
    is_ca: bool,
    issuer: &'a str,
    dns_names: Vec<String>,
    ip_addresses: Vec<String>,
    usages: &'static [&'static str],
}

pub(crate) fn objects(farm: &Farm) -> Vec<ObjectSpec> {
    let ns = &farm.namespace;
    let selfsigned = names::selfsigned_issuer(&farm.name);
    let ca = names::ca_issuer(&farm.name);
    let issuer = |name: &str, ca_secret: Option<&str>| {
        let ctx = Issuer {
            name,
            namespace: ns,
            labels: labels(farm, "tls", None),
            ca_secret,
        };
        ObjectSpec::new(Kind::Issuer, name.to_string(), Some(ns), ctx)
    };
    let leaf = |usages| Role {
        is_ca: false,
        issuer: &ca,
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
        usages,
    };

    let (ip_addresses, dns_names): (Vec<String>, Vec<String>) = daemon_sans(farm)
        .into_iter()
        .partition(|s| s.parse::<std::net::IpAddr>().is_ok());
    let ca_role = Role {
        is_ca: true,
        issuer: &selfsigned,
        ..leaf(&[])
    };
    let daemon_role = Role {
        dns_names,
        ip_addresses,
        ..leaf(&["digital signature", "server auth"])
    };
    let mut out = vec![
        issuer(&selfsigned, None),
        issuer(&ca, Some(&ca)),
        certificate(
            farm,
            &ca,
            &format!("{} buildfarm CA", farm.name),
            farm.tls.ca_days,
            ca_role,
        ),
        certificate(
            farm,
            &farm.tls.secret,
            "buildkitd",
            farm.tls.server_days,
            daemon_role,
        ),
    ];
    for client in &farm.tls.clients {
        // Issuers are namespaced: client Certificates live beside the CA Issuer, in the farm's
        // namespace; copy the Secret to the CI namespace (or let a secret replicator do it).
        let name = farm.client_secret(&client.name);
        let role = leaf(&["digital signature", "client auth"]);
        out.push(certificate(
            farm,
            &name,
            &client.name,
            farm.tls.client_days,
            role,
        ));
    }
    out
}

/// A Certificate in the farm's namespace, its Secret named as it is.
fn certificate(farm: &Farm, name: &str, common_name: &str, days: u32, role: Role) -> ObjectSpec {
    let ns = &farm.namespace;
    let (key_algorithm, key_size) = match farm.tls.key {
        KeyAlgorithm::EcdsaP256 => ("ECDSA", Some(256)),
        KeyAlgorithm::EcdsaP384 => ("ECDSA", Some(384)),
        KeyAlgorithm::Ed25519 => ("Ed25519", None),
    };
    let ctx = Certificate {
        name,
        namespace: ns,
        labels: labels(farm, "tls", None),
        secret_name: name,
        common_name,
        duration: format!("{}h", u64::from(days) * 24),
        key_algorithm,
        key_size,
        is_ca: role.is_ca,
        dns_names: role.dns_names,
        ip_addresses: role.ip_addresses,
        usages: role.usages,
        issuer: role.issuer,
    };
    ObjectSpec::new(Kind::Certificate, name.to_string(), Some(ns), ctx)
}
