//! The processor's gRPC control plane served in-process on an ephemeral port against a fresh,
//! migrated database: the harness of the processor's gRPC tests and the CLI's `jobs` tests.

use anyhow::Result;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use vodnest_processor::startup::serve_grpc;
use vodnest_proto::pb::processor_client::ProcessorClient;

use crate::TestDatabase;

pub struct ControlPlane {
    /// `http://127.0.0.1:PORT`: for a client, or the CLI's `--grpc`.
    pub addr: String,
    pub pool: PgPool,
    db: TestDatabase,
    stop: oneshot::Sender<()>,
}

impl ControlPlane {
    pub async fn start() -> Result<Self> {
        let db = TestDatabase::create().await?;
        let pool = PgPool::connect(&db.url).await?;
        vodnest_core::db::MIGRATOR.run(&pool).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve_grpc(listener, pool.clone(), async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            pool,
            db,
            stop,
        })
    }

    /// A client of the generated `Processor` service, connected.
    pub async fn client(&self) -> Result<ProcessorClient<Channel>> {
        Ok(ProcessorClient::connect(self.addr.clone()).await?)
    }

    /// Stops the server and drops the database.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.pool.close().await;
        self.db.drop_database().await
    }
}
