//! Split-and-stitch encoding against real Postgres, LocalStack and ffmpeg: a 3-minute source
//! that the fast path refuses (sparse keyframes), encoded with a 60 s chunk threshold, gives
//! exactly what the unsplit encode of the same source gives: the same segments (count,
//! durations, names), the same keyframe instants, and the same decode time (`tfdt`) at the
//! start of every segment, chunk boundaries included.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use clap::Parser;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vodnest_core::domain::VideoStatus;
use vodnest_core::encoding_progress::Encoding;
use vodnest_core::queue::{self, JobKind};
use vodnest_core::storage::Storage;
use vodnest_core::videos;
use vodnest_processor::ProcessorConfig;
use vodnest_processor::job::{self, JobContext};
use vodnest_processor::media::fmp4;
use vodnest_processor::publish::playlist;
use vodnest_testkit::{TestDatabase, clip, stage_upload, storage_config};

const LADDER: &str = "180:300k,90:150k";

/// Runs every job there is, one at a time; returns their kinds in claim order.
async fn run_all(ctx: &Arc<JobContext>) -> Result<Vec<JobKind>> {
    let mut kinds = Vec::new();
    while let Some(job) = queue::claim(&ctx.pool, "test", Duration::from_secs(60)).await? {
        kinds.push(job.kind);
        let stopped = CancellationToken::new();
        job::run(ctx.clone(), job, stopped, CancellationToken::new(), None).await;
    }
    Ok(kinds)
}

/// A video processed to the end.
struct Processed {
    id: Uuid,
    /// Its current version.
    prefix: String,
    /// Its jobs' kinds in claim order.
    kinds: Vec<JobKind>,
    /// What its `encoding` showed meanwhile.
    shown: Vec<Encoding>,
}

async fn processed(
    pool: &PgPool,
    storage: &Storage,
    source: &std::path::Path,
    chunking: &[&str],
) -> Result<Processed> {
    let id = stage_upload(pool, storage, source).await?;
    let args = [&["vodnest-processor", "--ladder", LADDER][..], chunking].concat();
    let config = ProcessorConfig::try_parse_from(args)?;
    let ctx = Arc::new(JobContext::new(pool.clone(), storage.clone(), config));
    let sampling = CancellationToken::new();
    let sampler = tokio::spawn(encodings(pool.clone(), id, sampling.clone()));
    let kinds = run_all(&ctx).await?;
    sampling.cancel();
    let shown = sampler.await??;
    let video = videos::get(pool, id).await?.context("the video")?;
    ensure!(video.encoding.is_none(), "cleared once done: {video:?}");
    ensure!(
        video.status == VideoStatus::Ready && video.playable,
        "{video:?}"
    );
    ensure!(video.has_poster && video.has_storyboard, "{video:?}");
    let prefix = video.media_prefix.context("a current version")?;
    Ok(Processed {
        id,
        prefix,
        kinds,
        shown,
    })
}

/// Every `encoding` the video showed while its jobs ran, in order, sampled every 50 ms.
async fn encodings(pool: PgPool, id: Uuid, stop: CancellationToken) -> Result<Vec<Encoding>> {
    let mut shown: Vec<Encoding> = Vec::new();
    while !stop.is_cancelled() {
        let video = videos::get(&pool, id).await?.context("the video")?;
        if let Some(encoding) = video.encoding.map(|e| e.0)
            && shown.last() != Some(&encoding)
        {
            shown.push(encoding);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(shown)
}

async fn object(storage: &Storage, key: &str) -> Result<Vec<u8>> {
    storage
        .get_media_bytes(key)
        .await?
        .with_context(|| format!("{key} is missing"))
}

/// Each segment's file name, duration and first decode time, and the init segment's timescale.
async fn segments(storage: &Storage, prefix: &str, rung: &str) -> Result<Vec<(String, f64, u64)>> {
    let text = object(storage, &format!("{prefix}{rung}/index.m3u8")).await?;
    let media = playlist::parse(&text)?;
    ensure!(
        media.end_list,
        "a VOD playlist: {}",
        String::from_utf8_lossy(&text)
    );
    let mut out = Vec::new();
    for segment in &media.segments {
        let bytes = object(storage, &format!("{prefix}{rung}/{}", segment.uri)).await?;
        let tfdt = fmp4::decode_time(&bytes)?;
        out.push((segment.uri.clone(), f64::from(segment.duration), tfdt));
    }
    Ok(out)
}

async fn keyframes(url: &str) -> Result<Vec<f64>> {
    let key_args = ["-select_streams", "v:0", "-skip_frame", "nokey"];
    clip::ffprobe_values(
        url,
        &[&key_args[..], &["-show_entries", "frame=pts_time"]].concat(),
    )
    .await
}

#[tokio::test]
async fn a_split_encode_gives_what_the_unsplit_one_gives() -> Result<()> {
    let db = TestDatabase::create().await?;
    let pool = PgPool::connect(&db.url).await?;
    vodnest_core::db::MIGRATOR.run(&pool).await?;
    let storage = Storage::from_env(&storage_config()?).await;
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("replay.mp4");
    clip::make_sparse_keyframes(&source, 180, "320x180").await?;

    let chunking = ["--chunk-threshold-secs", "60", "--chunk-secs", "60"];
    let split = processed(&pool, &storage, &source, &chunking).await?;
    let kinds = &split.kinds;
    ensure!(
        kinds.first() == Some(&JobKind::Transcode) && kinds.last() == Some(&JobKind::Stitch),
        "{kinds:?}"
    );
    let parts = kinds.iter().filter(|k| **k == JobKind::Chunk).count();
    ensure!(
        parts == 4,
        "three 60 s chunks and the whole part: {kinds:?}"
    );
    // The chunks told the video how far the whole encode was, and which renditions it makes.
    let progress: Vec<f64> = split.shown.iter().map(|e| e.progress).collect();
    ensure!(
        split.shown.iter().all(|e| e.renditions == ["180p", "90p"])
            && progress.iter().any(|p| *p > 0.0 && *p < 1.0)
            && progress.windows(2).all(|w| w[1] >= w[0]),
        "the encode's progress, one chunk after the other: {:?}",
        split.shown
    );
    let whole = processed(&pool, &storage, &source, &["--chunk-threshold-secs", "0"]).await?;
    ensure!(whole.kinds == [JobKind::Transcode], "{:?}", whole.kinds);
    ensure!(
        whole
            .shown
            .iter()
            .any(|e| e.progress > 0.0 && e.eta_s.is_some()),
        "an unsplit encode's progress: {:?}",
        whole.shown
    );
    let (split_id, split, whole_id, whole) = (split.id, split.prefix, whole.id, whole.prefix);

    let base = storage.media_base_url().trim_end_matches('/');
    for rung in ["180p", "90p"] {
        let (a, b) = (
            segments(&storage, &split, rung).await?,
            segments(&storage, &whole, rung).await?,
        );
        ensure!(
            a.len() == b.len() && a.len() == 30,
            "{rung}: {} vs {} segments",
            a.len(),
            b.len()
        );
        for (x, y) in a.iter().zip(&b) {
            ensure!(x.0 == y.0, "{rung}: {} vs {}", x.0, y.0);
            ensure!(
                (x.1 - y.1).abs() < 1.0 / 30.0,
                "{rung} {}: {} s vs {} s",
                x.0,
                x.1,
                y.1
            );
            // Continuous decode times: every segment, the first of each chunk included,
            // starts where the unsplit encode's does.
            ensure!(x.2 == y.2, "{rung} {}: tfdt {} vs {}", x.0, x.2, y.2);
        }
        let split_keys = keyframes(&format!("{base}/{split}{rung}/index.m3u8")).await?;
        let whole_keys = keyframes(&format!("{base}/{whole}{rung}/index.m3u8")).await?;
        ensure!(
            split_keys.len() == whole_keys.len(),
            "{split_keys:?} vs {whole_keys:?}"
        );
        for (x, y) in split_keys.iter().zip(&whole_keys) {
            ensure!(
                (x - y).abs() < 0.001,
                "{rung} keyframes: {split_keys:?} vs {whole_keys:?}"
            );
        }
    }
    // The shared audio, made by the first chunk from an input of its own, is the unsplit one.
    let (a, b) = (
        segments(&storage, &split, "audio").await?,
        segments(&storage, &whole, "audio").await?,
    );
    ensure!(!a.is_empty() && a == b, "audio segments: {a:?} vs {b:?}");
    let master = String::from_utf8(object(&storage, &format!("{split}master.m3u8")).await?)?;
    ensure!(master.contains("TYPE=AUDIO"), "{master}");
    ensure!(
        master.contains("180p/index.m3u8") && master.contains("90p/index.m3u8"),
        "{master}"
    );

    for id in [split_id, whole_id] {
        storage.delete_media(id).await?;
        storage.delete_raw(id).await?;
    }
    pool.close().await;
    db.drop_database().await
}
