//! MP4 downloads: `GET /videos/{id}/download` answers 202 while a `download` job joins the
//! rendition and its audio into one fragmented MP4 in storage, then 302 to it (signed for a
//! video that is not public). The file has both streams and the video's duration, and plays
//! and seeks in Chromium's own player, and the watch page's button downloads it. Two requests
//! at once make one job; other users' videos are not found; an unknown rendition is refused
//! with the valid ones named; a video made public gets a new file at a plain URL.

use std::ffi::OsStr;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use reqwest::Method;
use serde_json::Value;
use vodnest_e2e::{TestApp, browser, clip, expect_error, expect_status, header};
use vodnest_testkit::{Look, eventually};

use crate::accounts::{add_user, call, key_for};

const PATIENCE: Duration = Duration::from_secs(180);

/// `GET …/download` as the admin, redirects not followed.
async fn ask(app: &TestApp, id: &str, query: &str) -> Result<reqwest::Response> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok(client
        .get(app.url(&format!("/api/v1/videos/{id}/download{query}")))
        .bearer_auth(&app.token)
        .send()
        .await?)
}

async fn ffprobe(path: &std::path::Path, entries: &str) -> Result<String> {
    let out = tokio::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", entries, "-of", "csv=p=0"])
        .arg(path)
        .output()
        .await?;
    ensure!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

async fn download_jobs(app: &TestApp, id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from jobs where video_id = $1::uuid and kind = 'download'",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_download_is_made_once_then_redirects_to_a_playable_mp4() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("clip.mp4");
    let encode = [
        &clip::X264[..],
        &["-r", "15"],
        &clip::GOP_2S[..],
        &clip::AAC[..],
    ]
    .concat();
    clip::make(&source, 20, "320x180", true, &encode).await?;

    // Not ready yet (no upload): 409.
    let pending = app.create_video("pending", "p.mp4", 1000).await?;
    let pending_id = pending["video"]["id"].as_str().context("id")?;
    expect_error(ask(&app, pending_id, "").await?, 409, "not_ready").await?;

    let (id, _, video) = app
        .upload_until_settled(&source, "download me", PATIENCE)
        .await?;
    ensure!(video["status"] == "ready", "{video}");
    let duration = video["duration_s"].as_f64().context("duration")?;
    let top = video["renditions"][0]["name"]
        .as_str()
        .context("rendition")?
        .to_owned();

    // A rendition it does not have: 422, naming the ones it has.
    let refused = expect_error(
        ask(&app, &id, "?rendition=4320p").await?,
        422,
        "invalid_rendition",
    )
    .await?;
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    ensure!(message.contains(&top), "{message}");

    // Two requests at once: both preparing (or one already done), one job.
    let (first, second) = tokio::join!(ask(&app, &id, ""), ask(&app, &id, ""));
    for answer in [first?, second?] {
        let status = answer.status().as_u16();
        if status == 202 {
            let body = expect_status(answer, 202).await?;
            ensure!(body == serde_json::json!({"status": "preparing"}), "{body}");
        } else {
            ensure!(status == 302, "got {status}");
        }
    }
    // Someone else's video does not exist for them.
    let other = add_user(&app, "someone", None).await?;
    let token = key_for(&app, &other, &["videos:read"]).await?;
    let path = format!("/api/v1/videos/{id}/download");
    expect_error(
        call(&app, Method::GET, &path, &token).send().await?,
        404,
        "not_found",
    )
    .await?;

    let location = eventually("the download", PATIENCE, async || {
        let answer = ask(&app, &id, &format!("?rendition={top}")).await?;
        Ok(match answer.status().as_u16() {
            302 => Look::Done(header(&answer, "location")),
            202 => Look::NotYet("preparing".into()),
            other => Look::Done(format!("unexpected {other}: {}", answer.text().await?)),
        })
    })
    .await?;
    ensure!(
        download_jobs(&app, &id).await? == 1,
        "one job for both requests"
    );
    // The video is private: a presigned storage URL, whose signature storage checks.
    ensure!(location.contains("X-Amz-Signature="), "{location}");
    ensure!(location.contains("/downloads/"), "{location}");
    let fetched = app.http.get(&location).send().await?;
    ensure!(
        fetched.status() == 200,
        "GET the file: {}",
        fetched.status()
    );
    ensure!(header(&fetched, "content-type") == "video/mp4");
    ensure!(header(&fetched, "content-disposition").starts_with("attachment"));
    let bytes = fetched.bytes().await?;
    let forged = {
        let (head, sig) = location.split_once("X-Amz-Signature=").context("sig")?;
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        format!("{head}X-Amz-Signature={flipped}{}", &sig[1..])
    };
    let status = app.http.get(&forged).send().await?.status();
    ensure!(status == 403, "a forged signature: {status}");

    // ffprobe reads both streams and the video's duration.
    let file = dir.path().join("download.mp4");
    tokio::fs::write(&file, &bytes).await?;
    let streams = ffprobe(&file, "stream=codec_type").await?;
    ensure!(
        streams.lines().collect::<Vec<_>>() == ["video", "audio"],
        "{streams}"
    );
    let got: f64 = ffprobe(&file, "format=duration").await?.parse()?;
    ensure!(
        (got - duration).abs() <= 0.1,
        "duration {got} vs {duration}"
    );

    // Chromium plays it from a plain <video src>, and seeks to the middle.
    let played: Value = browser::run(
        &app,
        "mp4_play.mjs",
        &[
            OsStr::new("--src"),
            OsStr::new(&location),
            OsStr::new("--duration"),
            OsStr::new(&duration.to_string()),
        ],
    )
    .await?;
    ensure!(played["ok"] == true, "{played}");

    // The watch page offers it to the owner: one click, "Preparing…" (or not, once made),
    // then the browser downloads the file.
    let clicked = browser::run(
        &app,
        "download_button.mjs",
        &[OsStr::new("--video"), OsStr::new(&id)],
    )
    .await?;
    let name = format!("download me-{top}.mp4");
    ensure!(clicked["filename"] == name.as_str(), "{clicked}");
    ensure!(
        clicked["bytes"].as_u64() == Some(bytes.len() as u64),
        "{clicked}"
    );

    // Asked again: the same file, no new job.
    let again = ask(&app, &id, "").await?;
    ensure!(again.status() == 302, "{}", again.status());
    ensure!(download_jobs(&app, &id).await? == 1);

    // Made public: its output is republished under a new master, so the old file is stale; the
    // next request makes a new one, and redirects to a plain (unsigned) URL.
    let patched = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{id}")))
        .bearer_auth(&app.token)
        .json(&serde_json::json!({"visibility": "public"}))
        .send()
        .await?;
    expect_status(patched, 200).await?;
    let public = eventually("the public download", PATIENCE, async || {
        let video = app.video(&id).await?;
        let url = video["playback"]["hls_url"].as_str().unwrap_or_default();
        if !url.contains("/public/") {
            return Ok(Look::NotYet("republishing".into()));
        }
        let answer = ask(&app, &id, "").await?;
        Ok(match answer.status().as_u16() {
            302 => Look::Done(header(&answer, "location")),
            _ => Look::NotYet(format!("{}", answer.status())),
        })
    })
    .await?;
    ensure!(
        public.contains("/public/") && !public.contains("X-Amz-"),
        "{public}"
    );
    ensure!(app.http.get(&public).send().await?.status() == 200);
    ensure!(
        download_jobs(&app, &id).await? == 2,
        "a new file for the new master"
    );
    app.stop().await
}
