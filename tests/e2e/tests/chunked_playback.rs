//! A long upload split into chunks (the threshold lowered to 60 s), end to end: the websocket
//! carries the whole encode's progress while the chunks run, and hls.js in headless Chromium
//! plays across the boundary between two chunks without a stall.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vodnest_e2e::{TestApp, TestSettings, browser};
use vodnest_testkit::{TestDatabase, clip};

/// Where the first chunk ends: the threshold and the chunk length are both this.
const CHUNK_SECS: f64 = 60.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_video_reports_progress_and_plays_across_a_chunk_boundary() -> Result<()> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.processor.chunk_threshold_secs = CHUNK_SECS;
    settings.processor.chunk_secs = CHUNK_SECS;
    let app = TestApp::spawn_with(db, settings).await?;
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("replay.mp4");
    // Three minutes the fast path refuses: a transcode, split into three chunks.
    clip::make_sparse_keyframes(&source, 180, "320x180").await?;
    let (id, frames, video) = app
        .upload_until_settled(&source, "Split replay", Duration::from_secs(300))
        .await?;
    ensure!(video["status"] == "ready", "{video}");
    ensure!(video["encoding"].is_null(), "cleared once done: {video}");
    let kinds: Vec<String> = sqlx::query_scalar("select kind from jobs where video_id = $1::uuid")
        .bind(&id)
        .fetch_all(&app.pool)
        .await?;
    ensure!(
        kinds.iter().filter(|k| *k == "chunk").count() == 4 && kinds.contains(&"stitch".into()),
        "three video chunks, the whole part and the stitch: {kinds:?}"
    );

    // The chunks told the video how far the whole encode was, with its renditions.
    let progress: Vec<f64> = frames
        .iter()
        .filter(|f| f["type"] == "encoding")
        .filter_map(|f| f["encoding"]["progress"].as_f64())
        .collect();
    let named = frames.iter().any(|f| {
        f["type"] == "encoding"
            && f["encoding"]["renditions"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
    });
    ensure!(
        named && progress.iter().any(|p| *p > 0.0 && *p < 1.0),
        "encoding frames while the chunks ran: {frames:?}"
    );

    let master = video["playback"]["hls_url"].as_str().context("hls_url")?;
    let at = CHUNK_SECS - 5.0;
    let result = browser::run(
        &app,
        "seek_play.mjs",
        &[
            "--master".as_ref(),
            master.as_ref(),
            "--at".as_ref(),
            at.to_string().as_ref(),
            "--seconds".as_ref(),
            "10".as_ref(),
        ],
    )
    .await?;
    let (from, to) = (result["from"].as_f64(), result["to"].as_f64());
    ensure!(
        from.is_some_and(|t| t < CHUNK_SECS) && to.is_some_and(|t| t > CHUNK_SECS + 4.0),
        "played across the boundary at {CHUNK_SECS} s: {result}"
    );
    app.stop().await
}

/// A long recording at or under the lowest rung (here 320x180) that the fast path takes has
/// nothing to encode: it is copied by its transcode job, not split (splitting it once left the
/// job hanging until its lease ran out, three times, and failed the video).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_copy_with_nothing_to_encode_is_not_split() -> Result<()> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.processor.chunk_threshold_secs = 10.0;
    let app = TestApp::spawn_with(db, settings).await?;
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("replay.mp4");
    let encode = [&clip::X264[..], &clip::GOP_2S, &clip::AAC].concat();
    clip::make(&source, 30, "320x180", true, &encode).await?;
    let (id, _, video) = app
        .upload_until_settled(&source, "Long copy", Duration::from_secs(120))
        .await?;
    ensure!(
        video["status"] == "ready" && video["playable"] == true,
        "{video}"
    );
    let kinds: Vec<String> = sqlx::query_scalar("select kind from jobs where video_id = $1::uuid")
        .bind(&id)
        .fetch_all(&app.pool)
        .await?;
    ensure!(
        kinds == ["transcode"],
        "one transcode, no chunks: {kinds:?}"
    );
    app.stop().await
}
