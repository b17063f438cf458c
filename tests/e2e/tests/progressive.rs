//! Playable before done: while a 60 s clip is still transcoding, the websocket says
//! `playable`, and the master and EVENT rendition playlists are already fetchable; at the end
//! the playlists are final VOD playlists.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vodnest_e2e::{TestApp, clip, ws};

async fn fetch(app: &TestApp, url: &str) -> Result<(u16, String, Option<String>)> {
    let response = app.http.get(url).send().await?;
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((status, response.text().await?, cache))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_is_playable_before_processing_ends() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("long.mp4");
    clip::make_clip(&source, 60, "1M").await?;
    let id = app.upload_file(&source, "progressive").await?;

    // Follow until the first frame that says playable while still processing.
    let frames = ws::follow_until(&app.events_url(&id), Duration::from_secs(300), |frame| {
        ws::state(frame)["playable"] == true
    })
    .await?;
    let first = ws::state(frames.last().context("a frame")?);
    ensure!(
        first["status"] == "processing",
        "playable came only with the end: {first}"
    );
    let video = app.video(&id).await?;
    let master_url = video["playback"]["hls_url"].as_str().context("hls_url")?;
    let (status, master, _) = fetch(&app, master_url).await?;
    ensure!(status == 200, "master playlist: {status}");
    ensure!(master.contains("AVERAGE-BANDWIDTH="), "{master}");
    ensure!(master.contains("FRAME-RATE="), "{master}");
    ensure!(master.contains("#EXT-X-INDEPENDENT-SEGMENTS"), "{master}");
    let rendition = master
        .lines()
        .find(|l| l.ends_with(".m3u8"))
        .context("a rendition")?
        .to_owned();
    let base = master_url.trim_end_matches("master.m3u8");
    // A private video's playlists come from the API's signed path: cached privately.
    let scope = if master_url.contains("/api/v1/playback/") {
        "private"
    } else {
        "public"
    };
    let (status, live, cache) = fetch(&app, &format!("{base}{rendition}")).await?;
    ensure!(status == 200, "rendition playlist: {status}");
    let still_processing = app.video(&id).await?["status"] == "processing";
    if still_processing {
        ensure!(live.contains("#EXT-X-PLAYLIST-TYPE:EVENT"), "{live}");
        ensure!(
            cache == Some(format!("{scope}, max-age=2")),
            "a live playlist is cached briefly: {cache:?}"
        );
    }
    ensure!(live.contains(".m4s"), "lists segments already: {live}");

    ws::follow(
        &app.events_url(&id),
        &["ready", "failed"],
        Duration::from_secs(300),
    )
    .await?;
    ensure!(app.video(&id).await?["status"] == "ready");
    let (_, last, cache) = fetch(&app, &format!("{base}{rendition}")).await?;
    ensure!(last.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{last}");
    ensure!(last.trim_end().ends_with("#EXT-X-ENDLIST"), "{last}");
    ensure!(cache == Some(format!("{scope}, max-age=3600")), "{cache:?}");
    ensure!(
        last.matches(".m4s").count() == 10,
        "60 s in 6 s segments: {last}"
    );
    app.stop().await
}
