//! `tls.mode = "cert-manager"`: the farm's PKI as cert-manager objects. A self-signed Issuer
//! signs the CA Certificate; a CA Issuer signs the daemon and client Certificates. The daemon
//! Certificate writes the same Secret, with the same SANs, that generated mode renders, so the
//! pods are identical in both modes.

use minijinja::value::Serde;
use minijinja::{Value, context};

use crate::certs::daemon_sans;
use crate::farm::{Farm, KeyAlgorithm, names};
use crate::render::Kind;
use crate::render::meta::{ObjectSpec, labels};

pub fn objects(farm: &Farm) -> Vec<ObjectSpec> {
    let ns = &farm.namespace;
    let selfsigned = names::selfsigned_issuer(&farm.name);
    let ca = names::ca_issuer(&farm.name);
    let spec =
        |kind, name: &str, context| ObjectSpec::new(kind, name.to_string(), Some(ns), context);
    let issuer = |name: &str, ca_secret: Option<&str>| {
        spec(
            Kind::Issuer,
            name,
            context! { name, namespace => ns, labels => Serde(labels(farm, "tls", None)), ca_secret },
        )
    };
    let certificate = |name: &str, common_name: &str, days: u32, extra: Value| {
        let (key_algorithm, key_size) = match farm.tls.key {
            KeyAlgorithm::EcdsaP256 => ("ECDSA", Some(256)),
            KeyAlgorithm::EcdsaP384 => ("ECDSA", Some(384)),
            KeyAlgorithm::Ed25519 => ("Ed25519", None),
        };
        let base = context! {
            name,
            namespace => ns,
            labels => Serde(labels(farm, "tls", None)),
            secret_name => name,
            common_name,
            duration => format!("{}h", u64::from(days) * 24),
            key_algorithm,
            key_size,
            is_ca => false,
            dns_names => Vec::<String>::new(),
            ip_addresses => Vec::<String>::new(),
            usages => Vec::<String>::new(),
            issuer => &ca,
        };
        spec(Kind::Certificate, name, context! { ..extra, ..base })
    };

    let (ips, dns): (Vec<String>, Vec<String>) = daemon_sans(farm)
        .into_iter()
        .partition(|s| s.parse::<std::net::IpAddr>().is_ok());
    let mut out = vec![
        issuer(&selfsigned, None),
        issuer(&ca, Some(&ca)),
        certificate(
            &ca,
            &format!("{} buildfarm CA", farm.name),
            farm.tls.ca_days,
            context! { is_ca => true, issuer => &selfsigned },
        ),
        certificate(
            &farm.tls.secret,
            "buildkitd",
            farm.tls.server_days,
            context! {
                dns_names => Serde(dns),
                ip_addresses => Serde(ips),
                usages => Serde(["digital signature", "server auth"]),
            },
        ),
    ];
    for client in &farm.tls.clients {
        // Issuers are namespaced: client Certificates live beside the CA Issuer, in the farm's
        // namespace; copy the Secret to the CI namespace (or let a secret replicator do it).
        let name = farm.client_secret(&client.name);
        let usages = context! { usages => Serde(["digital signature", "client auth"]) };
        out.push(certificate(
            &name,
            &client.name,
            farm.tls.client_days,
            usages,
        ));
    }
    out
}
