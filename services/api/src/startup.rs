//! Building and running the API: bind first (port 0 works for tests), then serve until the
//! shutdown future resolves, draining requests in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use vodnest_core::db;
use vodnest_core::storage::Storage;

use crate::config::ApiConfig;
use crate::csp;
use crate::hub::EventHub;
use crate::pages::{self, Site};
use crate::routes;
use crate::state::AppState;
use crate::sweeper;

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    /// Stops the background tasks (the LISTEN connection and the upload sweeper).
    listener_task: CancellationToken,
}

impl Application {
    /// Connects to Postgres (running migrations) and S3, loads the pages and binds.
    pub async fn build(config: ApiConfig) -> anyhow::Result<Self> {
        let pool = db::connect_and_migrate(&config.database).await?;
        let storage = Storage::from_env(&config.storage).await;
        let site = Site::load(&config)?;
        let listener = TcpListener::bind(config.api_addr).await?;
        let state = AppState {
            pool,
            storage,
            config: Arc::new(config),
            hub: EventHub::default(),
            site: Arc::new(site),
        };
        let listener_task = CancellationToken::new();
        tokio::spawn(
            state
                .hub
                .clone()
                .run_listener(state.pool.clone(), listener_task.clone()),
        );
        tokio::spawn(sweeper::run(
            state.clone(),
            state.config.upload_sweep_every(),
            listener_task.clone(),
        ));
        Ok(Self {
            listener,
            router: router(state.clone()),
            state,
            listener_task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.config.api_addr)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let result = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        self.listener_task.cancel();
        result
    }
}

/// The pages under their Content-Security-Policy. The SDK reads `AWS_ENDPOINT_URL` for S3 (and
/// presigns upload URLs on it), so the policy reads it too.
fn pages_with_policy(state: &AppState) -> Router<AppState> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
    let pages = pages::router();
    match csp::header(&state.config.storage.media_base_url, endpoint.as_deref()) {
        Some(value) => pages.layer(SetResponseHeaderLayer::overriding(
            axum::http::header::CONTENT_SECURITY_POLICY,
            value,
        )),
        None => pages,
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::router())
        .merge(pages_with_policy(&state))
        .layer(TraceLayer::new_for_http())
        // Websockets are upgraded before this deadline applies to them.
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .with_state(state)
}
