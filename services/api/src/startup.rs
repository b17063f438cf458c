//! Building and running the API: bind first (port 0 works for tests), then serve until the
//! shutdown future resolves (or a background task fails), draining requests in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use vodnest_core::storage::Storage;
use vodnest_core::{db, metrics};

use crate::background::BackgroundTasks;
use crate::body_limit;
use crate::complete_turns::CompleteTurns;
use crate::config::ApiConfig;
use crate::connection_gate::ConnectionGate;
use crate::csp;
use crate::http_metrics;
use crate::hub::EventHub;
use crate::key_cache::KeyCache;
use crate::pages::{self, Site};
use crate::playback::PlaybackSigner;
use crate::request_span::{RecordStatus, RequestSpan};
use crate::routes;
use crate::same_origin::OwnOrigin;
use crate::security_headers;
use crate::server::Server;
use crate::socket_limit::SocketLimit;
use crate::state::AppState;
use crate::sweeper;
use crate::throttle::{self, Throttle};
use crate::webhooks;

pub struct Application {
    listener: TcpListener,
    /// Where `GET /metrics` is served (none with `METRICS_ADDR=off`).
    metrics_addr: Option<SocketAddr>,
    router: Router,
    state: AppState,
    /// The LISTEN loop, the sweeper, the webhook sender, metrics; they stop with the server.
    background: BackgroundTasks,
}

impl Application {
    /// Connects to Postgres (running migrations) and S3, loads the pages, binds and starts the
    /// background tasks.
    pub async fn build(config: ApiConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.api_addr)
            .await
            .with_context(|| format!("binding the API listener on {}", config.api_addr))?;
        let metrics_listener = match config.metrics_addr.0 {
            Some(addr) => Some(
                metrics::bind(addr)
                    .await
                    .with_context(|| format!("binding the metrics listener on {addr}"))?,
            ),
            None => None,
        };
        let metrics_addr = metrics_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let state = app_state(config, &listener).await?;
        let background = start_background(&state, metrics_listener)?;
        Ok(Self {
            listener,
            metrics_addr,
            router: router(state.clone()).context("building the OpenAPI document")?,
            state,
            background,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.config.api_addr)
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops the background tasks. A background task
    /// that ends before (see [`crate::background`]) stops the server too, draining it the
    /// same way, and is the error returned.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            metrics_addr: _,
            router,
            state,
            mut background,
        } = self;
        let failed = background.stop_token().clone();
        let draining = CancellationToken::new();
        let server = Server {
            router,
            gate: Arc::new(ConnectionGate::new(
                &state.config.server,
                &state.config.trusted_proxies,
            )),
            limits: state.config.server,
        };
        let serve = server.run(listener, draining.clone());
        tokio::pin!(serve);
        let outcome = tokio::select! {
            () = &mut serve => Ok(()),
            () = async {
                tokio::select! {
                    () = shutdown => {}
                    () = failed.cancelled() => {}
                }
            } => {
                draining.cancel();
                serve.await;
                Ok(())
            }
            ended = background.first_ended() => {
                tracing::error!(error = format!("{ended:#}"), "stopping the API");
                background.stop_token().cancel();
                draining.cancel();
                serve.await;
                Err(ended)
            }
        };
        background.stop().await;
        outcome
    }
}

/// `pages` under the Content-Security-Policy, framable by `frame_ancestors`. The SDK reads
/// `AWS_ENDPOINT_URL` for S3 (and presigns upload URLs on it), so the policy reads it too.
fn with_policy(
    pages: Router<AppState>,
    state: &AppState,
    frame_ancestors: &str,
) -> Router<AppState> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
    let media = &state.config.storage.media_base_url;
    match csp::header(media, endpoint.as_deref(), frame_ancestors) {
        Some(value) => pages.layer(SetResponseHeaderLayer::overriding(
            axum::http::header::CONTENT_SECURITY_POLICY,
            value,
        )),
        None => pages,
    }
}

pub fn router(state: AppState) -> Result<Router, serde_json::Error> {
    let https = state.config.serves_https();
    let app = Router::new()
        .merge(routes::router()?)
        .merge(with_policy(pages::router(), &state, csp::NO_FRAMING))
        .merge(with_policy(
            pages::embed_router(),
            &state,
            &state.config.embed_frame_ancestors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            throttle::by_ip,
        ))
        // `body_limit` is the one limit on bodies; axum's default would answer in plain text.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body_limit::enforce,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(RequestSpan)
                .on_response(RecordStatus),
        )
        .route_layer(axum::middleware::from_fn(http_metrics::record))
        // Websockets are upgraded before this deadline applies to them.
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .with_state(state);
    Ok(security_headers::add(app, https))
}

/// What every handler shares: Postgres (migrated), S3, the pages, the signers and the limits.
async fn app_state(config: ApiConfig, listener: &TcpListener) -> anyhow::Result<AppState> {
    let pool = db::connect_and_migrate_with(&config.database, config.server.db_acquire_timeout())
        .await
        .context("connecting to Postgres and running the migrations")?;
    let complete_turns =
        CompleteTurns::new(&config.database, config.server.complete_lock_connections)
            .context("setting up the upload-complete connections")?;
    let storage = Storage::from_env(&config.storage).await;
    let site = Site::load(&config).context("loading the page templates")?;
    let own_origin = OwnOrigin::new(config.public_url.as_deref(), listener.local_addr()?);
    let sockets = SocketLimit::new(
        config.server.max_sockets as usize,
        config.public_sockets_per_ip as usize,
        config.server.sockets_per_key as usize,
    );
    let keys = KeyCache::default();
    let playback_key = vodnest_core::signing::key(&pool, "playback")
        .await
        .context("loading the playback signing key")?;
    let playback = PlaybackSigner::new(
        playback_key,
        config.playback_url_ttl(),
        own_origin.primary(),
    )
    .with_cloudfront(config.cloudfront.signer());
    let cdn = vodnest_core::cdn::Cdn::from_env(config.cloudfront.distribution_id.as_deref()).await;
    Ok(AppState {
        playback: Arc::new(playback),
        cdn,
        sockets,
        complete_turns,
        pool,
        storage,
        hub: EventHub::new(keys.clone()),
        keys,
        site: Arc::new(site),
        own_origin: Arc::new(own_origin),
        throttle: Arc::new(Throttle::new(&config.rate_limits)),
        config: Arc::new(config),
    })
}

/// The tasks beside the server: the LISTEN loop, the sweeper, the webhook sender, the metrics
/// server and its sampler.
fn start_background(
    state: &AppState,
    metrics_listener: Option<TcpListener>,
) -> anyhow::Result<BackgroundTasks> {
    let mut background = BackgroundTasks::new();
    let stop = background.stop_token().clone();
    let hub = state.hub.clone();
    background.spawn(
        "the notification hub",
        hub.run_listener(state.pool.clone(), stop.clone()),
    );
    let every = state.config.upload_sweep_every();
    background.spawn(
        "the upload sweeper",
        sweeper::run(state.clone(), every, stop.clone()),
    );
    let client = webhooks::sender::client(&state.config.webhooks)
        .context("building the webhook HTTP client")?;
    background.spawn(
        "the webhook sender",
        webhooks::sender::run(state.clone(), client, stop.clone()),
    );
    let cloudwatch = state.config.cloudwatch.emitter();
    if let Some(listener) = metrics_listener {
        serve_metrics(&mut background, listener)?;
    } else if cloudwatch.is_none() {
        // Neither /metrics nor CloudWatch: nothing reads the sampler's figures.
        return Ok(background);
    }
    let sockets = state.sockets.clone();
    background.spawn(
        "the metrics sampler",
        metrics::sample_database(
            state.pool.clone(),
            stop,
            move || {
                ::metrics::gauge!("vodnest_websockets_open").set(sockets.open() as f64);
            },
            cloudwatch,
        ),
    );
    Ok(background)
}

/// Installs the metrics recorder and serves `GET /metrics` on `listener`.
fn serve_metrics(background: &mut BackgroundTasks, listener: TcpListener) -> anyhow::Result<()> {
    metrics::handle().map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    let stop = background.stop_token().clone();
    background.spawn("the metrics server", async move {
        if let Err(err) = metrics::serve(listener, stop).await {
            tracing::error!(error = %err, "the metrics server failed");
        }
    });
    Ok(())
}
