//! The processor as a real process against real Postgres, LocalStack and ffmpeg: it survives
//! `kill -9` (another processor finishes the video once the lease expires), gives its job back
//! on SIGTERM, and stops ffmpeg at once when the job is canceled.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use sqlx::PgPool;
use tokio::process::Child;
use uuid::Uuid;
use vodnest_core::domain::VideoStatus;
use vodnest_core::storage::{Storage, media_prefix};
use vodnest_testkit::{Look, TestDatabase, clip, eventually, stage_upload, storage_config};

mod common;
use common::{ffmpeg_children, signal};

/// Guards against a hung test; not a performance limit.
const PATIENCE: Duration = Duration::from_secs(180);

struct Setup {
    db: TestDatabase,
    pool: PgPool,
    storage: Storage,
    video: Uuid,
    _dir: tempfile::TempDir,
}

/// A fresh database and a 30 s 720p clip staged for processing (about 6 s of transcoding).
async fn setup() -> Result<Setup> {
    let db = TestDatabase::create().await?;
    let pool = PgPool::connect(&db.url).await?;
    vodnest_core::db::MIGRATOR.run(&pool).await?;
    let storage = Storage::from_env(&storage_config()?).await;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("clip.mp4");
    clip::make_clip(&path, 30, "2M").await?;
    let video = stage_upload(&pool, &storage, &path).await?;
    Ok(Setup {
        db,
        pool,
        storage,
        video,
        _dir: dir,
    })
}

/// One rendition keeps these timing-driven tests short; the ladder has its own tests.
fn spawn_processor(db: &TestDatabase, lease_secs: f64, grace_secs: f64) -> Result<Child> {
    common::spawn_processor(
        db,
        lease_secs,
        grace_secs,
        &[("PROCESSOR_LADDER", "720:3000k")],
    )
}

/// Polls the video until `done` says so.
async fn wait_for(
    pool: &PgPool,
    video: Uuid,
    what: &str,
    done: impl Fn(&str, Option<&str>, f64) -> bool,
) -> Result<()> {
    eventually(what, PATIENCE, async || {
        let (status, stage, progress): (String, Option<String>, f64) =
            sqlx::query_as("select status, stage, progress from videos where id = $1")
                .bind(video)
                .fetch_one(pool)
                .await?;
        Ok(if done(&status, stage.as_deref(), progress) {
            Look::Done(())
        } else {
            Look::NotYet(format!("still {status} {stage:?} {progress}"))
        })
    })
    .await
}

fn mid_transcode(status: &str, stage: Option<&str>, progress: f64) -> bool {
    status == "processing" && stage == Some("transcoding") && progress > 0.15
}

async fn job(pool: &PgPool, video: Uuid) -> Result<(Uuid, String, i32)> {
    Ok(
        sqlx::query_as("select id, state, attempt from jobs where video_id = $1")
            .bind(video)
            .fetch_one(pool)
            .await?,
    )
}

async fn media_keys(storage: &Storage, video: Uuid) -> Result<Vec<String>> {
    keys_under(storage, &media_prefix(video)).await
}

async fn keys_under(storage: &Storage, prefix: &str) -> Result<Vec<String>> {
    let objects = common::objects_under(storage, prefix).await?;
    Ok(objects.into_iter().map(|(key, _)| key).collect())
}

async fn current_prefix(pool: &PgPool, video: Uuid) -> Result<String> {
    vodnest_core::videos::current_prefix(pool, video)
        .await?
        .context("the video has no current version")
}

/// Every object under `prefix` can be read.
async fn all_readable(storage: &Storage, prefix: &str) -> Result<usize> {
    let keys = keys_under(storage, prefix).await?;
    ensure!(!keys.is_empty(), "nothing under {prefix}");
    for key in &keys {
        storage
            .client()
            .get_object()
            .bucket(storage.media_bucket())
            .key(key)
            .send()
            .await
            .with_context(|| format!("GET {key}"))?;
    }
    Ok(keys.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_processor_s_job_is_finished_by_another_after_the_lease() -> Result<()> {
    let s = setup().await?;
    let mut first = spawn_processor(&s.db, 2.0, 5.0)?;
    wait_for(
        &s.pool,
        s.video,
        "first processor transcoding",
        mid_transcode,
    )
    .await?;
    signal(&first, "KILL").await?;
    first.wait().await?;
    // The killed processor's ffmpeg is orphaned and may still be running; it writes only to
    // the dead job's scratch directory and uploads nothing.
    let mut second = spawn_processor(&s.db, 2.0, 5.0)?;
    wait_for(
        &s.pool,
        s.video,
        "second processor finishing",
        |status, _, _| status == "ready" || status == "failed",
    )
    .await?;
    let (_, state, attempt) = job(&s.pool, s.video).await?;
    ensure!(
        state == "succeeded" && attempt == 2,
        "job {state} after {attempt} attempts"
    );
    // The dead attempt's version was the one players were given until the second attempt
    // succeeded: it is retired (deleted after a grace), not deleted under their feet.
    let current = current_prefix(&s.pool, s.video).await?;
    let retired: Vec<String> =
        sqlx::query_scalar("select prefix from retired_media where video_id = $1")
            .bind(s.video)
            .fetch_all(&s.pool)
            .await?;
    ensure!(
        retired.len() <= 1 && !retired.contains(&current),
        "retired {retired:?}, current {current}"
    );
    let keys = keys_under(&s.storage, &current).await?;
    let segments = keys
        .iter()
        .filter(|k| k.ends_with(".m4s") && !k.contains("/audio/"))
        .count();
    // 30 s in 6 s segments, one video rendition (the shared audio aside): one set of output,
    // nothing doubled.
    ensure!(segments == 5, "{segments} segments: {keys:?}");
    ensure!(
        keys.iter().filter(|k| k.ends_with("master.m3u8")).count() == 1,
        "{keys:?}"
    );
    signal(&second, "TERM").await?;
    second.wait().await?;
    s.pool.close().await;
    s.db.drop_database().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_a_job_that_cannot_finish_within_the_grace_period() -> Result<()> {
    let s = setup().await?;
    let mut leaving = spawn_processor(&s.db, 30.0, 0.5)?;
    wait_for(&s.pool, s.video, "transcoding", mid_transcode).await?;
    signal(&leaving, "TERM").await?;
    let exit = tokio::time::timeout(Duration::from_secs(30), leaving.wait())
        .await
        .context("the processor did not exit after SIGTERM")??;
    ensure!(exit.success(), "the processor exited with {exit}");
    let (_, state, attempt) = job(&s.pool, s.video).await?;
    ensure!(
        state == "queued" && attempt == 0,
        "released without spending an attempt: {state} {attempt}"
    );
    let mut staying = spawn_processor(&s.db, 30.0, 5.0)?;
    wait_for(
        &s.pool,
        s.video,
        "another processor finishing",
        |status, _, _| status == "ready",
    )
    .await?;
    let (_, state, attempt) = job(&s.pool, s.video).await?;
    ensure!(state == "succeeded" && attempt == 1, "{state} {attempt}");
    signal(&staying, "TERM").await?;
    staying.wait().await?;
    s.pool.close().await;
    s.db.drop_database().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_stops_ffmpeg_at_once() -> Result<()> {
    let s = setup().await?;
    let mut processor = spawn_processor(&s.db, 30.0, 5.0)?;
    let pid = processor.id().context("pid")?;
    wait_for(&s.pool, s.video, "transcoding", mid_transcode).await?;
    // The transcode, and beside it the poster's or the storyboard's ffmpeg while they last.
    ensure!(ffmpeg_children(pid).await? >= 1, "ffmpeg should be running");
    let (job_id, _, _) = job(&s.pool, s.video).await?;
    let canceled_at = Instant::now();
    vodnest_core::jobs::cancel(&s.pool, job_id).await?;
    eventually("ffmpeg stopped", PATIENCE, async || {
        Ok(match ffmpeg_children(pid).await? {
            0 => Look::Done(()),
            running => Look::NotYet(format!("{running} ffmpeg still running")),
        })
    })
    .await?;
    let stopped_after = canceled_at.elapsed();
    // The contract: a canceled job's ffmpeg stops within 2 s (it is NOTIFY-driven, not
    // waiting for the next heartbeat).
    ensure!(
        stopped_after < Duration::from_secs(2),
        "ffmpeg stopped after {stopped_after:?}"
    );
    let row = vodnest_core::videos::get(&s.pool, s.video)
        .await?
        .context("video")?;
    ensure!(row.status == VideoStatus::Failed, "{}", row.status);
    ensure!(
        row.error.as_deref() == Some("processing was canceled"),
        "{:?}",
        row.error
    );
    // The cancel marks the video failed at once; the processor removes the partial output
    // once its ffmpeg and uploads have stopped, a moment later.
    eventually("no partial output is left", PATIENCE, async || {
        Ok(match media_keys(&s.storage, s.video).await?.len() {
            0 => Look::Done(()),
            left => Look::NotYet(format!("{left} objects left")),
        })
    })
    .await?;
    signal(&processor, "TERM").await?;
    processor.wait().await?;
    s.pool.close().await;
    s.db.drop_database().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_run_of_a_ready_video_replaces_its_output_only_when_it_succeeds() -> Result<()> {
    use vodnest_core::{jobs, videos};
    let s = setup().await?;
    let mut processor = spawn_processor(&s.db, 30.0, 5.0)?;
    wait_for(&s.pool, s.video, "ready", |status, _, _| status == "ready").await?;
    let first = current_prefix(&s.pool, s.video).await?;
    let objects = all_readable(&s.storage, &first).await?;

    // Processed again, then canceled mid-way: the video never stops being ready.
    let rerun = jobs::submit(&s.pool, s.video).await?;
    let second = eventually("the re-run publishing", PATIENCE, async || {
        let versions: i32 = sqlx::query_scalar("select media_versions from videos where id = $1")
            .bind(s.video)
            .fetch_one(&s.pool)
            .await?;
        let second = first.replace("/1/", "/2/");
        Ok(
            if versions == 2 && !keys_under(&s.storage, &second).await?.is_empty() {
                Look::Done(second)
            } else {
                Look::NotYet(format!("{versions} versions"))
            },
        )
    })
    .await?;
    let row = videos::get(&s.pool, s.video).await?.context("video")?;
    ensure!(
        row.status == VideoStatus::Ready && row.playable,
        "{}",
        row.status
    );
    jobs::cancel(&s.pool, rerun.id).await?;
    eventually("the canceled run's output removed", PATIENCE, async || {
        Ok(match keys_under(&s.storage, &second).await?.len() {
            0 => Look::Done(()),
            left => Look::NotYet(format!("{left} objects left")),
        })
    })
    .await?;
    let row = videos::get(&s.pool, s.video).await?.context("video")?;
    ensure!(
        row.status == VideoStatus::Ready && row.playable && row.error.is_none(),
        "{} {:?}",
        row.status,
        row.error
    );
    ensure!(current_prefix(&s.pool, s.video).await? == first);
    ensure!(all_readable(&s.storage, &first).await? == objects);

    // A re-run that succeeds becomes current in the statement that records it; the version it
    // replaces stays readable (players started on it play on) and is retired for deletion.
    jobs::submit(&s.pool, s.video).await?;
    let third = eventually("the re-run current", PATIENCE, async || {
        let current = current_prefix(&s.pool, s.video).await?;
        Ok(if current != first {
            Look::Done(current)
        } else {
            Look::NotYet("still the first version".into())
        })
    })
    .await?;
    ensure!(third.ends_with("/3/"), "{third}");
    let row = videos::get(&s.pool, s.video).await?.context("video")?;
    ensure!(
        row.status == VideoStatus::Ready && row.playable,
        "{}",
        row.status
    );
    all_readable(&s.storage, &third).await?;
    ensure!(all_readable(&s.storage, &first).await? == objects);
    let retired: Vec<String> =
        sqlx::query_scalar("select prefix from retired_media where video_id = $1")
            .bind(s.video)
            .fetch_all(&s.pool)
            .await?;
    ensure!(retired == [first.clone()], "{retired:?}");
    signal(&processor, "TERM").await?;
    processor.wait().await?;
    s.pool.close().await;
    s.db.drop_database().await
}
