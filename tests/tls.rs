//! Real mTLS handshakes on 127.0.0.1 with the generated certificates: a rustls server set up
//! like buildkitd (its certificate, and client certificates required and verified against the
//! CA bundle it mounts), and clients that must get through or be refused.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection, StreamOwned,
};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs_in(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn key_in(path: &Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).unwrap()
}

fn roots(ca: &Path) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for c in certs_in(ca) {
        roots.add(c).unwrap();
    }
    roots
}

/// A server like buildkitd with the folder's `daemon/` files (what the Secret holds).
fn server_config(certs: &Path) -> Arc<ServerConfig> {
    let daemon = certs.join("daemon");
    let verifier = WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(&daemon.join("ca.crt"))),
        provider(),
    )
    .build()
    .unwrap();
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            certs_in(&daemon.join("tls.crt")),
            key_in(&daemon.join("tls.key")),
        )
        .unwrap();
    Arc::new(config)
}

/// A client trusting `ca`, presenting `identity` (a folder with tls.crt + tls.key) if any.
fn client_config(ca: &Path, identity: Option<&Path>) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(ca));
    let config = match identity {
        Some(dir) => builder
            .with_client_auth_cert(certs_in(&dir.join("tls.crt")), key_in(&dir.join("tls.key")))
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// Connects on 127.0.0.1 as `server_name`; Ok when a byte made the round trip through TLS.
fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    server_name: &str,
) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = thread::spawn(move || -> Result<(), String> {
        let (sock, _) = listener.accept().map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut tls = StreamOwned::new(ServerConnection::new(server).unwrap(), sock);
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte)
            .map_err(|e| format!("server: {e}"))?;
        tls.write_all(&byte).map_err(|e| format!("server: {e}"))?;
        tls.flush().map_err(|e| format!("server: {e}"))
    });
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let name = ServerName::try_from(server_name.to_string()).unwrap();
    let mut tls = StreamOwned::new(ClientConnection::new(client, name).unwrap(), sock);
    let result = (|| {
        tls.write_all(b"!").map_err(|e| format!("client: {e}"))?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte)
            .map_err(|e| format!("client: {e}"))?;
        (byte == *b"!")
            .then_some(())
            .ok_or_else(|| "client: wrong echo".to_string())
    })();
    drop(tls); // unblocks the server if the client gave up first
    let served = serving.join().unwrap();
    result.and(served)
}

fn generated(spec: &str) -> (tempfile::TempDir, buildfarm::Farm) {
    let dir = tempfile::tempdir().unwrap();
    let source = buildfarm::Source::new("farm.toml", spec);
    let farm = buildfarm::parse(&source, Path::new(""), Some(dir.path())).unwrap();
    buildfarm::ensure_certs(&farm, &mut Vec::new()).unwrap();
    (dir, farm)
}

const FARM: &str =
    "[[tls.client]]\nname = \"ci\"\n[[pool]]\narch = \"amd64\"\n[[pool]]\narch = \"arm64\"\n";

#[test]
fn the_client_connects_under_every_name_the_daemon_answers_to() {
    let (dir, _) = generated(FARM);
    let ci = dir.path().join("client/ci");
    let names = [
        "buildkitd-amd64",
        "buildkitd-amd64.buildkit",
        "buildkitd-amd64.buildkit.svc",
        "buildkitd-amd64.buildkit.svc.cluster.local",
        "buildkitd-arm64.buildkit.svc",
        "buildkitd-amd64-1.buildkitd-amd64-headless.buildkit.svc",
        "buildkitd-arm64-0.buildkitd-arm64-headless.buildkit.svc.cluster.local",
        "localhost",
        "127.0.0.1",
    ];
    for name in names {
        let result = handshake(
            server_config(dir.path()),
            client_config(&ci.join("ca.crt"), Some(&ci)),
            name,
        );
        assert_eq!(result, Ok(()), "{name}");
    }
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    let (dir, _) = generated(FARM);
    let ca = dir.path().join("client/ci/ca.crt");
    let result = handshake(
        server_config(dir.path()),
        client_config(&ca, None),
        "localhost",
    );
    let err = result.unwrap_err();
    assert!(err.contains("CertificateRequired"), "{err}");
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let (ours, _) = generated(FARM);
    let (theirs, _) = generated(FARM);
    let foreign = theirs.path().join("client/ci");
    // The foreign client trusts our CA (so only the server's check can refuse it).
    let client = client_config(&ours.path().join("ca.crt"), Some(&foreign));
    let err = handshake(server_config(ours.path()), client, "localhost").unwrap_err();
    assert!(
        err.contains("UnknownCA") || err.contains("UnknownIssuer"),
        "{err}"
    );
}

#[test]
fn a_wrong_server_name_is_refused() {
    let (dir, _) = generated(FARM);
    let ci = dir.path().join("client/ci");
    for name in [
        "buildkit.evil.example",
        "buildkitd-amd64.other-namespace.svc",
        "10.0.0.1",
    ] {
        let err = handshake(
            server_config(dir.path()),
            client_config(&ci.join("ca.crt"), Some(&ci)),
            name,
        )
        .unwrap_err();
        assert!(
            err.contains("NotValidForName") || err.contains("not valid for"),
            "{name}: {err}"
        );
    }
}

#[test]
fn a_server_certificate_cannot_act_as_a_client() {
    let (dir, _) = generated(FARM);
    let daemon = dir.path().join("daemon");
    let err = handshake(
        server_config(dir.path()),
        client_config(&daemon.join("ca.crt"), Some(&daemon)),
        "localhost",
    )
    .unwrap_err();
    // The daemon's certificate has serverAuth only: the server rejects it as a client certificate.
    assert!(err.contains("UnsupportedCertificate"), "{err}");
}

/// Replaces `dir/tls.crt` with a certificate for the same key, signed by the farm's CA, that
/// expired yesterday.
fn expire(certs: &Path, dir: &Path, server: bool) {
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(certs.join("ca.key")).unwrap()).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(
        &std::fs::read_to_string(certs.join("ca.crt")).unwrap(),
        ca_key,
    )
    .unwrap();
    let key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(dir.join("tls.key")).unwrap()).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(30);
    params.not_after = now - time::Duration::days(1);
    params.extended_key_usages = vec![if server {
        rcgen::ExtendedKeyUsagePurpose::ServerAuth
    } else {
        rcgen::ExtendedKeyUsagePurpose::ClientAuth
    }];
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("tls.crt"), cert.pem()).unwrap();
}

#[test]
fn expired_certificates_are_refused() {
    let (dir, _) = generated(FARM);
    let ci = dir.path().join("client/ci");
    assert_eq!(
        handshake(
            server_config(dir.path()),
            client_config(&ci.join("ca.crt"), Some(&ci)),
            "localhost"
        ),
        Ok(())
    );
    expire(dir.path(), &ci, false);
    let err = handshake(
        server_config(dir.path()),
        client_config(&ci.join("ca.crt"), Some(&ci)),
        "localhost",
    )
    .unwrap_err();
    assert!(err.contains("CertificateExpired"), "expired client: {err}");

    let (dir, _) = generated(FARM);
    let ci = dir.path().join("client/ci");
    expire(dir.path(), &dir.path().join("daemon"), true);
    let err = handshake(
        server_config(dir.path()),
        client_config(&ci.join("ca.crt"), Some(&ci)),
        "localhost",
    )
    .unwrap_err();
    assert!(err.contains("certificate expired"), "expired server: {err}");
}

#[test]
fn every_key_algorithm_handshakes() {
    for alg in ["ecdsa-p256", "ecdsa-p384", "ed25519"] {
        let (dir, _) = generated(&format!("[tls]\nkey = \"{alg}\"\n{FARM}"));
        let ci = dir.path().join("client/ci");
        let result = handshake(
            server_config(dir.path()),
            client_config(&ci.join("ca.crt"), Some(&ci)),
            "localhost",
        );
        assert_eq!(result, Ok(()), "{alg}");
    }
}

#[test]
fn rotate_ca_keeps_old_clients_working_until_finish() {
    let (dir, farm) = generated(FARM);
    let old_client = tempfile::tempdir().unwrap();
    for f in ["ca.crt", "tls.crt", "tls.key"] {
        std::fs::copy(
            dir.path().join("client/ci").join(f),
            old_client.path().join(f),
        )
        .unwrap();
    }
    let old = || client_config(&old_client.path().join("ca.crt"), Some(old_client.path()));
    let ci = dir.path().join("client/ci");
    let new = || client_config(&ci.join("ca.crt"), Some(&ci));

    buildfarm::rotate_ca(&farm, &mut Vec::new()).unwrap();
    let bundle = std::fs::read_to_string(dir.path().join("daemon/ca.crt")).unwrap();
    assert_eq!(
        bundle.matches("BEGIN CERTIFICATE").count(),
        2,
        "old and new CA are both trusted"
    );
    assert_eq!(
        handshake(server_config(dir.path()), old(), "localhost"),
        Ok(()),
        "old client during the overlap"
    );
    assert_eq!(
        handshake(server_config(dir.path()), new(), "localhost"),
        Ok(()),
        "new client during the overlap"
    );
    assert!(
        buildfarm::rotate_ca(&farm, &mut Vec::new()).is_err(),
        "one rotation at a time"
    );

    buildfarm::finish_rotation(&farm, &mut Vec::new()).unwrap();
    assert!(!dir.path().join("ca-previous.key").exists());
    assert_eq!(
        handshake(server_config(dir.path()), new(), "localhost"),
        Ok(()),
        "new client after --finish"
    );
    assert!(
        handshake(server_config(dir.path()), old(), "localhost").is_err(),
        "old client after --finish"
    );
}

#[test]
fn render_refuses_an_expired_certificate_instead_of_replacing_it() {
    let (dir, farm) = generated(FARM);
    let ci = dir.path().join("client/ci");
    expire(dir.path(), &ci, false);
    let before = std::fs::read(ci.join("tls.crt")).unwrap();
    let err = buildfarm::ensure_certs(&farm, &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("client/ci/tls.crt` expired on "), "{err}");
    let findings = buildfarm::audit_certs(&farm);
    let expired: Vec<_> = findings
        .iter()
        .filter(|d| d.rule == "cert-expired")
        .collect();
    assert_eq!(expired.len(), 1, "{findings:?}");
    assert_eq!(expired[0].severity, buildfarm::Severity::Error);
    assert!(expired[0].message.contains("client/ci/tls.crt"));
    assert_eq!(
        std::fs::read(ci.join("tls.crt")).unwrap(),
        before,
        "left as it was"
    );
    assert_eq!(
        buildfarm::renew_certs(&farm, 30, &mut Vec::new()).unwrap(),
        ["client/ci"]
    );
    assert!(buildfarm::ensure_certs(&farm, &mut Vec::new()).is_ok());
}

/// A server like one pool's buildkitd, from the rendered objects alone: the certificate and key
/// of the Secret it mounts, and as client CAs the file its buildkitd.toml names as `ca`, found
/// through the StatefulSet's mounts (the pool's client CA ConfigMap with trust domains).
fn pool_server(objects: &[serde_yaml_ng::Value], pool: &str) -> Arc<ServerConfig> {
    use crate::common::{self, container, named, str_of};
    use base64::Engine as _;
    let sts = named(objects, "StatefulSet", &format!("buildkit-{pool}"));
    let config = common::buildkitd_toml(objects, sts);
    let ca_path = config["grpc"]["tls"]["ca"].as_str().unwrap();
    let (dir, file) = ca_path.rsplit_once('/').unwrap();
    let mounts = container(sts)["volumeMounts"].as_sequence().unwrap();
    let mount = mounts
        .iter()
        .find(|m| str_of(&m["mountPath"]) == dir)
        .unwrap();
    let volumes = sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap();
    let volume = volumes.iter().find(|v| v["name"] == mount["name"]).unwrap();
    fn pem(text: &str) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(text.as_bytes())
            .map(Result::unwrap)
            .collect()
    }
    let b64 = |v: &serde_yaml_ng::Value| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(str_of(v))
            .unwrap();
        String::from_utf8(bytes).unwrap()
    };
    let client_cas: Vec<CertificateDer<'static>> = match volume.get("configMap") {
        Some(cm) => {
            let cm = named(objects, "ConfigMap", str_of(&cm["name"]));
            pem(str_of(&cm["data"][file]))
        }
        None => {
            let secret = named(objects, "Secret", str_of(&volume["secret"]["secretName"]));
            pem(&b64(&secret["data"][file]))
        }
    };
    let mut roots = RootCertStore::empty();
    for c in client_cas {
        roots.add(c).unwrap();
    }
    let secret = named(objects, "Secret", "buildkit-daemon-tls");
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(b64(&secret["data"]["tls.key"]).as_bytes()).unwrap();
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(pem(&b64(&secret["data"]["tls.crt"])), key)
        .unwrap();
    Arc::new(config)
}

/// Trust domains hold in the handshake: each client gets into the pools its `pools` lists and
/// is refused by every other pool's daemons, with the certificates and objects `render` makes.
#[test]
fn a_client_is_refused_by_every_pool_outside_its_pools() {
    use crate::common;
    let dir = tempfile::tempdir().unwrap();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/trust-domains.toml");
    let objects = common::parse_stream(&common::render_file(&spec, dir.path()));
    let client = |name: &str| {
        let own = dir.path().join("client").join(name);
        client_config(&own.join("ca.crt"), Some(&own))
    };
    let host = |pool: &str| format!("buildkit-{pool}.buildkit.svc");
    for (name, pool, admitted) in [
        ("release", "release", true),
        ("release", "forks", false),
        ("forks", "forks", true),
        ("forks", "release", false),
    ] {
        let result = handshake(pool_server(&objects, pool), client(name), &host(pool));
        match admitted {
            true => assert_eq!(result, Ok(()), "client `{name}` on pool `{pool}`"),
            false => {
                let err = result.expect_err(&format!("client `{name}` got into pool `{pool}`"));
                assert!(
                    err.contains("UnknownCA") || err.contains("UnknownIssuer"),
                    "client `{name}` on pool `{pool}`: {err}"
                );
            }
        }
    }
}

/// Without trust domains every client opens every pool, as before: one CA, one bundle.
#[test]
fn without_pools_every_client_opens_every_pool() {
    use crate::common;
    let dir = tempfile::tempdir().unwrap();
    let spec = "name = \"buildkit\"\n[[tls.client]]\nname = \"a\"\n[[tls.client]]\nname = \"b\"\n[[pool]]\narch = \"amd64\"\n[[pool]]\narch = \"arm64\"\n";
    let path = dir.path().join("farm.toml");
    std::fs::write(&path, spec).unwrap();
    let certs = dir.path().join("certs");
    let objects = common::parse_stream(&common::render_file(&path, &certs));
    for name in ["a", "b"] {
        let own = certs.join("client").join(name);
        for pool in ["amd64", "arm64"] {
            let client = client_config(&own.join("ca.crt"), Some(&own));
            let host = format!("buildkit-{pool}.buildkit.svc");
            assert_eq!(
                handshake(pool_server(&objects, pool), client, &host),
                Ok(())
            );
        }
    }
}
