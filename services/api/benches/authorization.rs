//! Authorization on the hot path (not a test): `GET /api/v1/videos/{id}` with a creator's API
//! key (a SHA-256 digest looked up in Postgres, the owner check, both rate limits) against
//! the same request with `ADMIN_TOKEN` (no lookup) as the baseline, in alternating rounds of
//! the same run; then how many Argon2id password verifications per second (sign-in's cost,
//! `users::password_matches` with the default parameters, in `spawn_blocking`) this machine
//! sustains with 1, 2, 4 and 8 at once.
//! Target: the key's p99 within 10 % of the baseline's.
//!
//! Run: `eval "$(./dev env)" && cargo bench -p vodnest-api --bench authorization`
//! (`BENCH_RUNS`, default 5: rounds per credential).

mod common;

/// As the API runs by default: metrics on, traces off.
const METRICS_ONLY: common::Telemetry = common::Telemetry {
    metrics: true,
    otlp_endpoint: None,
};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use uuid::Uuid;
use vodnest_core::users;
use vodnest_testkit::{TestDatabase, fake_video};

use common::{median, ms, percentile};

/// Concurrent clients, each sending its requests one after another.
const CLIENTS: usize = 8;
/// Requests per credential per round.
const PER_ROUND: usize = 4000;
/// How long each Argon2 concurrency level runs.
const ARGON2_SPELL: Duration = Duration::from_secs(3);

/// The latencies of `PER_ROUND` reads of `video` with `token`, sorted.
async fn round(
    http: &reqwest::Client,
    base: &str,
    video: Uuid,
    token: &str,
) -> Result<Vec<Duration>> {
    let url = Arc::new(format!("{base}/api/v1/videos/{video}"));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (http, url, token) = (http.clone(), url.clone(), token.to_owned());
        clients.spawn(async move {
            let mut latencies = Vec::with_capacity(PER_ROUND / CLIENTS);
            for _ in 0..PER_ROUND / CLIENTS {
                let sent = Instant::now();
                let response = http.get(url.as_str()).bearer_auth(&token).send().await?;
                let status = response.status();
                response.bytes().await?;
                latencies.push(sent.elapsed());
                if !status.is_success() {
                    bail!("GET answered {status}");
                }
            }
            Ok(latencies)
        });
    }
    let mut all = Vec::with_capacity(PER_ROUND);
    while let Some(client) = clients.join_next().await {
        all.extend(client??);
    }
    all.sort();
    Ok(all)
}

/// Password verifications per second with `concurrent` at once.
async fn argon2_rate(hash: Arc<str>, concurrent: usize) -> Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrent {
        let (hash, done) = (hash.clone(), done.clone());
        tasks.spawn(async move {
            while started.elapsed() < ARGON2_SPELL {
                let hash = hash.clone();
                let matched = tokio::task::spawn_blocking(move || {
                    users::password_matches("correct horse battery staple", &hash)
                })
                .await?;
                if !matched {
                    bail!("the password did not match its hash");
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
    }
    while let Some(task) = tasks.join_next().await {
        task??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> Result<()> {
    let runs = common::runs(5);
    let db = TestDatabase::create().await?;
    let pool = sqlx::PgPool::connect(&db.url).await?;
    vodnest_core::db::MIGRATOR.run(&pool).await?;
    let (video, _) = fake_video(&pool, false).await?;
    let key = common::creator_key(&pool, &[video]).await?;
    let admin_token = vodnest_core::auth::new_secret();
    let mut api = common::start_api(&db.url, &admin_token, &METRICS_ONLY).await?;
    let base = api.base();
    let http = reqwest::Client::new();

    // Warm up connections, caches and the API's pool.
    round(&http, &base, video, &admin_token).await?;
    round(&http, &base, video, &key).await?;

    println!("GET /api/v1/videos/{{id}}: {CLIENTS} clients, {PER_ROUND} requests per round");
    let (mut baseline, mut keyed) = (Vec::new(), Vec::new());
    for run in 0..runs {
        // Alternate which goes first, so that a drift of the machine favours neither.
        let order = if run % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for with_key in order {
            let token = if with_key { &key } else { &admin_token };
            let all = round(&http, &base, video, token).await?;
            let (p50, p99) = (ms(percentile(&all, 0.5)), ms(percentile(&all, 0.99)));
            let label = if with_key { "API key" } else { "ADMIN_TOKEN" };
            println!("  round {run} {label:<12} p50 {p50:.3} ms, p99 {p99:.3} ms");
            if with_key { &mut keyed } else { &mut baseline }.push((p50, p99));
        }
    }
    if let Some(kib) = api.peak_rss_kib() {
        println!("API peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
    api.process.start_kill()?;
    let _ = api.process.wait().await;

    let med = |rounds: &[(f64, f64)], p99: bool| {
        median(
            rounds
                .iter()
                .map(|&(p50, p99_)| if p99 { p99_ } else { p50 })
                .collect(),
        )
    };
    let (base50, base99) = (med(&baseline, false), med(&baseline, true));
    let (key50, key99) = (med(&keyed, false), med(&keyed, true));
    println!("medians of {runs} rounds:");
    println!("  ADMIN_TOKEN        p50 {base50:.3} ms, p99 {base99:.3} ms");
    println!("  API key            p50 {key50:.3} ms, p99 {key99:.3} ms");
    println!(
        "  key / ADMIN_TOKEN  p50 x{:.2}, p99 x{:.2}   (target p99 <= x1.10)",
        key50 / base50,
        key99 / base99
    );

    let hash: Arc<str> = tokio::task::spawn_blocking(|| {
        users::hash_password("correct horse battery staple")
            .map_err(|err| anyhow::anyhow!("hashing: {err}"))
    })
    .await??
    .into();
    println!(
        "Argon2id verifications (default parameters, {} cores):",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for concurrent in [1, 2, 4, 8] {
        let rate = argon2_rate(hash.clone(), concurrent)
            .await
            .context("verifying passwords")?;
        println!(
            "  {concurrent} at once: {rate:.1}/s ({:.1} ms each)",
            1000.0 * concurrent as f64 / rate
        );
    }
    pool.close().await;
    db.drop_database().await
}
