//! Reading certificates back: what they say (subject, SANs, validity, usages, fingerprint) and
//! whether they fit together (key matches certificate, certificate signed by a CA).

use std::net::IpAddr;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;

/// The facts buildfarm checks and shows about one certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// DNS names as written, IP addresses in their canonical text form.
    pub sans: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// SHA-256 of the DER, colon-separated hex.
    pub fingerprint: String,
    pub key_type: String,
    pub is_ca: bool,
    pub server_auth: bool,
    pub client_auth: bool,
    #[serde(skip)]
    pub der: Vec<u8>,
}

impl CertInfo {
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }
}

/// Every certificate in a PEM file (a CA bundle holds more than one), as DER.
pub(crate) fn pem_certs(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for item in Pem::iter_from_buffer(text.as_bytes()) {
        let pem = item.map_err(|e| format!("it is not valid PEM ({e})"))?;
        if pem.label != "CERTIFICATE" {
            return Err(format!(
                "it holds a `{}` where a certificate belongs",
                pem.label
            ));
        }
        out.push(pem.contents);
    }
    if out.is_empty() {
        return Err("it holds no certificate".into());
    }
    Ok(out)
}

/// The first certificate of a PEM file.
pub fn read(text: &str) -> Result<CertInfo, String> {
    let der = pem_certs(text)?.swap_remove(0);
    info(der)
}

pub(crate) fn info(der: Vec<u8>) -> Result<CertInfo, String> {
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|e| format!("it is not a valid X.509 certificate ({e})"))?;
    let sans = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_string()),
                GeneralName::IPAddress(bytes) => ip_text(bytes),
                _ => None,
            })
            .collect(),
        Ok(None) => Vec::new(),
        Err(e) => return Err(format!("its subjectAltName is malformed ({e})")),
    };
    let eku = cert
        .extended_key_usage()
        .ok()
        .flatten()
        .map(|e| e.value.clone());
    let digest = ring::digest::digest(&ring::digest::SHA256, &der);
    let fingerprint = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let info = CertInfo {
        subject: common_name(cert.subject()),
        issuer: common_name(cert.issuer()),
        sans,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        fingerprint,
        key_type: key_type(&cert),
        is_ca: cert.is_ca(),
        server_auth: eku.as_ref().is_some_and(|e| e.server_auth),
        client_auth: eku.as_ref().is_some_and(|e| e.client_auth),
        der: Vec::new(),
    };
    Ok(CertInfo { der, ..info })
}

/// Whether `ca` signed `cert` (both DER).
pub(crate) fn signed_by(cert: &[u8], ca: &[u8]) -> bool {
    let (Ok((_, cert)), Ok((_, ca))) = (
        X509Certificate::from_der(cert),
        X509Certificate::from_der(ca),
    ) else {
        return false;
    };
    cert.issuer() == ca.subject() && cert.verify_signature(Some(ca.public_key())).is_ok()
}

/// Whether the private key in `key_pem` belongs to the certificate `cert` (DER).
pub(crate) fn key_matches(cert: &[u8], key_pem: &str) -> Result<bool, String> {
    private_key(key_pem).and_then(|key| belongs(cert, &key))
}

/// A private key from PEM; the error says why it is not one.
pub(crate) fn private_key(key_pem: &str) -> Result<rcgen::KeyPair, String> {
    rcgen::KeyPair::from_pem(key_pem).map_err(|e| format!("it is not a usable private key ({e})"))
}

/// Whether `key` belongs to the certificate `cert` (DER).
pub(crate) fn belongs(cert: &[u8], key: &rcgen::KeyPair) -> Result<bool, String> {
    let (_, cert) =
        X509Certificate::from_der(cert).map_err(|e| format!("invalid certificate ({e})"))?;
    Ok(cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw())
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    let ip: IpAddr = match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok()?.into(),
        16 => <[u8; 16]>::try_from(bytes).ok()?.into(),
        _ => return None,
    };
    Some(ip.to_string())
}

fn common_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map_or_else(|| name.to_string(), str::to_string)
}

fn key_type(cert: &X509Certificate<'_>) -> String {
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    match (alg.as_str(), curve.as_deref()) {
        ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7")) => "ECDSA P-256".into(),
        ("1.2.840.10045.2.1", Some("1.3.132.0.34")) => "ECDSA P-384".into(),
        ("1.3.101.112", _) => "Ed25519".into(),
        ("1.2.840.113549.1.1.1", _) => "RSA".into(),
        (other, _) => other.to_string(),
    }
}
