//! Prometheus metrics. Both services record through the `metrics` facade into one recorder per
//! process and serve `GET /metrics` on their own `METRICS_ADDR` (never on the public listener).
//! Names follow Prometheus conventions: `vodnest_…_total` for counters, `_seconds` for
//! durations. What only the database knows (queue depth, the oldest queued job's age, jobs by
//! kind and state, the connection pool) is sampled every few seconds rather than at each scrape,
//! so a scrape costs no query.

use std::net::{AddrParseError, SocketAddr};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cloudwatch::{Emitter, QueueSample};
use crate::job_kind::{JobKind, JobState};
use crate::jobs;

/// How often the database-backed gauges are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Buckets of every `_seconds` histogram: HTTP requests (ms) to long jobs (hours).
const SECONDS_BUCKETS: [f64; 16] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 600.0, 3600.0,
    14400.0,
];
/// Buckets of the ×realtime speed of jobs.
const SPEED_BUCKETS: [f64; 10] = [0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0, 300.0, 1000.0];

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The process's recorder, installed on first use. Tests run both services, and several apps,
/// in one process: they share it (`OnceLock` makes concurrent first calls wait for one install).
pub fn handle() -> Result<PrometheusHandle, String> {
    HANDLE.get_or_init(install).clone()
}

fn install() -> Result<PrometheusHandle, String> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_ratio".into()), &SPEED_BUCKETS))
        .map_err(|e| e.to_string())?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|_| "another metrics recorder is installed".to_owned())?;
    Ok(handle)
}

/// `METRICS_ADDR`: where `GET /metrics` is served, or `off`: no recorder is installed and no
/// listener bound, so recording a metric costs nothing (the overhead benches compare the two).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

impl FromStr for MetricsAddr {
    type Err = AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("off") {
            Ok(Self(None))
        } else {
            s.parse().map(|addr| Self(Some(addr)))
        }
    }
}

impl std::fmt::Display for MetricsAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("off"),
        }
    }
}

/// Binds `METRICS_ADDR` (port 0 works for tests).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `GET /metrics` on `listener` until `stop`.
pub async fn serve(listener: TcpListener, stop: CancellationToken) -> std::io::Result<()> {
    let handle = handle().map_err(std::io::Error::other)?;
    let router = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    handle.render(),
                )
            }
        }),
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

/// Samples the queue, the uploads in flight and the pool every few seconds until `stop`;
/// `also` records what the service itself knows at the same pace; `cloudwatch` (the API's,
/// when `CLOUDWATCH_METRICS=emf`) publishes the same queue sample to CloudWatch.
pub async fn sample_database(
    pool: PgPool,
    stop: CancellationToken,
    also: impl Fn() + Send,
    mut cloudwatch: Option<Emitter>,
) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        record_pool(&pool);
        also();
        match record_queue(&pool).await {
            Ok(queue) => {
                if let Some(emitter) = cloudwatch.as_mut() {
                    emitter.sample(&pool, queue).await;
                }
            }
            Err(err) => tracing::debug!(error = %err, "cannot sample the queue for metrics"),
        }
    }
}

fn record_pool(pool: &PgPool) {
    let (size, idle) = (pool.size() as f64, pool.num_idle() as f64);
    metrics::gauge!("vodnest_db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("vodnest_db_pool_connections", "state" => "used").set(size - idle);
}

async fn record_queue(pool: &PgPool) -> Result<QueueSample, sqlx::Error> {
    let counts = sqlx::query!(
        r#"select kind as "kind: JobKind", state as "state: JobState", count(*) as "count!"
         from jobs group by kind, state"#
    )
    .fetch_all(pool)
    .await?;
    for kind in JobKind::ALL {
        for state in JobState::ALL {
            let count = counts
                .iter()
                .find(|c| c.kind == *kind && c.state == *state)
                .map_or(0, |c| c.count);
            metrics::gauge!("vodnest_jobs", "kind" => kind.as_str(), "state" => state.as_str())
                .set(count as f64);
        }
    }
    // The queue and its age are the processors' due work (what more processors would
    // shorten); webhook deliveries, and jobs not due yet (a retry's backoff, a parked step),
    // show in `vodnest_jobs` only.
    let due = jobs::due_work(pool).await?;
    metrics::gauge!("vodnest_queue_oldest_job_age_seconds").set(due.oldest_age_s);
    metrics::gauge!("vodnest_queue_depth").set(due.depth);
    let uploads = sqlx::query!(
        r#"select count(*) as "count!", coalesce(sum(size_bytes), 0)::float8 as "bytes!"
         from videos where status = 'awaiting_upload'"#
    )
    .fetch_one(pool)
    .await?;
    metrics::gauge!("vodnest_uploads_in_flight").set(uploads.count as f64);
    metrics::gauge!("vodnest_uploads_in_flight_bytes").set(uploads.bytes);
    Ok(due)
}
