//! Websocket fan-out benchmark (not a test): 1,000 subscribers spread over 100 videos, status
//! changes made in Postgres (trigger → NOTIFY → the API's one listener → every subscriber).
//! Prints NOTIFY-to-frame latency p50/p99, the Postgres connections the API holds (and how
//! many LISTEN) and the API process's peak RSS.
//! Targets: p99 <= 50 ms, one listening connection per API process, RSS <= 150 MiB.
//!
//! The subscribers connect with `ADMIN_TOKEN` (the baseline: metrics and traces off) and with
//! a creator's API key that owns the videos, and with `ADMIN_TOKEN` to an API with its
//! Prometheus metrics and OTLP traces on (spans exported to a collector stand-in in this
//! process), in alternating runs (`BENCH_RUNS`, default 3, of each); the medians and the ratios
//! to the baseline are printed last. Neither authorization nor telemetry may cost the fan-out:
//! target ratios of p99 <= 1.10 (key) and <= 1.05 (telemetry).
//!
//! Run: `eval "$(./dev env)" && cargo bench -p vodnest-api --bench websocket`

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;
use vodnest_testkit::{TestDatabase, fake_video};

use common::{Telemetry, median, ms, percentile};
use vodnest_testkit::otlp::Collector;

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

/// What one run measured.
struct Run {
    p50: Duration,
    p99: Duration,
    max: Duration,
    frames: usize,
    elapsed: Duration,
    connections: usize,
    listening: usize,
    rss_kib: Option<u64>,
}

/// 1,000 subscribers connected with `token` to a fresh API; `ROUNDS` rounds of updates.
async fn fan_out(
    pool: &PgPool,
    database_url: &str,
    admin_token: &str,
    token: &str,
    videos: &[Uuid],
    telemetry: &Telemetry,
) -> Result<Run> {
    // Progress starts over, so that each run's updates change the rows (and NOTIFY).
    sqlx::query(
        "update videos set status = 'queued', stage = null, progress = 0 where id = any($1)",
    )
    .bind(videos)
    .execute(pool)
    .await?;
    let mut api = common::start_api(database_url, admin_token, telemetry).await?;
    let ws_base = api.base().replacen("http", "ws", 1);

    let sent: Sent = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(VIDEOS * PER_VIDEO);
    let mut subscribers = Vec::new();
    for id in videos {
        for _ in 0..PER_VIDEO {
            let url = format!("{ws_base}/api/v1/videos/{id}/events?token={token}");
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
    .fetch_all(pool)
    .await?;

    let started = Instant::now();
    let mut tick = tokio::time::interval(ROUND_EVERY);
    for round in 0..ROUNDS {
        tick.tick().await;
        let progress = progress_of(round);
        for id in videos {
            if let Ok(mut s) = sent.lock() {
                s.insert((*id, key(progress)), Instant::now());
            }
            sqlx::query("update videos set status = 'processing', stage = 'transcoding', progress = $2 where id = $1")
                .bind(id)
                .bind(progress)
                .execute(pool)
                .await?;
        }
    }
    for subscriber in subscribers {
        tokio::time::timeout(Duration::from_secs(60), subscriber)
            .await
            .context("a subscriber never got all its frames")???;
    }
    let elapsed = started.elapsed();
    let rss_kib = api.peak_rss_kib();
    api.process.start_kill()?;
    let _ = api.process.wait().await;

    let mut all = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    all.sort();
    Ok(Run {
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        max: all.last().copied().unwrap_or_default(),
        frames: all.len(),
        elapsed,
        connections: connections.len(),
        listening: connections
            .iter()
            .filter(|(_, q)| q.to_lowercase().starts_with("listen"))
            .count(),
        rss_kib,
    })
}

fn print_run(label: &str, run: &Run) {
    println!(
        "{label:<12} NOTIFY-to-frame p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} frames in {:.1} s; \
         {} connections ({} listening); peak RSS {}",
        ms(run.p50),
        ms(run.p99),
        ms(run.max),
        run.frames,
        run.elapsed.as_secs_f64(),
        run.connections,
        run.listening,
        run.rss_kib.map_or("unknown".into(), |kib| format!(
            "{:.1} MiB",
            kib as f64 / 1024.0
        )),
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    let runs = common::runs(3);
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
    let admin_token = vodnest_core::auth::new_secret();
    let key = common::creator_key(&pool, &videos).await?;

    println!(
        "subscribers          {} over {VIDEOS} videos; {} updates per run",
        VIDEOS * PER_VIDEO,
        VIDEOS as u32 * ROUNDS
    );
    let collector = Collector::start().await?;
    let on = Telemetry {
        metrics: true,
        otlp_endpoint: Some(collector.endpoint().to_owned()),
    };
    let off = Telemetry {
        metrics: false,
        otlp_endpoint: None,
    };
    let (mut baseline, mut keyed, mut observed) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let run = fan_out(&pool, &db.url, &admin_token, &admin_token, &videos, &off).await?;
        print_run("ADMIN_TOKEN", &run);
        baseline.push(run);
        let run = fan_out(&pool, &db.url, &admin_token, &key, &videos, &off).await?;
        print_run("API key", &run);
        keyed.push(run);
        let run = fan_out(&pool, &db.url, &admin_token, &admin_token, &videos, &on).await?;
        print_run("telemetry", &run);
        observed.push(run);
    }
    let med =
        |runs: &[Run], f: fn(&Run) -> Duration| median(runs.iter().map(|r| ms(f(r))).collect());
    let (base50, base99) = (med(&baseline, |r| r.p50), med(&baseline, |r| r.p99));
    let (key50, key99) = (med(&keyed, |r| r.p50), med(&keyed, |r| r.p99));
    let (on50, on99) = (med(&observed, |r| r.p50), med(&observed, |r| r.p99));
    println!("medians of {runs} runs (target p99 <= 50 ms, 1 listening, RSS <= 150 MiB):");
    println!("  ADMIN_TOKEN        p50 {base50:.2} ms, p99 {base99:.2} ms");
    println!("  API key            p50 {key50:.2} ms, p99 {key99:.2} ms");
    println!("  telemetry on       p50 {on50:.2} ms, p99 {on99:.2} ms");
    println!(
        "  key / ADMIN_TOKEN  p50 x{:.2}, p99 x{:.2}   (target p99 <= x1.10)",
        key50 / base50,
        key99 / base99
    );
    println!(
        "  telemetry / off    p50 x{:.2}, p99 x{:.2}   (target p99 <= x1.05; metrics and traces; \
         the collector received {} exports)",
        on50 / base50,
        on99 / base99,
        collector.exports()
    );
    pool.close().await;
    db.drop_database().await
}
