//! Captions: an SRT file becomes a WebVTT subtitle rendition that hls.js lists and shows; a
//! malformed file or a cue past the end is refused with the line; the captions of a private
//! video are served through signed URLs only; every change writes a new master under a new key.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use vodnest_e2e::{TestApp, browser, clip, expect_error, expect_status, storage_config};
use vodnest_testkit::{Look, eventually};

use crate::accounts::{add_user, key_for};

const PATIENCE: Duration = Duration::from_secs(180);

pub(crate) const SRT: &str = "1\r\n00:00:01,000 --> 00:00:04,000\r\nHello from vodnest\r\n\r\n\
    2\r\n00:00:05,000 --> 00:00:07,500\r\n<i>second</i> cue & more\r\n";

/// A test clip of `seconds` uploaded by the admin, once `ready` with nothing more being made.
pub(crate) async fn ready_video(app: &TestApp, seconds: u32) -> Result<(String, Value)> {
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("clip.mp4");
    let encode = [&clip::X264[..], &["-r", "15"], &clip::AAC[..]].concat();
    clip::make(&source, seconds, "320x180", true, &encode).await?;
    let id = app.upload_file(&source, "edits").await?;
    let video = settled(app, &id).await?;
    Ok((id, video))
}

/// The video once it is `ready` and nothing is being made for it.
pub(crate) async fn settled(app: &TestApp, id: &str) -> Result<Value> {
    eventually("the video ready", PATIENCE, async || {
        let video = app.video(id).await?;
        Ok(match (&video["status"], &video["encoding"]) {
            (s, Value::Null) if s == "ready" => Look::Done(video),
            (s, _) if s == "failed" => anyhow::bail!("failed: {video}"),
            (s, e) => Look::NotYet(format!("{s} {e}")),
        })
    })
    .await
}

/// `PUT /api/v1/videos/{id}/captions/{lang}` with `token`.
pub(crate) async fn put_captions(
    app: &TestApp,
    token: &str,
    id: &str,
    lang: &str,
    content_type: &str,
    body: &str,
) -> Result<reqwest::Response> {
    Ok(app
        .http
        .put(app.url(&format!(
            "/api/v1/videos/{id}/captions/{lang}?label=English"
        )))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await?)
}

pub(crate) async fn text(app: &TestApp, url: &str) -> Result<String> {
    let response = app.http.get(url).send().await?;
    ensure!(response.status() == 200, "GET {url}: {}", response.status());
    Ok(response.text().await?)
}

pub(crate) fn hls_url(video: &Value) -> Result<String> {
    Ok(video["playback"]["hls_url"]
        .as_str()
        .context("hls_url")?
        .to_owned())
}

/// `url` with its last path segment replaced by `name`.
pub(crate) fn beside(url: &str, name: &str) -> Result<String> {
    Ok(reqwest::Url::parse(url)?.join(name)?.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_srt_upload_becomes_a_subtitle_track_hls_js_shows() -> Result<()> {
    let app = TestApp::spawn().await?;
    let (id, video) = ready_video(&app, 12).await?;
    let original = hls_url(&video)?;
    ensure!(original.ends_with("/master.m3u8"), "{original}");
    ensure!(
        video["captions"] == json!([]) && video["trim"].is_null(),
        "{video}"
    );

    // Refusals: the line that is wrong, a cue past the end, the format, the language.
    let malformed =
        "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03,000 -> 00:00:04,000\nbad\n";
    let refused = put_captions(
        &app,
        &app.token,
        &id,
        "en",
        "application/x-subrip",
        malformed,
    )
    .await?;
    let body = expect_error(refused, 422, "invalid_captions").await?;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    ensure!(
        message.starts_with("line 6: expected a timing line like 00:00:01,000 --> 00:00:02,000"),
        "{body}"
    );
    let late = "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:30,000 --> 00:00:31,000\nlate\n";
    let refused = put_captions(&app, &app.token, &id, "en", "application/x-subrip", late).await?;
    let body = expect_error(refused, 422, "invalid_captions").await?;
    ensure!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("line 6: the cue starts at 00:00:30.000, after the video ends"),
        "{body}"
    );
    let refused = put_captions(&app, &app.token, &id, "en", "text/html", SRT).await?;
    expect_error(refused, 422, "unsupported_caption_format").await?;
    let refused = put_captions(&app, &app.token, &id, "EN_us", "application/x-subrip", SRT).await?;
    expect_error(refused, 422, "invalid_lang").await?;
    ensure!(
        hls_url(&app.video(&id).await?)? == original,
        "refusals change nothing"
    );

    // Someone else's video does not exist for them.
    let user = add_user(&app, "mallory", None).await?;
    let token = key_for(&app, &user, &["videos:read", "videos:write"]).await?;
    let refused = put_captions(&app, &token, &id, "en", "application/x-subrip", SRT).await?;
    expect_error(refused, 404, "not_found").await?;
    let refused = app
        .http
        .delete(app.url(&format!("/api/v1/videos/{id}/captions/en")))
        .bearer_auth(&token)
        .send()
        .await?;
    expect_error(refused, 404, "not_found").await?;

    // Accepted: a new master under a new key lists the subtitle rendition.
    let added = put_captions(&app, &app.token, &id, "en", "application/x-subrip", SRT).await?;
    let video = expect_status(added, 200).await?["video"].clone();
    ensure!(
        video["captions"] == json!([{"lang": "en", "label": "English"}]),
        "{video}"
    );
    let with_captions = hls_url(&video)?;
    ensure!(with_captions.ends_with("/master-1.m3u8"), "{with_captions}");
    let master = text(&app, &with_captions).await?;
    ensure!(
        master.contains("#EXT-X-MEDIA:TYPE=SUBTITLES,URI=\"captions/en-1.m3u8\",GROUP-ID=\"subs\",LANGUAGE=\"en\",NAME=\"English\""),
        "{master}"
    );
    let variants = master.matches("#EXT-X-STREAM-INF").count();
    ensure!(
        variants > 0 && master.matches("SUBTITLES=\"subs\"").count() == variants,
        "{master}"
    );

    // The private video's caption playlist comes through the signed path, its WebVTT URI a
    // presigned storage URL; a path without a valid signature is refused.
    let playlist_url = beside(&with_captions, "captions/en-1.m3u8")?;
    let playlist = text(&app, &playlist_url).await?;
    let vtt_url = playlist
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .context("no WebVTT in the playlist")?;
    ensure!(vtt_url.contains("X-Amz-Signature="), "{playlist}");
    let vtt = text(&app, vtt_url).await?;
    ensure!(vtt.starts_with("WEBVTT\n"), "{vtt}");
    ensure!(
        vtt.contains("00:00:01.000 --> 00:00:04.000\nHello from vodnest\n"),
        "{vtt}"
    );
    ensure!(vtt.contains("<i>second</i> cue &amp; more"), "{vtt}");
    let forged = {
        let (head, sig) = vtt_url.split_once("X-Amz-Signature=").context("sig")?;
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        format!("{head}X-Amz-Signature={flipped}{}", &sig[1..])
    };
    ensure!(
        app.http.get(&forged).send().await?.status() == 403,
        "forged WebVTT URL"
    );
    let (signed_base, _) = playlist_url
        .rsplit_once("/captions/")
        .context("signed base")?;
    let (unsigned_base, token) = signed_base.rsplit_once('/').context("token")?;
    let (expiry, tag) = token.split_once('-').context("token parts")?;
    let flipped = if tag.starts_with('0') { "1" } else { "0" };
    let tampered = format!(
        "{unsigned_base}/{expiry}-{flipped}{}/captions/en-1.m3u8",
        &tag[1..]
    );
    ensure!(
        app.http.get(&tampered).send().await?.status() == 403,
        "tampered path"
    );
    for odd in [
        "captions/en.m3u8",
        "captions/en-01.m3u8",
        "captions/EN-1.m3u8",
        "captions/en-1.vtt",
    ] {
        let url = format!("{signed_base}/{odd}");
        ensure!(app.http.get(&url).send().await?.status() == 404, "{odd}");
    }

    // hls.js lists the track and shows its first cue.
    let result = browser::run(
        &app,
        "subtitles.mjs",
        &[
            "--master".as_ref(),
            with_captions.as_ref(),
            "--lang".as_ref(),
            "en".as_ref(),
            "--cue".as_ref(),
            "Hello from vodnest".as_ref(),
            "--seconds".as_ref(),
            "6".as_ref(),
        ],
    )
    .await?;
    ensure!(
        result["subtitleTracks"] == json!([{"name": "English", "lang": "en"}]),
        "{result}"
    );
    let cue = result["cues"]
        .as_array()
        .and_then(|cues| cues.iter().find(|c| c["text"] == "Hello from vodnest"))
        .context("the cue")?;
    let at = cue["at"].as_f64().context("at")?;
    ensure!((0.9..=4.1).contains(&at), "shown at {at} s: {result}");

    // The watch page lists them (a label is text, escaped as such).
    let cookie = app.session_cookie().await?;
    let page = app
        .http
        .get(app.url(&format!("/watch?v={id}")))
        .header("cookie", &cookie)
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        page.contains("id=\"captions\"") && page.contains("<span lang=\"en\">English</span>"),
        "{page}"
    );

    // Deleted: a new master without it; the earlier masters stay as they were.
    let deleted = app
        .delete(&format!("/api/v1/videos/{id}/captions/en"))
        .send()
        .await?;
    expect_status(deleted, 204).await?;
    let video = app.video(&id).await?;
    let without = hls_url(&video)?;
    ensure!(without.ends_with("/master-2.m3u8"), "{without}");
    ensure!(video["captions"] == json!([]), "{video}");
    ensure!(
        !text(&app, &without).await?.contains("SUBTITLES"),
        "gone from the master"
    );
    ensure!(
        text(&app, &beside(&without, "master-1.m3u8")?)
            .await?
            .contains("SUBTITLES")
    );
    ensure!(
        !text(&app, &beside(&without, "master.m3u8")?)
            .await?
            .contains("SUBTITLES")
    );
    let again = app
        .delete(&format!("/api/v1/videos/{id}/captions/en"))
        .send()
        .await?;
    expect_error(again, 404, "not_found").await?;
    // Its source is gone too (the revisions that listed it keep their own copies).
    let storage = vodnest_core::storage::Storage::from_env(&storage_config()?).await;
    let sources = storage
        .media_keys(&format!("videos/{id}/signed/captions/"))
        .await?;
    ensure!(sources.is_empty(), "{sources:?}");
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn captions_wait_for_a_ready_video() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("clip.mp4");
    clip::make(&source, 2, "320x180", false, &clip::X264).await?;
    // Uploaded, not completed: no output yet.
    let (id, _) = app.upload_parts(&source, "not yet").await?;
    let refused = put_captions(
        &app,
        &app.token,
        &id,
        "en",
        "text/vtt",
        "WEBVTT\n\n00:00.000 --> 00:01.000\nx\n",
    )
    .await?;
    expect_error(refused, 409, "not_ready").await?;
    let refused = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{id}")))
        .bearer_auth(&app.token)
        .json(&json!({"trim": {"start_s": 0, "end_s": 1}}))
        .send()
        .await?;
    expect_error(refused, 409, "not_ready").await?;
    app.stop().await
}

/// A copied top rendition makes the video `ready` at once and a ladder job adds the rungs below
/// it, rewriting `master.m3u8`. Captions added meanwhile are written again on the new master
/// when the ladder ends; added after, they list every rung already. Either way the final
/// master has them and every rung.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn captions_outlive_a_ladder_that_adds_rungs() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("clip.mp4");
    let encode = [&clip::X264[..], &["-r", "15", "-g", "30"], &clip::AAC[..]].concat();
    clip::make(&source, 8, "854x480", true, &encode).await?;
    let id = app.upload_file(&source, "ladder").await?;
    eventually("the video ready", PATIENCE, async || {
        let video = app.video(&id).await?;
        Ok(match video["status"].as_str() {
            Some("ready") => Look::Done(()),
            Some("failed") => anyhow::bail!("failed: {video}"),
            other => Look::NotYet(format!("{other:?}")),
        })
    })
    .await?;
    let added = put_captions(&app, &app.token, &id, "en", "application/x-subrip", SRT).await?;
    expect_status(added, 200).await?;
    let video = eventually("the ladder's rungs", PATIENCE, async || {
        let video = app.video(&id).await?;
        let rungs = video["renditions"].as_array().map_or(0, Vec::len);
        Ok(if rungs >= 2 && video["encoding"].is_null() {
            Look::Done(video)
        } else {
            Look::NotYet(format!("{rungs} rungs, encoding {}", video["encoding"]))
        })
    })
    .await?;
    let rungs = video["renditions"].as_array().map_or(0, Vec::len);
    // The processor writes the next revision right after it recorded the ladder's success.
    let master = eventually(
        "a master with the captions and every rung",
        PATIENCE,
        async || {
            let url = hls_url(&app.video(&id).await?)?;
            let master = text(&app, &url).await?;
            let listed = master.matches("RESOLUTION=").count();
            Ok(
                if url.contains("/master-") && master.contains("TYPE=SUBTITLES") && listed == rungs
                {
                    Look::Done(master)
                } else {
                    Look::NotYet(format!("{url}: {master}"))
                },
            )
        },
    )
    .await?;
    ensure!(
        master.matches("SUBTITLES=\"subs\"").count() == rungs + 1,
        "{master}"
    );
    app.stop().await
}
