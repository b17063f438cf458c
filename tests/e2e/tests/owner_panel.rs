//! The owner's "Edit" panel on the watch page, in headless Chromium (issue 19: a streamer edits
//! a replay from the pages alone): a description with chapter lines, refused chapters, a trim
//! marked with the player, captions from an SRT file, the poster from the current frame, then an uploaded PNG;
//! then the video object, read through the API, says each change was made.

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use vodnest_e2e::{TestApp, browser};

use crate::captions::{hls_url, ready_video};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_edits_a_replay_from_the_watch_page() -> Result<()> {
    let app = TestApp::spawn().await?;
    let (id, before) = ready_video(&app, 40).await?;
    let result = browser::run(&app, "owner_panel.mjs", &["--video".as_ref(), id.as_ref()]).await?;

    // What the page showed.
    ensure!(result["title"] == "Edited on the page", "{result}");
    ensure!(
        result["chapters"] == json!(["Intro", "Fight", "End"]),
        "{result}"
    );
    ensure!(result["panelOpen"] == true, "{result}");
    ensure!(
        result["chaptersField"] == "0:00 Intro\n0:12 Fight\n0:25 End",
        "{result}"
    );
    let shown = |key: &str, part: &str| result[key].as_str().is_some_and(|s| s.contains(part));
    ensure!(shown("afterDetails", "saved"), "{result}");
    ensure!(
        shown("refusedChapters", "chapters[0]"),
        "the server's 422: {result}"
    );
    ensure!(shown("badLine", "line 2"), "{result}");
    ensure!(result["marked"] == json!(["10.0", "30.0"]), "{result}");
    ensure!(shown("afterTrim", "Trimmed"), "{result}");
    ensure!(result["restoreShown"] == true, "{result}");
    ensure!(shown("afterCaptions", "Captions added"), "{result}");
    ensure!(shown("captionsLine", "English"), "{result}");
    ensure!(result["removable"] == json!(["en"]), "{result}");
    ensure!(shown("afterPoster", "Poster set"), "{result}");
    ensure!(result["posterAfter"] != result["posterBefore"], "{result}");

    // What the API says.
    let video = app.video(&id).await?;
    ensure!(video["title"] == "Edited on the page", "{video}");
    let starts: Vec<f64> = video["chapters"]
        .as_array()
        .context("chapters")?
        .iter()
        .filter_map(|c| c["start_s"].as_f64())
        .collect();
    ensure!(starts == [0.0, 12.0, 25.0], "{video}");
    ensure!(
        video["trim"] == json!({"start_s": 10.0, "end_s": 30.0}),
        "{video}"
    );
    let window = &video["window"];
    let (start, end) = (
        window["start_s"].as_f64().context("window")?,
        window["end_s"].as_f64().context("window")?,
    );
    ensure!(start <= 10.0 && end >= 30.0, "{video}");
    ensure!(
        result["window"]["start_s"].as_f64() == Some(start)
            && result["window"]["end_s"].as_f64() == Some(end),
        "the page's window: {result}"
    );
    // "Mark in" at player time 5 of the trimmed video is 5 s after the window's start.
    let mark_in = result["clipMarkIn"].as_f64().context("clipMarkIn")?;
    ensure!((mark_in - (start + 5.0)).abs() < 0.11, "{result}");
    ensure!(hls_url(&video)? != hls_url(&before)?, "{video}");
    ensure!(
        video["captions"]
            .as_array()
            .is_some_and(|c| c.len() == 1 && c[0]["lang"] == "en" && c[0]["label"] == "English"),
        "{video}"
    );
    // A poster's file name (signed URLs also change with their expiry).
    let poster = |v: &Value| {
        let url = reqwest::Url::parse(v["playback"]["poster_url"].as_str()?).ok()?;
        url.path_segments()?.next_back().map(str::to_owned)
    };
    let grabbed = result["posterAfter"].as_str().context("posterAfter")?;
    ensure!(
        grabbed.starts_with("poster-") && grabbed.ends_with(".jpg"),
        "{result}"
    );
    ensure!(poster(&before).as_deref() != Some(grabbed), "{before}");
    let name = poster(&video).context("a poster")?;
    ensure!(name.ends_with(".png") && name != grabbed, "{video}");
    ensure!(result["uploadedPoster"] == name.as_str(), "{result}");
    app.stop().await
}
