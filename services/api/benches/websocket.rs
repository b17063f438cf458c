//! Websocket fan-out benchmark (not a test): 1,000 subscribers spread over 100 videos, status
//! changes made in Postgres (trigger → NOTIFY → the API's one listener → every subscriber).
//! Prints NOTIFY-to-frame latency p50/p99, the Postgres connections the API holds (and how
//! many LISTEN) and the API process's peak RSS.
//! Targets: p99 <= 50 ms, one listening connection per API process, RSS <= 150 MiB.
//!
//! Run: `eval "$(./dev env)" && cargo bench -p vodnest-api --bench websocket`

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;
use vodnest_testkit::{TestDatabase, fake_video};

const VIDEOS: usize = 100;
const PER_VIDEO: usize = 10;
const ROUNDS: u32 = 20;
/// One round updates every video once; rounds are this far apart (1,000 updates/s).
const ROUND_EVERY: Duration = Duration::from_millis(100);
const BENCH_APP: &str = "vodnest-websocket-bench";

/// When each (video, progress) update was committed.
type Sent = Arc<Mutex<HashMap<(Uuid, u32), Instant>>>;

fn progress_of(round: u32) -> f64 {
    f64::from(round + 1) / 1000.0
}

fn key(progress: f64) -> u32 {
    (progress * 1000.0).round() as u32
}

async fn api_ready(base: &str) -> Result<()> {
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

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// One subscriber: reads frames until `expected` status frames arrived, recording latencies.
async fn subscribe(
    url: String,
    sent: Sent,
    latencies: Arc<Mutex<Vec<Duration>>>,
    expected: u32,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Result<()> {
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await?;
    let mut seen = 0;
    while let Some(message) = socket.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        let arrived = Instant::now();
        let frame: serde_json::Value = serde_json::from_str(text.as_str())?;
        if frame["type"] == "snapshot" {
            let _ = ready.send(()).await;
            continue;
        }
        let (Some(id), Some(progress)) = (frame["id"].as_str(), frame["progress"].as_f64()) else {
            continue;
        };
        let at = sent
            .lock()
            .ok()
            .and_then(|s| s.get(&(id.parse().ok()?, key(progress))).copied());
        if let Some(at) = at
            && let Ok(mut all) = latencies.lock()
        {
            all.push(arrived.saturating_duration_since(at));
        }
        seen += 1;
        if seen >= expected {
            break;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let db = TestDatabase::create().await?;
    // Named, so that counting the API's connections can leave the bench's own out.
    let options: PgConnectOptions = db.url.parse()?;
    let pool = PgPool::connect_with(options.application_name(BENCH_APP)).await?;
    vodnest_core::db::MIGRATOR.run(&pool).await?;
    let mut videos = Vec::new();
    for _ in 0..VIDEOS {
        let (id, _) = fake_video(&pool, true).await?;
        videos.push(id);
    }

    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let token = vodnest_core::auth::new_secret();
    let mut api = tokio::process::Command::new(env!("CARGO_BIN_EXE_vodnest-api"))
        .env("DATABASE_URL", &db.url)
        .env("API_ADDR", format!("127.0.0.1:{port}"))
        .env("ADMIN_TOKEN", &token)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting vodnest-api")?;
    let pid = api.id().context("API pid")?;
    let base = format!("http://127.0.0.1:{port}");
    api_ready(&base).await?;

    let sent: Sent = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(VIDEOS * PER_VIDEO);
    let mut subscribers = Vec::new();
    for id in &videos {
        for _ in 0..PER_VIDEO {
            let url = format!("ws://127.0.0.1:{port}/api/v1/videos/{id}/events?token={token}");
            subscribers.push(tokio::spawn(subscribe(
                url,
                sent.clone(),
                latencies.clone(),
                ROUNDS,
                ready_tx.clone(),
            )));
        }
    }
    for _ in 0..VIDEOS * PER_VIDEO {
        ready_rx
            .recv()
            .await
            .context("a subscriber failed before its snapshot")?;
    }
    let connections: Vec<(String, String)> = sqlx::query_as(
        "select coalesce(state, ''), coalesce(query, '') from pg_stat_activity \
         where datname = current_database() and pid <> pg_backend_pid() \
         and application_name <> $1",
    )
    .bind(BENCH_APP)
    .fetch_all(&pool)
    .await?;

    let started = Instant::now();
    let mut tick = tokio::time::interval(ROUND_EVERY);
    for round in 0..ROUNDS {
        tick.tick().await;
        let progress = progress_of(round);
        for id in &videos {
            if let Ok(mut s) = sent.lock() {
                s.insert((*id, key(progress)), Instant::now());
            }
            sqlx::query("update videos set status = 'processing', stage = 'transcoding', progress = $2 where id = $1")
                .bind(id)
                .bind(progress)
                .execute(&pool)
                .await?;
        }
    }
    for subscriber in subscribers {
        tokio::time::timeout(Duration::from_secs(60), subscriber)
            .await
            .context("a subscriber never got all its frames")???;
    }
    let elapsed = started.elapsed();
    let rss = peak_rss_kib(pid);
    api.start_kill()?;
    let _ = api.wait().await;

    let mut all = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    all.sort();
    let listening = connections
        .iter()
        .filter(|(_, q)| q.to_lowercase().starts_with("listen"))
        .count();
    println!(
        "subscribers          {} over {VIDEOS} videos",
        VIDEOS * PER_VIDEO
    );
    println!(
        "updates              {} ({} frames received in {:.1} s)",
        VIDEOS as u32 * ROUNDS,
        all.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "NOTIFY-to-frame      p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms   (target p99 <= 50 ms)",
        percentile(&all, 0.5).as_secs_f64() * 1000.0,
        percentile(&all, 0.99).as_secs_f64() * 1000.0,
        all.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
    println!(
        "API connections      {} to Postgres, {listening} listening   (target: 1 listening)",
        connections.len()
    );
    match rss {
        Some(kib) => println!(
            "API peak RSS         {:.1} MiB   (target <= 150 MiB)",
            kib as f64 / 1024.0
        ),
        None => println!("API peak RSS         unknown"),
    }
    pool.close().await;
    db.drop_database().await
}
