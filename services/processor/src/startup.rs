//! Wiring: the database, S3, the claim loop, the gRPC server (control plane, health and
//! reflection) and `GET /metrics` on `METRICS_ADDR`, run until the shutdown future resolves.
//! All run supervised: one that ends
//! before shutdown (an error, a panic) stops the others and makes the process exit non-zero,
//! instead of going unnoticed until the next SIGTERM.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::{self, JoinSet};
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use vodnest_core::storage::Storage;
use vodnest_core::{db, metrics};
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
    /// `GET /metrics`; none with `METRICS_ADDR=off`.
    metrics_listener: Option<TcpListener>,
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
        let pool = db::connect_and_migrate(&config.database)
            .await
            .context("connecting to Postgres and running the migrations")?;
        let storage = Storage::from_env(&config.storage).await;
        let grpc_listener = TcpListener::bind(config.grpc_addr)
            .await
            .with_context(|| format!("binding the gRPC listener on {}", config.grpc_addr))?;
        let metrics_listener = match config.metrics_addr.0 {
            Some(addr) => {
                let listener = metrics::bind(addr)
                    .await
                    .with_context(|| format!("binding the metrics listener on {addr}"))?;
                metrics::handle()
                    .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
                Some(listener)
            }
            None => None,
        };
        Ok(Self {
            ctx: Arc::new(JobContext::new(pool, storage, config)),
            grpc_listener,
            metrics_listener,
            worker_id: worker::worker_id(),
        })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_listener
            .local_addr()
            .unwrap_or(self.ctx.config.grpc_addr)
    }

    /// Where `GET /metrics` is served (none with `METRICS_ADDR=off`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        let listener = self.metrics_listener.as_ref()?;
        listener
            .local_addr()
            .ok()
            .or(self.ctx.config.metrics_addr.0)
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Serves until `shutdown` resolves; then stops claiming, drains running jobs within the
    /// grace period and stops the gRPC server. Fails, stopping the other, as soon as the
    /// worker or the gRPC server ends on its own.
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
        let mut tasks = Supervisor::default();
        let worker = worker::run(
            self.ctx.pool.clone(),
            settings,
            Arc::new(Transcode(self.ctx.clone())),
            self.worker_id.clone(),
            stop.clone(),
        );
        tasks.spawn("worker", async move {
            worker.await;
            Ok(())
        });
        let server_stop = stop.clone();
        tasks.spawn(
            "gRPC server",
            serve_grpc(
                self.grpc_listener,
                self.ctx.pool.clone(),
                self.ctx.config.admin_token.clone(),
                async move { server_stop.cancelled().await },
            ),
        );
        if let Some(listener) = self.metrics_listener {
            let metrics_stop = stop.clone();
            tasks.spawn("metrics server", async move {
                metrics::serve(listener, metrics_stop)
                    .await
                    .context("serving /metrics")
            });
            let sampler_stop = stop.clone();
            let pool = self.ctx.pool.clone();
            tasks.spawn("metrics sampler", async move {
                // The API alone publishes the queue to CloudWatch (it runs when no processor does).
                metrics::sample_database(pool, sampler_stop, || {}, None).await;
                Ok(())
            });
        }
        tasks.run_until(shutdown, &stop).await
    }
}

/// Long-running tasks that must not end before the shutdown, by name.
#[derive(Default)]
struct Supervisor {
    tasks: JoinSet<anyhow::Result<()>>,
    names: HashMap<task::Id, &'static str>,
}

impl Supervisor {
    fn spawn(
        &mut self,
        name: &'static str,
        task: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) {
        let id = self.tasks.spawn(task).id();
        self.names.insert(id, name);
    }

    /// Waits for `shutdown`, or for a task to end first (its error, its panic, or its return:
    /// all faults); then cancels `stop` and waits for every task. Returns the fault, or else
    /// the first error a task ended with.
    async fn run_until(
        mut self,
        shutdown: impl Future<Output = ()>,
        stop: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut failure = tokio::select! {
            () = shutdown => None,
            Some(ended) = self.tasks.join_next_with_id() => {
                let (name, result) = self.outcome(ended);
                let fault = result
                    .err()
                    .unwrap_or_else(|| anyhow::anyhow!("it returned"))
                    .context(format!("the {name} stopped before the shutdown"));
                tracing::error!(error = format!("{fault:#}"), "stopping the processor");
                Some(fault)
            }
        };
        stop.cancel();
        while let Some(ended) = self.tasks.join_next_with_id().await {
            let (name, result) = self.outcome(ended);
            if let Err(err) = result {
                let err = err.context(format!("the {name} failed"));
                match failure {
                    None => failure = Some(err),
                    Some(_) => tracing::error!(error = format!("{err:#}"), "while stopping"),
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Which task ended, and how (a panic is an error).
    fn outcome(
        &self,
        ended: Result<(task::Id, anyhow::Result<()>), task::JoinError>,
    ) -> (&'static str, anyhow::Result<()>) {
        let (id, result) = match ended {
            Ok((id, result)) => (id, result),
            Err(err) => (err.id(), Err(anyhow::anyhow!("{err}"))),
        };
        (self.names.get(&id).copied().unwrap_or("task"), result)
    }
}

/// Serves the control plane, `grpc.health.v1` and server reflection on `listener` until
/// `shutdown` resolves.
pub async fn serve_grpc(
    listener: TcpListener,
    pool: PgPool,
    admin_token: Option<vodnest_core::secret::Secret>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<ProcessorServer<grpc::ControlPlane>>()
        .await;
    // Both reflection versions: grpcurl and older tools still ask for v1alpha.
    let described = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection = described()
        .build_v1()
        .context("building the gRPC reflection service")?;
    let reflection_v1alpha = described()
        .build_v1alpha()
        .context("building the gRPC reflection service (v1alpha)")?;
    tonic::transport::Server::builder()
        .add_service(health)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(grpc::server(pool, admin_token))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
        .context("serving gRPC")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A task that runs until `stop`, then notes that it stopped.
    fn until_stopped(
        stop: &CancellationToken,
        stopped: &CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let (stop, stopped) = (stop.clone(), stopped.clone());
        async move {
            stop.cancelled().await;
            stopped.cancel();
            Ok(())
        }
    }

    async fn supervised(
        fault: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) -> (anyhow::Result<()>, bool) {
        let (stop, other_stopped) = (CancellationToken::new(), CancellationToken::new());
        let mut tasks = Supervisor::default();
        tasks.spawn("server", until_stopped(&stop, &other_stopped));
        tasks.spawn("worker", fault);
        let result = tokio::time::timeout(
            Duration::from_secs(5),
            tasks.run_until(std::future::pending(), &stop),
        )
        .await
        .expect("a fault ends the run without a shutdown");
        (result, other_stopped.is_cancelled())
    }

    #[tokio::test]
    async fn a_task_that_fails_stops_the_others_and_is_an_error() {
        let (result, other_stopped) = supervised(async { anyhow::bail!("lost the socket") }).await;
        let err = format!("{:#}", result.expect_err("a fault"));
        assert!(
            err.contains("the worker stopped before the shutdown"),
            "{err}"
        );
        assert!(err.contains("lost the socket"), "{err}");
        assert!(other_stopped);
    }

    #[tokio::test]
    async fn a_task_that_panics_or_returns_early_is_an_error() {
        let (result, other_stopped) = supervised(async { panic!("a bug") }).await;
        let err = format!("{:#}", result.expect_err("a panic is a fault"));
        assert!(
            err.contains("the worker stopped") && err.contains("panicked"),
            "{err}"
        );
        assert!(other_stopped);
        let (result, _) = supervised(async { Ok(()) }).await;
        let err = format!("{:#}", result.expect_err("returning early is a fault"));
        assert!(
            err.contains("the worker stopped before the shutdown"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_shutdown_stops_every_task_cleanly() {
        let (stop, stopped) = (CancellationToken::new(), CancellationToken::new());
        let mut tasks = Supervisor::default();
        tasks.spawn("server", until_stopped(&stop, &stopped));
        tasks.spawn("worker", until_stopped(&stop, &CancellationToken::new()));
        tasks
            .run_until(std::future::ready(()), &stop)
            .await
            .expect("a clean stop");
        assert!(stopped.is_cancelled());
    }
}
