//! A split encode on a fleet: two real processor processes (one slot each) against real
//! Postgres, LocalStack and ffmpeg share one video's chunks; a chunk whose processor is killed
//! with SIGKILL is redone alone by the other once its lease expires (the other chunks'
//! segments are not written again); canceling the video's processing mid-way stops every part
//! on every processor and removes what they published.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sqlx::PgPool;
use tokio::process::Child;
use uuid::Uuid;
use vodnest_core::domain::VideoStatus;
use vodnest_core::storage::Storage;
use vodnest_core::{jobs, videos};
use vodnest_testkit::{Look, TestDatabase, clip, eventually, stage_upload, storage_config};

mod common;
use common::{ffmpeg_children, objects_under, signal, spawn_processor};

/// Guards against a hung test; not a performance limit.
const PATIENCE: Duration = Duration::from_secs(300);
/// Two minutes in 30 s chunks (the 6 s segment grid): four video chunks and the whole part.
const SOURCE_SECS: u32 = 120;
const CHUNKING: [(&str, &str); 3] = [
    ("CHUNK_THRESHOLD_SECS", "60"),
    ("CHUNK_SECS", "30"),
    ("PROCESSOR_LADDER", "360:800k,180:300k"),
];

struct Fleet {
    db: TestDatabase,
    pool: PgPool,
    storage: Storage,
    video: Uuid,
    processors: [Child; 2],
    _dir: tempfile::TempDir,
}

/// A source the fast path refuses, staged, and two
/// processors with a 2 s lease.
async fn fleet() -> Result<Fleet> {
    let db = TestDatabase::create().await?;
    let pool = PgPool::connect(&db.url).await?;
    vodnest_core::db::MIGRATOR.run(&pool).await?;
    let storage = Storage::from_env(&storage_config()?).await;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("replay.mp4");
    clip::make_sparse_keyframes(&path, SOURCE_SECS, "640x360").await?;
    let video = stage_upload(&pool, &storage, &path).await?;
    let processors = [
        spawn_processor(&db, 2.0, 5.0, &CHUNKING)?,
        spawn_processor(&db, 2.0, 5.0, &CHUNKING)?,
    ];
    Ok(Fleet {
        db,
        pool,
        storage,
        video,
        processors,
        _dir: dir,
    })
}

impl Fleet {
    async fn stop(mut self) -> Result<()> {
        for processor in &mut self.processors {
            if processor.id().is_some() {
                signal(processor, "TERM").await?;
            }
            processor.wait().await?;
        }
        self.pool.close().await;
        self.db.drop_database().await
    }
}

/// A part of the video's split encode as the queue has it.
#[derive(Debug, sqlx::FromRow)]
struct Part {
    id: Uuid,
    state: String,
    attempt: i32,
    worker_id: Option<String>,
    /// `None` for the whole part.
    first_segment: Option<i32>,
}

async fn parts(pool: &PgPool, video: Uuid) -> Result<Vec<Part>> {
    Ok(sqlx::query_as(
        "select j.id, j.state, j.attempt, j.worker_id, c.first_segment
         from jobs j join encode_chunks c on c.job_id = j.id
         where j.video_id = $1 order by c.idx nulls last",
    )
    .bind(video)
    .fetch_all(pool)
    .await?)
}

/// The processor (by pid) that ran or runs the part.
fn runner(part: &Part) -> Option<u32> {
    part.worker_id
        .as_deref()?
        .split('-')
        .rev()
        .nth(1)?
        .parse()
        .ok()
}

/// The segment number of a key such as `…/360p/seg_00012.m4s`.
fn segment_number(key: &str) -> Option<i32> {
    key.rsplit('/')
        .next()?
        .strip_prefix("seg_")?
        .strip_suffix(".m4s")?
        .parse()
        .ok()
}

async fn version_prefix(pool: &PgPool, video: Uuid) -> Result<String> {
    sqlx::query_scalar(
        "select prefix from chunked_encodes where video_id = $1 order by created_at desc limit 1",
    )
    .bind(video)
    .fetch_one(pool)
    .await
    .context("the split encode")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processors_share_the_chunks_and_a_killed_chunk_is_redone_alone() -> Result<()> {
    let fleet = fleet().await?;
    let pids: Vec<u32> = fleet.processors.iter().filter_map(Child::id).collect();
    // A processor that has finished a part and is encoding a video chunk: killed mid-way.
    let (victim, killed) = eventually("a processor in its second part", PATIENCE, async || {
        let parts = parts(&fleet.pool, fleet.video).await?;
        for pid in &pids {
            let finished = parts
                .iter()
                .any(|p| p.state == "succeeded" && runner(p) == Some(*pid));
            let encoding = parts.iter().find(|p| {
                p.state == "running" && p.first_segment.is_some() && runner(p) == Some(*pid)
            });
            if let Some(part) = encoding.filter(|_| finished)
                && ffmpeg_children(*pid).await? > 0
            {
                return Ok(Look::Done((*pid, part.id)));
            }
        }
        Ok(Look::NotYet(format!("{parts:?}")))
    })
    .await?;
    let mut fleet = fleet;
    let index = usize::from(pids[1] == victim);
    signal(&fleet.processors[index], "KILL").await?;
    fleet.processors[index].wait().await?;
    let prefix = version_prefix(&fleet.pool, fleet.video).await?;
    let before: BTreeMap<String, i128> = objects_under(&fleet.storage, &prefix)
        .await?
        .into_iter()
        .collect();

    eventually("the survivor finishing", PATIENCE, async || {
        let row = videos::get(&fleet.pool, fleet.video)
            .await?
            .context("video")?;
        Ok(match row.status {
            VideoStatus::Ready | VideoStatus::Failed => Look::Done(()),
            other => Look::NotYet(other.to_string()),
        })
    })
    .await?;
    let row = videos::get(&fleet.pool, fleet.video)
        .await?
        .context("video")?;
    ensure!(row.status == VideoStatus::Ready, "{:?}", row.error);
    let parts = parts(&fleet.pool, fleet.video).await?;
    ensure!(
        parts.len() == 5,
        "four video chunks and the whole part: {parts:?}"
    );
    for part in &parts {
        let attempts = if part.id == killed { 2 } else { 1 };
        ensure!(
            part.state == "succeeded" && part.attempt == attempts,
            "only the killed chunk is run again: {parts:?}"
        );
    }
    let runners: BTreeSet<u32> = parts.iter().filter_map(runner).collect();
    ensure!(
        runners.len() == 2,
        "both processors finished parts: {parts:?}"
    );

    // The killed chunk's segments are written again; no other segment is.
    let killed_at = parts
        .iter()
        .position(|p| p.id == killed)
        .context("killed")?;
    let from = parts[killed_at].first_segment.context("a video chunk")?;
    let to = parts
        .get(killed_at + 1)
        .and_then(|p| p.first_segment)
        .unwrap_or(i32::MAX);
    let after = objects_under(&fleet.storage, &prefix).await?;
    let mut kept = 0;
    for (key, written) in &after {
        let Some(number) = segment_number(key) else {
            continue;
        };
        if (from..to).contains(&number) {
            continue;
        }
        if let Some(earlier) = before.get(key) {
            ensure!(earlier == written, "{key} was written again");
            kept += 1;
        }
    }
    ensure!(
        kept > 0,
        "segments were published before the kill: {before:?}"
    );
    fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_a_split_encode_stops_every_part_on_every_processor() -> Result<()> {
    let fleet = fleet().await?;
    let pids: Vec<u32> = fleet.processors.iter().filter_map(Child::id).collect();
    eventually("both processors encoding chunks", PATIENCE, async || {
        let mut encoding = 0;
        for pid in &pids {
            encoding += usize::from(ffmpeg_children(*pid).await? > 0);
        }
        let running = parts(&fleet.pool, fleet.video)
            .await?
            .iter()
            .filter(|p| p.state == "running")
            .count();
        Ok(if encoding == 2 && running == 2 {
            Look::Done(())
        } else {
            Look::NotYet(format!("{encoding} encoding, {running} parts running"))
        })
    })
    .await?;
    let prefix = version_prefix(&fleet.pool, fleet.video).await?;
    // What "cancel the video's processing" cancels: its latest job, the stitch.
    let stitch: Uuid =
        sqlx::query_scalar("select id from jobs where video_id = $1 and kind = 'stitch'")
            .bind(fleet.video)
            .fetch_one(&fleet.pool)
            .await?;
    jobs::cancel(&fleet.pool, stitch).await?;
    eventually("every ffmpeg stopped", PATIENCE, async || {
        let mut running = 0;
        for pid in &pids {
            running += ffmpeg_children(*pid).await?;
        }
        Ok(if running == 0 {
            Look::Done(())
        } else {
            Look::NotYet(format!("{running} ffmpeg running"))
        })
    })
    .await?;
    let parts = parts(&fleet.pool, fleet.video).await?;
    let canceled = parts.iter().filter(|p| p.state == "canceled").count();
    ensure!(
        canceled >= 2
            && parts
                .iter()
                .all(|p| p.state == "canceled" || p.state == "succeeded"),
        "every part not done is canceled, the running ones included: {parts:?}"
    );
    let row = videos::get(&fleet.pool, fleet.video)
        .await?
        .context("video")?;
    ensure!(row.status == VideoStatus::Failed, "{}", row.status);
    ensure!(row.encoding.is_none(), "{:?}", row.encoding);
    // No one will be given the split transcode's version: the stopped parts remove it.
    eventually("the abandoned version removed", PATIENCE, async || {
        Ok(match objects_under(&fleet.storage, &prefix).await?.len() {
            0 => Look::Done(()),
            left => Look::NotYet(format!("{left} objects left")),
        })
    })
    .await?;
    fleet.stop().await
}
