//! Issuing certificates with rcgen: ECDSA P-256, random serials, SANs (never only a CN),
//! key usages and extended key usages set for exactly one purpose each.

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, SanType,
    SerialNumber, SignatureAlgorithm,
};
use ring::rand::{SecureRandom, SystemRandom};
use time::{Duration, OffsetDateTime};

use crate::farm::KeyAlgorithm;

pub(crate) struct Ca {
    pub cert_pem: String,
    pub key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub(crate) fn create(farm: &str, days: u32, alg: KeyAlgorithm) -> anyhow::Result<Ca> {
        let key = new_key(alg)?;
        let mut params = base_params(days)?;
        // A name of its own (from the random serial): verifiers pick issuers by name, and two
        // farms, or the two CAs of a rotation, must not look alike.
        let tag: String = params.serial_number.as_ref().map_or_else(String::new, |s| {
            s.to_bytes()
                .iter()
                .take(4)
                .map(|b| format!("{b:02x}"))
                .collect()
        });
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{farm} buildfarm CA {tag}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params
            .self_signed(&key)
            .context("failed to sign the CA certificate")?;
        Ok(Ca {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// An existing CA from its files, `key` already parsed from `key_pem` and checked against
    /// the certificate; the error says what is wrong with the certificate.
    pub(crate) fn load(cert_pem: &str, key_pem: &str, key: KeyPair) -> Result<Ca, String> {
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)
            .map_err(|e| format!("ca.crt is not a usable certificate ({e})"))?;
        Ok(Ca {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            issuer,
        })
    }
}

/// A daemon certificate covering `sans`; returns (certificate, key) in PEM.
pub(super) fn daemon(
    ca: &Ca,
    sans: &[String],
    days: u32,
    alg: KeyAlgorithm,
) -> anyhow::Result<(String, String)> {
    let mut params = base_params(days)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "buildkitd");
    params.subject_alt_names = sans
        .iter()
        .map(|s| match s.parse() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => s.clone().try_into().map(SanType::DnsName),
        })
        .collect::<Result<_, _>>()
        .context("a SAN is not a valid DNS name")?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf(ca, params, alg)
}

/// A client certificate for `name`; returns (certificate, key) in PEM.
pub(super) fn client(
    ca: &Ca,
    name: &str,
    days: u32,
    alg: KeyAlgorithm,
) -> anyhow::Result<(String, String)> {
    let mut params = base_params(days)?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    leaf(ca, params, alg)
}

fn leaf(
    ca: &Ca,
    mut params: CertificateParams,
    alg: KeyAlgorithm,
) -> anyhow::Result<(String, String)> {
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    let key = new_key(alg)?;
    let cert = params
        .signed_by(&key, &ca.issuer)
        .context("failed to sign a certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn new_key(alg: KeyAlgorithm) -> anyhow::Result<KeyPair> {
    let alg: &'static SignatureAlgorithm = match alg {
        KeyAlgorithm::EcdsaP256 => &PKCS_ECDSA_P256_SHA256,
        KeyAlgorithm::EcdsaP384 => &PKCS_ECDSA_P384_SHA384,
        KeyAlgorithm::Ed25519 => &PKCS_ED25519,
    };
    KeyPair::generate_for(alg).context("failed to generate a key")
}

fn base_params(days: u32) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "buildfarm");
    let now = OffsetDateTime::now_utc();
    // An hour of slack for nodes whose clocks run a little behind.
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(i64::from(days));
    let mut serial = [0u8; 16];
    SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| anyhow::anyhow!("the system random number generator failed"))?;
    serial[0] &= 0x7f; // a positive INTEGER
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(params)
}
