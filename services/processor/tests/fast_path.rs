//! The remux fast path, one job at a time against real Postgres, LocalStack and ffmpeg: an
//! H.264/AAC source with 2 s keyframes is made `ready` by a transcode job that only copies it
//! into the top rendition (video only) and its sound into the shared audio rendition; that
//! success enqueues a ladder job, which adds the encoded rungs (video only, no audio encoded),
//! the poster and the storyboard, and then the master playlist that lists every rung.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use clap::Parser;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vodnest_core::domain::VideoStatus;
use vodnest_core::queue::{self, JobKind};
use vodnest_core::storage::{Storage, media_prefix};
use vodnest_core::videos;
use vodnest_processor::ProcessorConfig;
use vodnest_processor::job::{self, JobContext};
use vodnest_testkit::{TestDatabase, clip, stage_upload, storage_config};

/// Claims the next job, checks its kind, and runs it to its recorded outcome.
async fn run_next(ctx: &Arc<JobContext>, kind: JobKind) -> Result<()> {
    let job = queue::claim(&ctx.pool, "test", Duration::from_secs(60))
        .await?
        .context("a job is queued")?;
    ensure!(job.kind == kind, "expected a {kind:?} job, got {job:?}");
    let next = job::run(
        ctx.clone(),
        job,
        CancellationToken::new(),
        CancellationToken::new(),
        None,
    )
    .await;
    ensure!(next.is_none(), "nothing is claimed without a claimer");
    Ok(())
}

/// A media object's body and Cache-Control.
async fn media_object(storage: &Storage, key: &str) -> Result<(String, String)> {
    let object = storage
        .client()
        .get_object()
        .bucket(storage.media_bucket())
        .key(key)
        .send()
        .await
        .with_context(|| format!("GET {key}"))?;
    let cache = object.cache_control().unwrap_or_default().to_owned();
    let body = object.body.collect().await?.into_bytes();
    Ok((String::from_utf8(body.to_vec())?, cache))
}

fn listed_renditions(master: &str) -> Vec<&str> {
    master
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect()
}

/// A media object's ETag: unchanged if nothing uploaded it again.
async fn etag(storage: &Storage, key: &str) -> Result<String> {
    let head = storage
        .client()
        .head_object()
        .bucket(storage.media_bucket())
        .key(key)
        .send()
        .await
        .with_context(|| format!("HEAD {key}"))?;
    Ok(head.e_tag().unwrap_or_default().to_owned())
}

/// How many streams of a kind (`v`, `a`) a playlist served from the media bucket has.
async fn streams(url: &str, kind: &str) -> Result<usize> {
    let what = ["-select_streams", kind, "-show_entries", "stream=index"];
    // ffprobe lists an HLS input's streams twice: in its program, then on their own.
    let mut indexes = clip::ffprobe_values(url, &what).await?;
    indexes.sort_by(f64::total_cmp);
    indexes.dedup();
    Ok(indexes.len())
}

async fn video_row(pool: &PgPool, id: Uuid) -> Result<vodnest_core::domain::VideoRow> {
    videos::get(pool, id).await?.context("the video exists")
}

#[tokio::test]
async fn a_copied_source_is_ready_at_once_and_its_ladder_follows() -> Result<()> {
    let db = TestDatabase::create().await?;
    let pool = PgPool::connect(&db.url).await?;
    vodnest_core::db::MIGRATOR.run(&pool).await?;
    let storage = Storage::from_env(&storage_config()?).await;
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("stream.mp4");
    let encode = [&clip::X264[..], &clip::GOP_2S, &clip::AAC].concat();
    clip::make(&source, 12, "640x360", true, &encode).await?;
    let source_duration = clip::duration(&source).await?;
    let id = stage_upload(&pool, &storage, &source).await?;
    let config =
        ProcessorConfig::try_parse_from(["vodnest-processor", "--ladder", "360:600k,240:300k"])?;
    let ctx = Arc::new(JobContext::new(pool.clone(), storage.clone(), config));

    // The transcode job: the copy alone, ready; the master will change, so it is cached briefly.
    run_next(&ctx, JobKind::Transcode).await?;
    let video = video_row(&pool, id).await?;
    ensure!(
        video.status == VideoStatus::Ready && video.playable,
        "{video:?}"
    );
    let names: Vec<_> = video.renditions.0.iter().map(|r| r.name.as_str()).collect();
    ensure!(names == ["360p"], "only the copied rung so far: {names:?}");
    ensure!(!video.has_poster && !video.has_storyboard, "{video:?}");
    // The run's version; the ladder job extends it.
    let prefix = video.media_prefix.clone().context("no current version")?;
    ensure!(prefix.starts_with(&media_prefix(id)), "{prefix}");
    let (master, cache) = media_object(&storage, &format!("{prefix}master.m3u8")).await?;
    // The copy and, last, the audio-only variant; both play the shared audio rendition.
    ensure!(
        listed_renditions(&master) == ["360p/index.m3u8", "audio/index.m3u8"],
        "{master}"
    );
    ensure!(
        master.contains("#EXT-X-MEDIA:TYPE=AUDIO,URI=\"audio/index.m3u8\",GROUP-ID=\"audio\""),
        "{master}"
    );
    ensure!(
        cache == "public, max-age=2",
        "master Cache-Control {cache:?}"
    );
    // The audio is final with the transcode job: the ladder job leaves it alone.
    let audio_playlist = format!("{prefix}audio/index.m3u8");
    let (audio, _) = media_object(&storage, &audio_playlist).await?;
    ensure!(audio.contains("#EXT-X-ENDLIST"), "{audio}");
    let audio_etag = etag(&storage, &audio_playlist).await?;

    // The ladder job, enqueued with that success.
    run_next(&ctx, JobKind::Ladder).await?;
    let video = video_row(&pool, id).await?;
    ensure!(
        video.status == VideoStatus::Ready && video.playable,
        "{video:?}"
    );
    let names: Vec<_> = video.renditions.0.iter().map(|r| r.name.as_str()).collect();
    ensure!(names == ["360p", "240p"], "{names:?}");
    ensure!(video.has_poster && video.has_storyboard, "{video:?}");
    let (master, cache) = media_object(&storage, &format!("{prefix}master.m3u8")).await?;
    ensure!(
        listed_renditions(&master) == ["360p/index.m3u8", "240p/index.m3u8", "audio/index.m3u8"],
        "{master}"
    );
    ensure!(
        master.matches("AUDIO=\"audio\"").count() == 3,
        "every variant plays the audio group: {master}"
    );
    ensure!(
        etag(&storage, &audio_playlist).await? == audio_etag,
        "the ladder job wrote no audio"
    );
    ensure!(
        cache == "public, max-age=3600",
        "master Cache-Control {cache:?}"
    );
    ensure!(
        queue::claim(&pool, "test", Duration::from_secs(60))
            .await?
            .is_none(),
        "no third job"
    );

    // Both rungs (video only) and the audio last as long as the source; the rungs cut at the
    // same keyframes.
    let base = storage.media_base_url().trim_end_matches('/');
    let audio_url = format!("{base}/{audio_playlist}");
    ensure!(
        (
            streams(&audio_url, "a").await?,
            streams(&audio_url, "v").await?
        ) == (1, 0)
    );
    let duration = clip::ffprobe_values(&audio_url, &["-show_entries", "format=duration"]).await?;
    let got = duration.first().copied().context("a duration")?;
    ensure!(
        (got - source_duration).abs() <= 0.1,
        "audio: {got:.3} s, source {source_duration:.3} s"
    );
    let mut keyframes = Vec::new();
    for rung in ["360p", "240p"] {
        let url = format!("{base}/{prefix}{rung}/index.m3u8");
        ensure!(streams(&url, "a").await? == 0, "{rung} has no sound");
        let duration = clip::ffprobe_values(&url, &["-show_entries", "format=duration"]).await?;
        let got = duration.first().copied().context("a duration")?;
        ensure!(
            (got - source_duration).abs() <= 0.1,
            "{rung}: {got:.3} s, source {source_duration:.3} s"
        );
        let key_args = [
            "-select_streams",
            "v:0",
            "-skip_frame",
            "nokey",
            "-show_entries",
            "frame=pts_time",
        ];
        keyframes.push(clip::ffprobe_values(&url, &key_args).await?);
    }
    ensure!(keyframes[0].len() >= 6, "{keyframes:?}");
    ensure!(keyframes[0] == keyframes[1], "aligned: {keyframes:?}");

    storage.delete_media(id).await?;
    storage.delete_raw(id).await?;
    pool.close().await;
    db.drop_database().await
}
