//! What the API's benches share: the API started as its own process, a creator's key, and
//! percentiles.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sqlx::PgPool;
use tokio::process::Child;
use uuid::Uuid;
use vodnest_core::caller::{Role, Scope};

/// The release API, listening on a free port, with rate limits far above what a bench sends
/// (they are settings: the benches raise them like the test suites do).
pub struct Api {
    pub process: Child,
    pid: u32,
    port: u16,
}

impl Api {
    /// The process's peak resident memory so far.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// What the benched API records beside its work.
pub struct Telemetry {
    /// Prometheus metrics (the default), or `METRICS_ADDR=off`.
    pub metrics: bool,
    /// Spans exported to the OTLP collector at this base URL.
    pub otlp_endpoint: Option<String>,
}

pub async fn start_api(
    database_url: &str,
    admin_token: &str,
    telemetry: &Telemetry,
) -> Result<Api> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_vodnest-api"));
    let metrics_addr = if telemetry.metrics {
        "127.0.0.1:0"
    } else {
        "off"
    };
    command.env("METRICS_ADDR", metrics_addr);
    if let Some(endpoint) = &telemetry.otlp_endpoint {
        command.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    }
    let process = command
        .env("DATABASE_URL", database_url)
        .env("API_ADDR", format!("127.0.0.1:{port}"))
        .env("ADMIN_TOKEN", admin_token)
        .env("RATE_LIMIT_IP_BURST", "1000000")
        .env("RATE_LIMIT_IP_PER_SEC", "1000000")
        .env("RATE_LIMIT_KEY_BURST", "1000000")
        .env("RATE_LIMIT_KEY_PER_SEC", "1000000")
        // A thousand sockets of one key from one address.
        .env("MAX_CONNECTIONS", "100000")
        .env("MAX_CONNECTIONS_PER_IP", "100000")
        .env("MAX_SOCKETS", "100000")
        .env("SOCKETS_PER_KEY", "100000")
        // Requests' spans are at info: enabled, so that traces have them, in every run.
        .env("RUST_LOG", "warn,vodnest_api=info")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting vodnest-api")?;
    let pid = process.id().context("API pid")?;
    let api = Api { process, pid, port };
    ready(&api.base()).await?;
    Ok(api)
}

async fn ready(base: &str) -> Result<()> {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the API did not become ready")
}

/// A creator who owns `videos`, and a `videos:read` key of theirs: the everyday caller.
pub async fn creator_key(pool: &PgPool, videos: &[Uuid]) -> Result<String> {
    let user = vodnest_core::users::create(pool, "bench-creator", Role::Creator, None)
        .await?
        .context("a fresh database has no bench-creator")?;
    sqlx::query("update videos set owner_id = $1 where id = any($2)")
        .bind(user.id)
        .bind(videos)
        .execute(pool)
        .await?;
    let scopes = [Scope::VideosRead];
    let (_, token) = vodnest_core::auth::create_key(pool, user.id, "bench", &scopes, None).await?;
    Ok(token)
}

/// `BENCH_RUNS`, or `default` when it is unset or not a number.
pub fn runs(default: usize) -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
