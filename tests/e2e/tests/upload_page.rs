//! The `/upload` page in headless Chromium: upload a clip of several parts, reload mid-upload,
//! choose the file again, and the page resumes without re-sending a part S3 already holds; the
//! status turns ready live.

use anyhow::{Result, ensure};
use vodnest_e2e::{TestApp, clip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_page_resumes_after_a_reload() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("browser-replay.mp4");
    // About 20 MB: four 5 MiB parts at the test API's minimum part size.
    clip::make_clip(&file, 20, "7M").await?;
    let result =
        vodnest_e2e::browser::run(&app, "upload.mjs", &["--file".as_ref(), file.as_os_str()])
            .await?;

    let videos: Vec<(uuid::Uuid, i32, String)> =
        sqlx::query_as("select id, part_count, status from videos")
            .fetch_all(&app.pool)
            .await?;
    let [(id, part_count, status)] = videos.as_slice() else {
        anyhow::bail!("one video: the reload resumes it rather than starting another: {videos:?}");
    };
    let part_count = *part_count;
    ensure!(part_count >= 4, "several parts: {part_count}");
    ensure!(status == "ready", "{status}");
    let before = result["putsBefore"].as_i64().unwrap_or(-1);
    let after = result["putsAfter"].as_i64().unwrap_or(-1);
    ensure!(before == 2, "{result}");
    ensure!(
        before + after == i64::from(part_count),
        "each part sent once in all: {before} before the reload, {after} after, {part_count} parts"
    );
    ensure!(
        result["resumeNote"]
            .as_str()
            .unwrap_or_default()
            .contains("browser-replay.mp4"),
        "the page offers to resume: {result}"
    );
    let video = app.video(&id.to_string()).await?;
    ensure!(video["playable"] == true, "{video}");
    app.stop().await
}
