//! One daemon, asked over mTLS: the TLS handshake done here (so a refusal says which side
//! refused and why, and the daemon's certificate is at hand), then BuildKit's Control API over
//! that connection with tonic.

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tonic::codegen::http::uri::PathAndQuery;

use super::model::{Build, Facts, Failure, Target, Usage, Worker};
use super::wire;
use crate::diagnostic::{Diagnostic, Invalid};
use crate::rule::Rule;

/// The client side of the farm's mTLS: its CA and a client certificate.
#[derive(Clone)]
pub(crate) struct Tls {
    config: Arc<rustls::ClientConfig>,
}

impl Tls {
    /// From a client's folder (`ca.crt`, `tls.crt`, `tls.key`), as `client buildctl` uses it.
    pub(crate) fn load(dir: &std::path::Path) -> anyhow::Result<Tls> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path)
                .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", path.display()))
        };
        let (ca, cert, key) = (read("ca.crt")?, read("tls.crt")?, read("tls.key")?);
        // Files that are there but hold no usable PEM are invalid input (exit 1), not I/O.
        let invalid = |file: &str, why: String| -> anyhow::Error {
            let message = format!("`{}`: {why}", dir.join(file).display());
            let d = Diagnostic::bare(message).rule(Rule::CertInvalid);
            Invalid::from(d.hint("`buildfarm certs show` checks the farm's certificates; pass `--certs DIR` for another client folder")).into()
        };
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&ca) {
            let c = c.map_err(|_| invalid("ca.crt", "not a PEM certificate".into()))?;
            roots.add(c).map_err(|e| invalid("ca.crt", e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(invalid("ca.crt", "holds no certificate".into()));
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert)
            .collect::<Result<_, _>>()
            .map_err(|_| invalid("tls.crt", "not a PEM certificate".into()))?;
        let key = PrivateKeyDer::from_pem_slice(&key)
            .map_err(|_| invalid("tls.key", "not a PEM private key".into()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| invalid("tls.key", format!("does not go with tls.crt ({e})")))?;
        // gRPC is HTTP/2; Go's gRPC servers require it to be negotiated.
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Tls {
            config: Arc::new(config),
        })
    }
}

/// With trust domains, the client certificates each daemon is tried with: every client folder
/// at hand, by client name.
pub(crate) type Probes = Vec<(String, Tls)>;

/// Asks one daemon everything `status` shows: Info, ListWorkers, DiskUsage and the recorded
/// builds (ListenBuildHistory with EarlyExit).
pub(super) async fn query(tls: &Tls, target: &Target) -> Result<Facts, Failure> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| Failure::Unreachable(e.to_string()))?;
    let name = ServerName::try_from(target.servername.clone())
        .map_err(|_| Failure::Unreachable(format!("`{}` is no server name", target.servername)))?;
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(|e| refusal(&e, target))?;
    let cert_not_after = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|der| x509_parser::parse_x509_certificate(der).ok())
        .map(|(_, cert)| cert.validity().not_after.timestamp());
    // TLS 1.3: the daemon judges the client certificate after the client's handshake is done,
    // so a refusal arrives as an alert instead of the first bytes an HTTP/2 server sends (its
    // SETTINGS, at once): read those first, and keep them for tonic.
    let seen: Seen = Arc::new(Mutex::new(None));
    let mut recording = Recording {
        inner: stream,
        seen: seen.clone(),
        prefix: Vec::new(),
    };
    recording.first_bytes(target).await?;
    let asked = ask(recording, target).await;
    let alert = seen.lock().ok().and_then(|mut s| s.take());
    match (asked, alert) {
        (Err(Failure::Rpc(_)), Some(tls)) => Err(tls_failure(&tls, target)),
        (asked, _) => asked.map(|mut facts| {
            facts.cert_not_after = cert_not_after;
            facts
        }),
    }
}

/// Whether the daemon admits the client certificate of `tls`: the handshake, then its first
/// bytes (under TLS 1.3 a refusal comes as an alert after the handshake; an admitted client
/// gets HTTP/2's SETTINGS at once). `None` when the try tells nothing (no answer, the daemon's
/// own certificate refused).
pub(super) async fn admits(tls: &Tls, target: &Target) -> Option<bool> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .ok()?;
    let name = ServerName::try_from(target.servername.clone()).ok()?;
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    let stream = match connector.connect(name, tcp).await {
        Ok(stream) => stream,
        Err(e) => {
            return matches!(refusal(&e, target), Failure::ClientCertRefused(_)).then_some(false);
        }
    };
    let mut recording = Recording {
        inner: stream,
        seen: Arc::new(Mutex::new(None)),
        prefix: Vec::new(),
    };
    match recording.first_bytes(target).await {
        Ok(()) if !recording.prefix.is_empty() => Some(true),
        Ok(()) => None,
        Err(Failure::ClientCertRefused(_)) => Some(false),
        Err(_) => None,
    }
}

/// How long to wait for the daemon's first bytes after the handshake before going on (a gRPC
/// server sends them at once; this only bounds a server that does not).
const FIRST_BYTES: std::time::Duration = std::time::Duration::from_millis(200);

/// The Control API calls, over a connection whose TLS is done.
async fn ask(stream: Recording, target: &Target) -> Result<Facts, Failure> {
    let channel = tonic::transport::Endpoint::from_static("http://buildkitd")
        .connect_with_connector(OneShot(Arc::new(Mutex::new(Some(stream)))))
        .await
        .map_err(|e| rpc_failure(&e, target))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    let info: wire::InfoResponse =
        unary(&mut grpc, wire::INFO, wire::InfoRequest {}, target).await?;
    let workers: wire::ListWorkersResponse = unary(
        &mut grpc,
        wire::LIST_WORKERS,
        wire::ListWorkersRequest::default(),
        target,
    )
    .await?;
    let usage: wire::DiskUsageResponse = unary(
        &mut grpc,
        wire::DISK_USAGE,
        wire::DiskUsageRequest::default(),
        target,
    )
    .await?;
    let builds = history(&mut grpc, target).await?;
    Ok(Facts {
        version: info.buildkit_version.map(|v| v.version).unwrap_or_default(),
        workers: workers.record.into_iter().map(worker).collect(),
        usage: usage_of(&usage.record),
        builds,
        cert_not_after: None,
    })
}

/// The TLS error a connection ended with, if one did.
type Seen = Arc<Mutex<Option<rustls::Error>>>;

/// The daemon connection, noting the TLS error it fails with; `prefix` holds bytes read before
/// tonic took over, handed to it first.
struct Recording {
    inner: TlsStream<TcpStream>,
    seen: Seen,
    prefix: Vec<u8>,
}

impl Recording {
    /// Reads what the daemon says first: its refusal of the client certificate, or the start of
    /// HTTP/2 (kept in `prefix`).
    async fn first_bytes(&mut self, target: &Target) -> Result<(), Failure> {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 16 * 1024];
        match tokio::time::timeout(FIRST_BYTES, self.inner.read(&mut buf)).await {
            Err(_) => Ok(()),
            Ok(Ok(0)) => Err(Failure::ClientCertRefused(
                "none: it closed the connection right after the handshake".into(),
            )),
            Ok(Ok(n)) => {
                buf.truncate(n);
                self.prefix = buf;
                Ok(())
            }
            Ok(Err(e)) => Err(refusal(&e, target)),
        }
    }

    fn note<T>(&self, r: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        if let Poll::Ready(Err(e)) = &r
            && let Some(tls) = tls_cause(e)
            && let Ok(mut seen) = self.seen.lock()
        {
            seen.get_or_insert(tls);
        }
        r
    }
}

impl tokio::io::AsyncRead for Recording {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.drain(..n);
            return Poll::Ready(Ok(()));
        }
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        self.note(r)
    }
}

impl tokio::io::AsyncWrite for Recording {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(r)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_flush(cx);
        self.note(r)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_shutdown(cx);
        self.note(r)
    }
}

type Grpc = tonic::client::Grpc<tonic::transport::Channel>;

async fn unary<Req, Resp>(
    grpc: &mut Grpc,
    path: &'static str,
    req: Req,
    target: &Target,
) -> Result<Resp, Failure>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    grpc.ready().await.map_err(|e| rpc_failure(&e, target))?;
    let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
    let path = PathAndQuery::from_static(path);
    match grpc.unary(tonic::Request::new(req), path, codec).await {
        Ok(resp) => Ok(resp.into_inner()),
        Err(status) => Err(status_failure(&status, target)),
    }
}

/// The builds the daemon keeps in its history: `EarlyExit` ends the stream after them.
async fn history(grpc: &mut Grpc, target: &Target) -> Result<Vec<Build>, Failure> {
    grpc.ready().await.map_err(|e| rpc_failure(&e, target))?;
    let codec =
        tonic_prost::ProstCodec::<wire::BuildHistoryRequest, wire::BuildHistoryEvent>::default();
    let req = wire::BuildHistoryRequest {
        early_exit: true,
        ..Default::default()
    };
    let path = PathAndQuery::from_static(wire::LISTEN_BUILD_HISTORY);
    let mut stream = match grpc
        .server_streaming(tonic::Request::new(req), path, codec)
        .await
    {
        Ok(s) => s.into_inner(),
        Err(status) => return Err(status_failure(&status, target)),
    };
    let mut builds = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(event)) => {
                let Some(r) = event
                    .record
                    .filter(|_| event.r#type == wire::EVENT_COMPLETE)
                else {
                    continue;
                };
                builds.push(Build {
                    created: r.created_at.map_or(0, |t| t.seconds),
                    completed: r.completed_at.map(|t| t.seconds),
                    cached_steps: u32::try_from(r.num_cached_steps).unwrap_or(0),
                    total_steps: u32::try_from(r.num_total_steps).unwrap_or(0),
                    failed: r.error.is_some_and(|e| e.code != 0),
                });
            }
            Ok(None) => return Ok(builds),
            Err(status) => return Err(status_failure(&status, target)),
        }
    }
}

fn worker(w: wire::WorkerRecord) -> Worker {
    let platforms = w
        .platforms
        .iter()
        .map(|p| match p.variant.as_str() {
            "" => format!("{}/{}", p.os, p.architecture),
            v => format!("{}/{}/{v}", p.os, p.architecture),
        })
        .collect();
    Worker {
        id: w.id,
        platforms,
        architectures: w.platforms.into_iter().map(|p| p.architecture).collect(),
        gc: w.gc_policy,
    }
}

/// Totals over the cache records, as `buildctl du` counts them.
fn usage_of(records: &[wire::UsageRecord]) -> Usage {
    let size = |r: &wire::UsageRecord| u64::try_from(r.size).unwrap_or(0);
    let sum = |keep: &dyn Fn(&wire::UsageRecord) -> bool| {
        records.iter().filter(|r| keep(r)).map(size).sum()
    };
    Usage {
        records: records.len(),
        used: sum(&|_| true),
        reclaimable: sum(&|r| !r.in_use),
        in_use: sum(&|r| r.in_use),
        shared: sum(&|r| r.shared),
    }
}

/// A refused handshake, said from the side that refused.
fn refusal(e: &std::io::Error, target: &Target) -> Failure {
    match tls_cause(e) {
        Some(tls) => tls_failure(&tls, target),
        None => Failure::Unreachable(e.to_string()),
    }
}

/// A TLS error as the side that refused: buildfarm (the daemon's certificate) or the daemon
/// (an alert about buildfarm's).
fn tls_failure(tls: &rustls::Error, target: &Target) -> Failure {
    match tls {
        rustls::Error::InvalidCertificate(why) => {
            Failure::DaemonCertRefused(daemon_cert_reason(why, target))
        }
        rustls::Error::AlertReceived(alert) => Failure::ClientCertRefused(format!("{alert:?}")),
        other => Failure::Tls(other.to_string()),
    }
}

/// Why buildfarm refused the daemon's certificate, in the farm's terms.
fn daemon_cert_reason(why: &rustls::CertificateError, target: &Target) -> String {
    use rustls::CertificateError as E;
    match why {
        E::UnknownIssuer | E::BadSignature => {
            "it is not signed by the farm's CA (the client's ca.crt): another farm's daemon, or certificates reissued without a rollout".into()
        }
        E::NotValidForName | E::NotValidForNameContext { .. } => format!(
            "it does not cover the name `{}` (its SANs come from farm.toml: pods, Services, [expose], extra_sans)",
            target.servername
        ),
        E::Expired | E::ExpiredContext { .. } => "it has expired: `buildfarm certs renew`, then roll the pods".into(),
        other => format!("{other:?}"),
    }
}

/// The rustls error inside an error chain, if TLS is what failed.
fn tls_cause(e: &(dyn StdError + 'static)) -> Option<rustls::Error> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t.clone());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(t) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Some(t.clone());
        }
        next = err.source();
    }
    None
}

fn rpc_failure(e: &(dyn StdError + 'static), target: &Target) -> Failure {
    match tls_cause(e) {
        Some(tls) => tls_failure(&tls, target),
        None => Failure::Rpc(e.to_string()),
    }
}

fn status_failure(status: &tonic::Status, target: &Target) -> Failure {
    match status.source().and_then(tls_cause) {
        Some(tls) => tls_failure(&tls, target),
        None => Failure::Rpc(format!("{}: {}", status.code(), status.message())),
    }
}

/// Hands tonic the connection already made (and checked); it never dials again.
#[derive(Clone)]
struct OneShot(Arc<Mutex<Option<Recording>>>);

impl tonic::codegen::Service<tonic::codegen::http::Uri> for OneShot {
    type Response = hyper_util::rt::TokioIo<Recording>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: tonic::codegen::http::Uri) -> Self::Future {
        let stream = self.0.lock().ok().and_then(|mut s| s.take());
        std::future::ready(
            stream
                .map(hyper_util::rt::TokioIo::new)
                .ok_or_else(|| std::io::Error::other("the connection to the daemon was lost")),
        )
    }
}
