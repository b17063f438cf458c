//! The API as a real process with `CLOUDWATCH_METRICS=emf`, as its ECS task runs it: its
//! stdout (what the awslogs driver ships to CloudWatch Logs) carries the queue's metrics as an
//! Embedded Metric Format line, whole, between the log lines, with the numbers of the database
//! it serves: the queue counts only the jobs a processor could start now.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use vodnest_testkit::{TestDatabase, fake_video, storage_config};

/// Guards against a hung test; not a performance limit (the first sample is taken at start).
const PATIENCE: Duration = Duration::from_secs(120);

#[tokio::test]
async fn the_api_prints_the_queue_as_one_emf_line_a_minute() -> Result<()> {
    let db = TestDatabase::create().await?;
    let pool = PgPool::connect(&db.url).await?;
    vodnest_core::db::MIGRATOR.run(&pool).await?;
    // One job queued ten minutes ago, and two failed ones: half a minute before this minute
    // and a second into it. Whichever minute the API first samples in (this one, or the next
    // if the clock turns meanwhile), exactly one of the two falls in the minute it reports.
    let (_, queued) = fake_video(&pool, true).await?;
    sqlx::query("update jobs set run_at = now() - interval '10 minutes' where id = $1")
        .bind(queued.context("a queued job")?)
        .execute(&pool)
        .await?;
    // Queued jobs no processor could start now are not counted: a retry waiting out its
    // backoff, and a step parked until the jobs it follows end.
    for run_at in ["now() + interval '1 hour'", "'9999-01-01'"] {
        let (_, job) = fake_video(&pool, true).await?;
        sqlx::query(&format!("update jobs set run_at = {run_at} where id = $1"))
            .bind(job.context("a job")?)
            .execute(&pool)
            .await?;
    }
    for ended in ["- interval '30 seconds'", "+ interval '1 second'"] {
        let (_, job) = fake_video(&pool, true).await?;
        sqlx::query(&format!(
            "update jobs set state = 'failed', finished_at = date_trunc('minute', now()) {ended}
             where id = $1"
        ))
        .bind(job.context("a job")?)
        .execute(&pool)
        .await?;
    }

    let storage = storage_config()?;
    let mut api = Command::new(env!("CARGO_BIN_EXE_vodnest-api"))
        .env("DATABASE_URL", &db.url)
        .env("RAW_BUCKET", &storage.raw_bucket)
        .env("MEDIA_BUCKET", &storage.media_bucket)
        .env("MEDIA_BASE_URL", &storage.media_base_url)
        .env("API_ADDR", "127.0.0.1:0")
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("CLOUDWATCH_METRICS", "emf")
        .env("CLOUDWATCH_STACK", "test-stack")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting vodnest-api")?;
    let stdout = api.stdout.take().context("the API's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let emf = tokio::time::timeout(PATIENCE, async {
        let mut others = Vec::new();
        while let Some(line) = lines.next_line().await? {
            if line.contains("\"_aws\"") {
                return Ok(line);
            }
            others.push(line);
        }
        anyhow::bail!("the API ended without an EMF line; it printed {others:#?}")
    })
    .await
    .context("no EMF line")??;
    api.kill().await?;
    db.drop_database().await?;

    let doc: Value = serde_json::from_str(&emf).with_context(|| format!("not JSON: {emf}"))?;
    let timestamp = doc["_aws"]["Timestamp"].as_i64().context("Timestamp")?;
    ensure!(timestamp % 60_000 == 0, "stamped with its minute: {doc}");
    assert_eq!(doc["Stack"], "test-stack");
    assert_eq!(doc["QueueDepth"], 1.0, "only the due job: {doc}");
    let age = doc["OldestQueuedJobAge"].as_f64().context("age")?;
    ensure!((600.0..900.0).contains(&age), "waited ten minutes: {doc}");
    assert_eq!(doc["JobsFailed"], 1, "{doc}");
    Ok(())
}
