//! Non-destructive trim: the playlists players get are cut at segment boundaries around what
//! was asked, the original master and playlists stay as they were, `trim: null` restores all of
//! it, and every change gives a new `hls_url`. hls.js plays a trimmed master from player time 0
//! (player time + `window.start_s` = original time), and captions keep the original timeline.

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use std::time::Duration;

use vodnest_e2e::{TestApp, browser, expect_error, expect_status};
use vodnest_testkit::{Look, eventually};

const PATIENCE: Duration = Duration::from_secs(120);

use crate::captions::{beside, hls_url, put_captions, ready_video, text};

async fn patch(app: &TestApp, id: &str, body: Value) -> Result<reqwest::Response> {
    Ok(app
        .http
        .patch(app.url(&format!("/api/v1/videos/{id}")))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await?)
}

/// The URIs that are not tags, in order.
fn uris(playlist: &str) -> Vec<&str> {
    playlist
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
}

/// Each segment's (start, end) on the playlist's timeline, by EXTINF.
fn spans(playlist: &str) -> Vec<(f64, f64)> {
    let mut at = 0.0;
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|l| {
            l.trim_end_matches(',')
                .split(',')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .map(|d| {
            let span = (at, at + d);
            at += d;
            span
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_trim_cuts_the_playlists_and_keeps_the_original() -> Result<()> {
    let app = TestApp::spawn().await?;
    let (id, video) = ready_video(&app, 30).await?;
    let original_url = hls_url(&video)?;
    let original_master = text(&app, &original_url).await?;
    let rendition = *uris(&original_master).first().context("a rendition")?;
    let original_playlist = text(&app, &beside(&original_url, rendition)?).await?;
    let original_spans = spans(&original_playlist);
    ensure!(original_spans.len() >= 3, "{original_playlist}");

    // Refused: outside the video, empty, negative, unknown fields.
    let duration = video["duration_s"].as_f64().context("duration")?;
    for bad in [
        json!({"start_s": 1, "end_s": duration + 5.0}),
        json!({"start_s": 5, "end_s": 5}),
        json!({"start_s": -1, "end_s": 5}),
    ] {
        let refused = patch(&app, &id, json!({"trim": bad})).await?;
        expect_error(refused, 422, "invalid_trim").await?;
    }
    let refused = patch(
        &app,
        &id,
        json!({"trim": {"start_s": 1, "end_s": 5, "x": 1}}),
    )
    .await?;
    expect_error(refused, 422, "invalid_body").await?;

    let trimmed = patch(&app, &id, json!({"trim": {"start_s": 7.0, "end_s": 20.0}})).await?;
    let video = expect_status(trimmed, 200).await?["video"].clone();
    ensure!(
        video["trim"] == json!({"start_s": 7.0, "end_s": 20.0}),
        "{video}"
    );
    let window = &video["window"];
    let (start, end) = (
        window["start_s"].as_f64().context("window")?,
        window["end_s"].as_f64().context("window")?,
    );
    // Segment-aligned, and covering what was asked.
    ensure!(start <= 7.0 && end >= 20.0, "{window}");
    let boundary = |t: f64| {
        original_spans
            .iter()
            .any(|(a, b)| (a - t).abs() < 1e-3 || (b - t).abs() < 1e-3)
    };
    ensure!(
        boundary(start) && boundary(end),
        "{window} vs {original_spans:?}"
    );
    let trimmed_url = hls_url(&video)?;
    ensure!(trimmed_url.ends_with("/master-1.m3u8"), "{trimmed_url}");
    let master = text(&app, &trimmed_url).await?;
    ensure!(
        uris(&master).iter().all(|u| u.ends_with("/index-1.m3u8")),
        "{master}"
    );
    ensure!(!master.contains("index.m3u8"), "{master}");
    let cut = text(
        &app,
        &beside(
            &trimmed_url,
            &rendition.replace("index.m3u8", "index-1.m3u8"),
        )?,
    )
    .await?;
    let cut_spans = spans(&cut);
    ensure!(cut_spans.len() < original_spans.len(), "{cut}");
    let covered: f64 = cut_spans.last().map_or(0.0, |s| s.1);
    ensure!(
        (covered - (end - start)).abs() < 0.01,
        "{covered} vs {window}"
    );
    ensure!(
        cut.contains("#EXT-X-MAP:") && cut.contains("#EXT-X-ENDLIST"),
        "{cut}"
    );
    // The original master and playlist are still there, as they were.
    ensure!(text(&app, &original_url).await? == original_master);
    ensure!(text(&app, &beside(&original_url, rendition)?).await? == original_playlist);

    // Captions on the original timeline: a cue at 8–11 s shows at player time 2–5 s when the
    // window starts at 6 s.
    let vtt = "WEBVTT\n\n00:00:08.000 --> 00:00:11.000\neight seconds in\n";
    let added = put_captions(&app, &app.token, &id, "en", "text/vtt", vtt).await?;
    let video = expect_status(added, 200).await?["video"].clone();
    let with_captions = hls_url(&video)?;
    ensure!(with_captions.ends_with("/master-2.m3u8"), "{with_captions}");
    ensure!(video["window"] == *window, "{video}");
    let result = browser::run(
        &app,
        "subtitles.mjs",
        &[
            "--master".as_ref(),
            with_captions.as_ref(),
            "--lang".as_ref(),
            "en".as_ref(),
            "--cue".as_ref(),
            "eight seconds in".as_ref(),
            "--seconds".as_ref(),
            "8".as_ref(),
        ],
    )
    .await?;
    eprintln!("trimmed to {window}; hls.js: {result}");
    let started = result["startTime"].as_f64().context("startTime")?;
    ensure!(
        started < 1.0,
        "hls.js starts a trimmed master near 0: {result}"
    );
    let cue = result["cues"]
        .as_array()
        .and_then(|cues| cues.iter().find(|c| c["text"] == "eight seconds in"))
        .context("the cue")?;
    let at = cue["at"].as_f64().context("at")?;
    let (from, to) = (8.0 - start, 11.0 - start);
    ensure!(
        at >= from - 0.2 && at <= to + 0.2,
        "shown at {at} s, expected {from}–{to}: {result}"
    );

    // Restored: a new revision without cuts; captions stay.
    let restored = patch(&app, &id, json!({"trim": null})).await?;
    let video = expect_status(restored, 200).await?["video"].clone();
    ensure!(
        video["trim"].is_null() && video["window"].is_null(),
        "{video}"
    );
    let restored_url = hls_url(&video)?;
    ensure!(restored_url.ends_with("/master-3.m3u8"), "{restored_url}");
    let master = text(&app, &restored_url).await?;
    ensure!(
        uris(&master)
            .iter()
            .all(|u| u.ends_with("/index.m3u8") || u.starts_with("captions/")),
        "{master}"
    );
    ensure!(master.contains("TYPE=SUBTITLES"), "{master}");
    // A PATCH without `trim` leaves it as it is.
    let renamed = patch(&app, &id, json!({"title": "renamed"})).await?;
    let video = expect_status(renamed, 200).await?["video"].clone();
    ensure!(hls_url(&video)? == restored_url, "{video}");

    // Trimmed again, then made public: the republish copies the version into the public
    // class and the processor writes the edits there as the next revision.
    let trimmed = patch(&app, &id, json!({"trim": {"start_s": 7.0, "end_s": 20.0}})).await?;
    let video = expect_status(trimmed, 200).await?["video"].clone();
    let retrimmed_url = hls_url(&video)?;
    ensure!(retrimmed_url.ends_with("/master-4.m3u8"), "{retrimmed_url}");
    expect_status(
        patch(&app, &id, json!({"visibility": "public"})).await?,
        200,
    )
    .await?;
    let public = eventually("the edits in the public version", PATIENCE, async || {
        let video = app.video(&id).await?;
        let url = video["playback"]["hls_url"].as_str().unwrap_or_default();
        Ok(
            if url.contains("/public/") && url.ends_with("/master-5.m3u8") {
                Look::Done(video)
            } else {
                Look::NotYet(url.to_owned())
            },
        )
    })
    .await?;
    ensure!(
        public["window"] == *window && public["captions"].as_array().map(Vec::len) == Some(1),
        "{public}"
    );
    let master = text(&app, &hls_url(&public)?).await?;
    ensure!(
        master.contains("TYPE=SUBTITLES")
            && uris(&master).iter().any(|u| u.ends_with("/index-5.m3u8")),
        "{master}"
    );

    let urls = [
        &original_url,
        &trimmed_url,
        &with_captions,
        &restored_url,
        &retrimmed_url,
    ];
    for (i, a) in urls.iter().enumerate() {
        ensure!(
            urls[i + 1..].iter().all(|b| b != a),
            "every change a new hls_url: {urls:?}"
        );
    }
    app.stop().await
}
