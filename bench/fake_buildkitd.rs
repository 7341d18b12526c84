//! A fake BuildKit daemon for `buildfarm status`: BuildKit's Control service (Info, ListWorkers,
//! DiskUsage, ListenBuildHistory) on 127.0.0.1 over mTLS, with certificates buildfarm issued,
//! answering with canned replies encoded with the messages of `buildfarm::wire`.
//!
//! Shared by the status tests (`tests/status.rs`, as a module) and the benchmark
//! (`bench/fake_buildkitd_main.rs`, the `fake-buildkitd` example).

#![allow(dead_code)] // each user takes the parts it needs

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};

use buildfarm::wire;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::{NamedService, ServerStreamingService, UnaryService};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic::{Request, Response, Status};

/// What the fake daemon answers.
#[derive(Clone, Debug, Default)]
pub struct Canned {
    pub version: String,
    pub platforms: Vec<wire::Platform>,
    pub gc: Vec<wire::GcPolicy>,
    pub usage: Vec<wire::UsageRecord>,
    pub builds: Vec<wire::BuildHistoryRecord>,
}

impl Canned {
    /// A healthy daemon of `version` on `linux/arch`, its cache at `used` bytes, with `builds`
    /// recent builds of 10 steps each, `cached` of them from the cache.
    pub fn healthy(version: &str, arch: &str, used: i64, builds: usize, cached: i32) -> Canned {
        let build = |i: usize| wire::BuildHistoryRecord {
            r#ref: format!("build-{i}"),
            created_at: Some(wire::Timestamp {
                seconds: 1_800_000_000 + i as i64 * 60,
                nanos: 0,
            }),
            completed_at: Some(wire::Timestamp {
                seconds: 1_800_000_030 + i as i64 * 60,
                nanos: 0,
            }),
            num_cached_steps: cached,
            num_total_steps: 10,
            num_completed_steps: 10,
            ..Default::default()
        };
        Canned {
            version: version.to_string(),
            platforms: vec![wire::Platform {
                architecture: arch.to_string(),
                os: "linux".into(),
                variant: String::new(),
            }],
            gc: Vec::new(),
            usage: vec![wire::UsageRecord {
                id: "r1".into(),
                size: used,
                ..Default::default()
            }],
            builds: (0..builds).map(build).collect(),
        }
    }
}

/// The daemon's TLS: its certificate and key, and the CA its clients must come from (the
/// layout buildfarm writes: `<certs>/daemon/tls.{crt,key}`, `<certs>/ca.crt`).
pub fn server_tls(certs: &Path) -> ServerTlsConfig {
    let read = |p: &str| std::fs::read(certs.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    ServerTlsConfig::new()
        .identity(Identity::from_pem(
            read("daemon/tls.crt"),
            read("daemon/tls.key"),
        ))
        .client_ca_root(Certificate::from_pem(read("ca.crt")))
}

/// The daemon's TLS as one pool of a farm with trust domains runs it: the daemon certificate,
/// and as client CAs exactly `client_cas` (PEM, one or more certificates).
pub fn server_tls_trusting(certs: &Path, client_cas: Vec<u8>) -> ServerTlsConfig {
    let read = |p: &str| std::fs::read(certs.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    ServerTlsConfig::new()
        .identity(Identity::from_pem(
            read("daemon/tls.crt"),
            read("daemon/tls.key"),
        ))
        .client_ca_root(Certificate::from_pem(client_cas))
}

/// Serves `canned` on `listener` until the runtime stops.
pub async fn serve(listener: tokio::net::TcpListener, tls: ServerTlsConfig, canned: Canned) {
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tonic::transport::Server::builder()
        .tls_config(tls)
        .expect("a valid TLS config")
        .add_service(Control(Arc::new(canned)))
        .serve_with_incoming(incoming)
        .await
        .expect("the fake daemon serves");
}

#[derive(Clone)]
struct Control(Arc<Canned>);

/// A gRPC server for one method, with prost messages.
fn grpc<A, B>() -> tonic::server::Grpc<tonic_prost::ProstCodec<A, B>>
where
    A: prost::Message + Send + 'static,
    B: prost::Message + Default + Send + 'static,
{
    tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
}

impl NamedService for Control {
    const NAME: &'static str = "moby.buildkit.v1.Control";
}

struct Info(Arc<Canned>);
impl UnaryService<wire::InfoRequest> for Info {
    type Response = wire::InfoResponse;
    type Future = BoxFuture<Response<Self::Response>, Status>;
    fn call(&mut self, _: Request<wire::InfoRequest>) -> Self::Future {
        let version = wire::BuildkitVersion {
            package: "github.com/moby/buildkit".into(),
            version: self.0.version.clone(),
            revision: "fake".into(),
        };
        let reply = wire::InfoResponse {
            buildkit_version: Some(version),
        };
        Box::pin(async move { Ok(Response::new(reply)) })
    }
}

struct Workers(Arc<Canned>);
impl UnaryService<wire::ListWorkersRequest> for Workers {
    type Response = wire::ListWorkersResponse;
    type Future = BoxFuture<Response<Self::Response>, Status>;
    fn call(&mut self, _: Request<wire::ListWorkersRequest>) -> Self::Future {
        let record = wire::WorkerRecord {
            id: "fake-worker".into(),
            platforms: self.0.platforms.clone(),
            gc_policy: self.0.gc.clone(),
            ..Default::default()
        };
        let reply = wire::ListWorkersResponse {
            record: vec![record],
        };
        Box::pin(async move { Ok(Response::new(reply)) })
    }
}

struct Usage(Arc<Canned>);
impl UnaryService<wire::DiskUsageRequest> for Usage {
    type Response = wire::DiskUsageResponse;
    type Future = BoxFuture<Response<Self::Response>, Status>;
    fn call(&mut self, _: Request<wire::DiskUsageRequest>) -> Self::Future {
        let reply = wire::DiskUsageResponse {
            record: self.0.usage.clone(),
        };
        Box::pin(async move { Ok(Response::new(reply)) })
    }
}

type Events =
    tonic::codegen::tokio_stream::Iter<std::vec::IntoIter<Result<wire::BuildHistoryEvent, Status>>>;

struct History(Arc<Canned>);
impl ServerStreamingService<wire::BuildHistoryRequest> for History {
    type Response = wire::BuildHistoryEvent;
    type ResponseStream = Events;
    type Future = BoxFuture<Response<Events>, Status>;
    fn call(&mut self, req: Request<wire::BuildHistoryRequest>) -> Self::Future {
        // Without EarlyExit a real daemon keeps the stream open for new builds.
        let early = req.get_ref().early_exit;
        let events: Vec<_> = self
            .0
            .builds
            .iter()
            .map(|r| {
                Ok(wire::BuildHistoryEvent {
                    r#type: wire::EVENT_COMPLETE,
                    record: Some(r.clone()),
                })
            })
            .collect();
        Box::pin(async move {
            if !early {
                return Err(Status::failed_precondition(
                    "the fake daemon only answers EarlyExit",
                ));
            }
            Ok(Response::new(tonic::codegen::tokio_stream::iter(events)))
        })
    }
}

impl<B> Service<http::Request<B>> for Control
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let canned = self.0.clone();
        match req.uri().path() {
            wire::INFO => Box::pin(async move { Ok(grpc().unary(Info(canned), req).await) }),
            wire::LIST_WORKERS => {
                Box::pin(async move { Ok(grpc().unary(Workers(canned), req).await) })
            }
            wire::DISK_USAGE => Box::pin(async move { Ok(grpc().unary(Usage(canned), req).await) }),
            wire::LISTEN_BUILD_HISTORY => {
                Box::pin(async move { Ok(grpc().server_streaming(History(canned), req).await) })
            }
            _ => {
                Box::pin(
                    async move { Ok(Status::unimplemented("not in the fake daemon").into_http()) },
                )
            }
        }
    }
}
