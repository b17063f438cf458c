//! The processor's gRPC control plane served in-process on an ephemeral port against a fresh,
//! migrated database: the harness of the processor's gRPC tests and the CLI's `jobs` tests.

use anyhow::{Context, Result};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use vodnest_processor::startup::serve_grpc;
use vodnest_proto::bearer::Bearer;
use vodnest_proto::pb::processor_client::ProcessorClient;

/// A `Processor` client whose calls carry a bearer token.
pub type Client = ProcessorClient<InterceptedService<Channel, Bearer>>;

use crate::TestDatabase;

pub struct ControlPlane {
    /// `http://127.0.0.1:PORT`: for a client, or the CLI's `--grpc`.
    pub addr: String,
    pub pool: PgPool,
    /// The server's `ADMIN_TOKEN`.
    pub admin_token: String,
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
        let admin_token = vodnest_core::auth::new_secret();
        let server_token = Some(vodnest_core::secret::Secret::new(&admin_token));
        tokio::spawn(serve_grpc(
            listener,
            pool.clone(),
            server_token,
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(Self {
            addr,
            pool,
            admin_token,
            db,
            stop,
        })
    }

    /// A client of the generated `Processor` service, connected, sending `ADMIN_TOKEN`.
    pub async fn client(&self) -> Result<Client> {
        self.client_with(&self.admin_token).await
    }

    /// A client that sends `token` with every call.
    pub async fn client_with(&self, token: &str) -> Result<Client> {
        let bearer = Bearer::new(token).context("a token that fits in a header")?;
        let channel = Channel::from_shared(self.addr.clone())?.connect().await?;
        Ok(ProcessorClient::with_interceptor(channel, bearer))
    }

    /// A client that sends no token.
    pub async fn anonymous_client(&self) -> Result<ProcessorClient<Channel>> {
        Ok(ProcessorClient::connect(self.addr.clone()).await?)
    }

    /// Stops the server and drops the database.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.pool.close().await;
        self.db.drop_database().await
    }
}
