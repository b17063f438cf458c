//! The library page in headless Chromium: a queued video's badge turns processing and then
//! ready, its progress bar moves and its poster and duration appear, all without a reload.

use anyhow::{Context, Result, ensure};
use vodnest_core::storage::{MediaClass, Storage, version_prefix};
use vodnest_e2e::{TestApp, TestDatabase, TestSettings, browser, expect_status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_badges_update_live() -> Result<()> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    // No processor: the script moves the video along in Postgres itself.
    settings.with_processor = false;
    let app = TestApp::spawn_with(db, settings).await?;
    let created = app.create_video("Live badge", "live.mp4", 2048).await?;
    let id = created["video"]["id"].as_str().context("id")?.to_owned();
    let (n, url) = app.part_urls(&id, &[1]).await?.pop().context("part")?;
    let etag = app.put_part(&url, vec![1u8; 2048]).await?;
    expect_status(app.complete(&id, &[(n, etag)]).await?, 202).await?;
    // The poster the script's "ready" update announces: a real JPEG where the processor puts it.
    let dir = tempfile::tempdir()?;
    let poster = dir.path().join("poster.jpg");
    let made = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-f",
            "lavfi",
        ])
        .args(["-i", "testsrc2=size=320x180", "-frames:v", "1"])
        .arg(&poster)
        .status()
        .await?;
    ensure!(made.success(), "ffmpeg made no poster");
    let storage = Storage::from_env(&vodnest_e2e::storage_config()?).await;
    storage
        .put_media_file(
            // The version the script's "ready" update makes current.
            &format!(
                "{}poster.jpg",
                version_prefix(id.parse()?, MediaClass::Public, 1)
            ),
            &poster,
            "image/jpeg",
            "public, max-age=60",
        )
        .await?;

    // Every page carries the security policy (and the browser scripts below would report any
    // resource it blocked as a console error).
    let login = app.http.get(app.url("/login")).send().await?;
    let policy = vodnest_e2e::header(&login, "content-security-policy");
    ensure!(
        policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
        "Content-Security-Policy: {policy:?}"
    );

    let result = browser::run(
        &app,
        "library.mjs",
        &[
            "--video".as_ref(),
            id.as_ref(),
            "--database-url".as_ref(),
            app.db.url.as_ref(),
        ],
    )
    .await?;
    ensure!(
        result["badges"] == serde_json::json!(["queued", "processing", "ready"]),
        "{result}"
    );
    ensure!(result["reloaded"] == false, "{result}");
    app.stop().await
}
