//! Clips (issue 19): an instant clip is `ready` in the answer that makes it, plays the
//! parent's own segments in hls.js, is signed when it is private (even of a public parent) and
//! signs nothing outside what it references, and outlives its parent (which keeps only the
//! version the clip references, until the clip goes too). A precise clip is cut within a frame
//! of the asked range. Posters: uploaded (checked) or chosen by time (a `poster` job).

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use vodnest_core::storage::Storage;
use vodnest_e2e::{
    TestApp, TestSettings, browser, clip, expect_error, expect_status, raw_object, storage_config,
};
use vodnest_testkit::{Look, TestDatabase, eventually};

use crate::accounts::{add_user, call, key_for};

const PATIENCE: Duration = Duration::from_secs(300);

/// A test pattern with a tone, 320x180 at 15 fps, a keyframe every 2 s (the fast path).
async fn source(dir: &std::path::Path, seconds: u32) -> Result<std::path::PathBuf> {
    let path = dir.join("replay.mp4");
    let encode = [&clip::X264[..], &["-r", "15", "-g", "30"], &clip::AAC[..]].concat();
    clip::make(&path, seconds, "320x180", true, &encode).await?;
    Ok(path)
}

async fn ready_video(
    app: &TestApp,
    path: &std::path::Path,
    title: &str,
) -> Result<(String, Value)> {
    let (id, _, video) = app.upload_until_settled(path, title, PATIENCE).await?;
    ensure!(video["status"] == "ready", "{video}");
    Ok((id, video))
}

async fn video_when(
    app: &TestApp,
    id: &str,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Result<Value> {
    eventually(what, PATIENCE, async || {
        let video = app.video(id).await?;
        Ok(if wanted(&video) {
            Look::Done(video)
        } else {
            Look::NotYet(format!("{} {}", video["status"], video["playback"]))
        })
    })
    .await
}

async fn make_clip(app: &TestApp, id: &str, body: Value) -> Result<reqwest::Response> {
    Ok(app
        .post(&format!("/api/v1/videos/{id}/clips"), &body)
        .send()
        .await?)
}

/// The text at `url` and the URL it was read from.
async fn text(app: &TestApp, url: &reqwest::Url) -> Result<String> {
    let response = app.http.get(url.clone()).send().await?;
    ensure!(response.status() == 200, "{url}: {}", response.status());
    Ok(response.text().await?)
}

/// The URIs a playlist lists (not the tags), resolved against its URL.
fn uris(base: &reqwest::Url, playlist: &str) -> Result<Vec<reqwest::Url>> {
    playlist
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| Ok(base.join(l.trim())?))
        .collect()
}

/// The first rendition playlist of a master and the segment URLs it lists.
async fn first_rendition(app: &TestApp, master: &str) -> Result<(reqwest::Url, Vec<reqwest::Url>)> {
    let master = reqwest::Url::parse(master)?;
    let text_of_master = text(app, &master).await?;
    let rendition = uris(&master, &text_of_master)?
        .into_iter()
        .next()
        .context("no rendition")?;
    let playlist = text(app, &rendition).await?;
    Ok((rendition.clone(), uris(&rendition, &playlist)?))
}

async fn status(app: &TestApp, url: &reqwest::Url) -> Result<u16> {
    Ok(app.http.get(url.clone()).send().await?.status().as_u16())
}

async fn storage() -> Result<Storage> {
    Ok(Storage::from_env(&storage_config()?).await)
}

/// Plays the master in hls.js from its start for a few seconds; the result (currentTime from
/// and to).
async fn plays(app: &TestApp, master: &str) -> Result<Value> {
    let result = browser::run(
        app,
        "seek_play.mjs",
        &[
            "--master".as_ref(),
            master.as_ref(),
            "--at".as_ref(),
            "0".as_ref(),
            "--seconds".as_ref(),
            "4".as_ref(),
        ],
    )
    .await?;
    ensure!(result["ok"] == true, "{result}");
    Ok(result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instant_clip_is_ready_at_once_plays_and_outlives_its_parent() -> Result<()> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    // The sweeper deletes what no clip references any more every second here.
    settings.api.upload_sweep_secs = 1;
    let app = TestApp::spawn_with(db, settings).await?;
    let dir = tempfile::tempdir()?;
    let (parent, _) = ready_video(&app, &source(dir.path(), 180).await?, "three minutes").await?;
    // A public parent: the private clip's playback must still be signed.
    let patched = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{parent}")))
        .bearer_auth(&app.token)
        .json(&json!({"visibility": "public"}))
        .send()
        .await?;
    expect_status(patched, 200).await?;
    let public = video_when(&app, &parent, "the public version", |v| {
        v["playback"]["hls_url"]
            .as_str()
            .is_some_and(|u| u.contains("/public/"))
    })
    .await?;
    let parent_version: String =
        sqlx::query_scalar("select media_prefix from videos where id = $1::uuid")
            .bind(&parent)
            .fetch_one(&app.pool)
            .await?;
    ensure!(parent_version.contains("/public/"), "{public}");

    let made = make_clip(
        &app,
        &parent,
        json!({"start_s": 30.0, "end_s": 90.0, "title": "the middle"}),
    )
    .await?;
    let clip = expect_status(made, 201).await?["video"].clone();
    let id = clip["id"].as_str().context("id")?.to_owned();
    // Ready in the answer itself.
    ensure!(
        clip["status"] == "ready" && clip["playable"] == true,
        "{clip}"
    );
    ensure!(clip["visibility"] == "private", "{clip}");
    let duration = clip["duration_s"].as_f64().context("duration")?;
    ensure!((duration - 60.0).abs() <= 6.0 + 1e-6, "duration {duration}");
    ensure!(clip["source"]["video_id"] == parent.as_str(), "{clip}");
    let start = clip["source"]["start_s"].as_f64().context("source start")?;
    ensure!((24.0..=30.0).contains(&start), "{clip}");
    // Private clip of a public parent: signed playback.
    let hls = clip["playback"]["hls_url"]
        .as_str()
        .context("hls")?
        .to_owned();
    ensure!(
        hls.starts_with(&app.url(&format!("/api/v1/playback/{id}/"))),
        "{hls}"
    );
    let (rendition, segments) = first_rendition(&app, &hls).await?;
    ensure!(!segments.is_empty());
    for segment in &segments {
        ensure!(
            segment
                .path()
                .contains(&format!("/videos/{parent}/public/"))
                && segment
                    .query()
                    .is_some_and(|q| q.contains("X-Amz-Signature=")),
            "a signed URL of the parent's segment: {segment}"
        );
    }
    ensure!(status(&app, &segments[0]).await? == 200);
    // Its poster is grabbed by a poster job from the parent's segments.
    video_when(&app, &id, "the clip's poster", |v| {
        v["playback"]["poster_url"]
            .as_str()
            .is_some_and(|u| u.contains("poster-"))
    })
    .await?;

    // A clip's playlist naming a parent object outside its references is not signed.
    let s3 = storage().await?;
    let clip_version: String =
        sqlx::query_scalar("select media_prefix from videos where id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await?;
    let forged = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\n../../../../{parent}/signed/1/audio/seg_00001.m4s\n#EXT-X-ENDLIST\n"
    );
    s3.put_media_bytes(
        &format!("{clip_version}forged/index.m3u8"),
        forged.into_bytes(),
        "application/vnd.apple.mpegurl",
        "no-store",
    )
    .await?;
    let forged_url = rendition.join("../forged/index.m3u8")?;
    let refused = app.http.get(forged_url.clone()).send().await?;
    let refused_status = refused.status();
    let refused_body = refused.text().await?;
    ensure!(
        refused_status == 500 && !refused_body.contains("X-Amz-Signature"),
        "{forged_url}: {refused_status} {refused_body}"
    );

    let played = plays(&app, &hls).await?;
    eprintln!(
        "the clip in hls.js: currentTime from {} to {}",
        played["from"], played["to"]
    );

    // Deleting the parent keeps the version the clip references, and only that.
    let deleted = app
        .delete(&format!("/api/v1/videos/{parent}"))
        .send()
        .await?;
    ensure!(deleted.status() == 204, "{}", deleted.status());
    let left = s3.media_keys(&format!("videos/{parent}/")).await?;
    ensure!(!left.is_empty(), "the referenced segments were deleted");
    ensure!(
        left.iter().all(|k| k.starts_with(&parent_version)),
        "only {parent_version} is kept: {left:?}"
    );
    ensure!(
        raw_object(&parent).await.is_err(),
        "the parent's upload is gone"
    );
    // Still playable (fresh signed URLs, the same objects).
    let again = app.video(&id).await?;
    let hls = again["playback"]["hls_url"]
        .as_str()
        .context("hls")?
        .to_owned();
    let (_, segments) = first_rendition(&app, &hls).await?;
    ensure!(status(&app, &segments[0]).await? == 200);
    plays(&app, &hls).await?;

    // Deleting the clip lets the sweeper delete what was kept.
    let deleted = app.delete(&format!("/api/v1/videos/{id}")).send().await?;
    ensure!(deleted.status() == 204);
    eventually("the kept version deleted", PATIENCE, async || {
        let left = s3.media_keys(&format!("videos/{parent}/")).await?;
        let clip_left = s3.media_keys(&format!("videos/{id}/")).await?;
        Ok(if left.is_empty() && clip_left.is_empty() {
            Look::Done(())
        } else {
            Look::NotYet(format!("{} + {} objects", left.len(), clip_left.len()))
        })
    })
    .await?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn precise_clips_posters_and_refusals() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let (parent, video) =
        ready_video(&app, &source(dir.path(), 40).await?, "forty seconds").await?;
    let duration = video["duration_s"].as_f64().context("duration")?;

    // Bad ranges.
    for (body, what) in [
        (json!({"start_s": -1.0, "end_s": 10.0}), "at least 0"),
        (
            json!({"start_s": 10.0, "end_s": duration + 5.0}),
            "duration",
        ),
        (json!({"start_s": 10.0, "end_s": 10.0}), "after start_s"),
        (json!({"start_s": 20.0, "end_s": 10.0}), "after start_s"),
    ] {
        let refused =
            expect_error(make_clip(&app, &parent, body).await?, 422, "invalid_range").await?;
        ensure!(refused.to_string().contains(what), "{refused}");
    }
    expect_error(
        make_clip(&app, &parent, json!({"start_s": 1.0})).await?,
        422,
        "invalid_body",
    )
    .await?;
    // Another user cannot clip your private video: it does not exist for them.
    let bob = add_user(&app, "bob", None).await?;
    let token = key_for(&app, &bob, &["videos:read", "videos:write"]).await?;
    let response = call(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/videos/{parent}/clips"),
        &token,
    )
    .json(&json!({"start_s": 1.0, "end_s": 5.0}))
    .send()
    .await?;
    expect_error(response, 404, "not_found").await?;

    // Precise: cut at the exact instants, processed like an upload.
    let (start, end) = (10.3, 25.7);
    let made = make_clip(
        &app,
        &parent,
        json!({"start_s": start, "end_s": end, "precise": true}),
    )
    .await?;
    let clip = expect_status(made, 201).await?["video"].clone();
    ensure!(clip["status"] == "queued", "{clip}");
    let id = clip["id"].as_str().context("id")?.to_owned();
    let ready = video_when(&app, &id, "the precise clip", |v| {
        v["status"] == "ready" || v["status"] == "failed"
    })
    .await?;
    ensure!(ready["status"] == "ready", "{ready}");
    let frame = 1.0 / 15.0;
    let got = ready["duration_s"].as_f64().context("duration")?;
    ensure!(
        (got - (end - start)).abs() <= frame + 1e-3,
        "duration {got} for {}",
        end - start
    );
    let cut = dir.path().join("cut.mp4");
    tokio::fs::write(&cut, raw_object(&id).await?).await?;
    let probed = clip::duration(&cut).await?;
    ensure!(
        (probed - (end - start)).abs() <= frame + 1e-3,
        "ffprobe: {probed}"
    );
    ensure!(
        ready["source"]["start_s"].as_f64() == Some(start),
        "{ready}"
    );

    // A public instant clip of a private parent: made in the signed class, then a republish
    // gives it public copies of the segments it plays; it references nothing any more.
    let made = make_clip(
        &app,
        &parent,
        json!({"start_s": 6.0, "end_s": 18.0, "visibility": "public"}),
    )
    .await?;
    let public = expect_status(made, 201).await?["video"].clone();
    ensure!(
        public["status"] == "ready" && public["visibility"] == "public",
        "{public}"
    );
    let public_id = public["id"].as_str().context("id")?.to_owned();
    let moved = video_when(&app, &public_id, "the public copy", |v| {
        v["playback"]["hls_url"]
            .as_str()
            .is_some_and(|u| u.contains(&format!("/videos/{public_id}/public/")))
    })
    .await?;
    let hls = moved["playback"]["hls_url"].as_str().context("hls")?;
    let (_, segments) = first_rendition(&app, hls).await?;
    for segment in &segments {
        ensure!(
            segment
                .path()
                .contains(&format!("/videos/{public_id}/public/"))
                && segment.query().is_none(),
            "a plain URL of the clip's own copy: {segment}"
        );
    }
    ensure!(status(&app, &segments[0]).await? == 200);
    let version: String = sqlx::query_scalar("select media_prefix from videos where id = $1::uuid")
        .bind(&public_id)
        .fetch_one(&app.pool)
        .await?;
    let references: i64 =
        sqlx::query_scalar("select count(*) from media_references where version = $1")
            .bind(&version)
            .fetch_one(&app.pool)
            .await?;
    ensure!(references == 0, "{references} references of {version}");

    // The owner's clip tools on the watch page, and the clip's page.
    let page = browser::run(
        &app,
        "clip_page.mjs",
        &["--video".as_ref(), parent.as_ref()],
    )
    .await?;
    ensure!(page["ok"] == true, "{page}");

    // An uploaded poster: a PNG becomes the poster under a new name; a non-image is refused.
    let png = dir.path().join("poster.png");
    let made = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .args(["color=c=red:s=64x36", "-frames:v", "1"])
        .arg(&png)
        .status()
        .await?;
    ensure!(made.success());
    let before = app.video(&parent).await?["playback"]["poster_url"].clone();
    let put = |body: Vec<u8>, content_type: &'static str| {
        app.http
            .put(app.url(&format!("/api/v1/videos/{parent}/poster")))
            .bearer_auth(&app.token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let uploaded =
        expect_status(put(tokio::fs::read(&png).await?, "image/png").await?, 200).await?;
    let poster = uploaded["video"]["playback"]["poster_url"]
        .as_str()
        .context("poster")?
        .to_owned();
    ensure!(
        poster.ends_with(".png") && before.as_str() != Some(poster.as_str()),
        "{poster}"
    );
    let fetched = app.http.get(&poster).send().await?;
    ensure!(fetched.status() == 200, "{poster}: {}", fetched.status());
    ensure!(fetched.bytes().await?.starts_with(b"\x89PNG"));
    let refused = expect_error(
        put(b"hello".to_vec(), "image/png").await?,
        422,
        "invalid_image",
    )
    .await?;
    ensure!(
        refused.to_string().contains("neither a JPEG nor a PNG"),
        "{refused}"
    );
    let wrong = tokio::fs::read(&png).await?;
    expect_error(put(wrong, "image/jpeg").await?, 422, "invalid_image").await?;

    // A poster chosen by time: a poster job grabs that frame.
    let patched = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{parent}")))
        .bearer_auth(&app.token)
        .json(&json!({"poster_time_s": 5.0}))
        .send()
        .await?;
    expect_status(patched, 200).await?;
    let chosen = video_when(&app, &parent, "the chosen poster", |v| {
        v["playback"]["poster_url"]
            .as_str()
            .is_some_and(|u| u.contains("poster-") && u.ends_with(".jpg"))
    })
    .await?;
    let url = chosen["playback"]["poster_url"]
        .as_str()
        .context("poster")?;
    let fetched = app.http.get(url).send().await?;
    ensure!(fetched.status() == 200, "{url}");
    ensure!(fetched.bytes().await?.starts_with(&[0xFF, 0xD8]), "a JPEG");
    let out_of_range = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{parent}")))
        .bearer_auth(&app.token)
        .json(&json!({"poster_time_s": duration + 10.0}))
        .send()
        .await?;
    expect_error(out_of_range, 422, "invalid_field").await?;
    app.stop().await
}
