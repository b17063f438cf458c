//! Wiring: the database, S3, the claim loop and the gRPC server (control plane, health and
//! reflection), run until the shutdown future resolves.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use vodnest_core::db;
use vodnest_core::storage::Storage;
use vodnest_proto::pb::FILE_DESCRIPTOR_SET;
use vodnest_proto::pb::processor_server::ProcessorServer;

use crate::config::ProcessorConfig;
use crate::grpc;
use crate::job::{JobContext, Transcode};
use crate::media::process;
use crate::worker;

pub struct Processor {
    ctx: Arc<JobContext>,
    grpc_listener: TcpListener,
    worker_id: String,
}

impl Processor {
    /// Connects to Postgres (running migrations) and S3 and binds the gRPC port (0 works).
    /// Fails at once when ffmpeg or ffprobe cannot run: every job would fail without them.
    pub async fn build(config: ProcessorConfig) -> anyhow::Result<Self> {
        for program in ["ffprobe", "ffmpeg"] {
            process::require(program)
                .await
                .with_context(|| format!("the processor needs {program}"))?;
        }
        let pool = db::connect_and_migrate(&config.database).await?;
        let storage = Storage::from_env(&config.storage).await;
        let grpc_listener = TcpListener::bind(config.grpc_addr).await?;
        Ok(Self {
            ctx: Arc::new(JobContext::new(pool, storage, config)),
            grpc_listener,
            worker_id: worker::worker_id(),
        })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_listener
            .local_addr()
            .unwrap_or(self.ctx.config.grpc_addr)
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Serves until `shutdown` resolves; then stops claiming, drains running jobs within the
    /// grace period and stops the gRPC server.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let config = &self.ctx.config;
        let settings = worker::WorkerSettings {
            concurrency: config.concurrency as usize,
            lease: config.lease(),
            poll: config.poll(),
            shutdown_grace: config.shutdown_grace(),
            listen: true,
        };
        let worker = tokio::spawn(worker::run(
            self.ctx.pool.clone(),
            settings,
            Arc::new(Transcode(self.ctx.clone())),
            self.worker_id.clone(),
            stop.clone(),
        ));

        let server_stop = stop.clone();
        let server = tokio::spawn(serve_grpc(
            self.grpc_listener,
            self.ctx.pool.clone(),
            async move { server_stop.cancelled().await },
        ));

        shutdown.await;
        stop.cancel();
        worker.await?;
        server.await??;
        Ok(())
    }
}

/// Serves the control plane, `grpc.health.v1` and server reflection on `listener` until
/// `shutdown` resolves.
pub async fn serve_grpc(
    listener: TcpListener,
    pool: PgPool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<ProcessorServer<grpc::ControlPlane>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    tonic::transport::Server::builder()
        .add_service(health)
        .add_service(reflection)
        .add_service(grpc::server(pool))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}
