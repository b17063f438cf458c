//! The walking skeleton end to end: a clip made with ffmpeg is uploaded in two parts through
//! presigned URLs to LocalStack (signatures checked), processed, followed on the websocket
//! until ready, fetched back over HTTP and measured with ffprobe; then a headless Chromium
//! plays it on the watch page, and its master playlist (video renditions sharing one audio
//! rendition, an audio-only variant) in hls.js, Shaka Player and video.js.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use vodnest_e2e::{TestApp, clip, ws};

const CLIP_SECONDS: u32 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploaded_clip_becomes_a_playable_hls_stream() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("clip.mp4");
    clip::make_clip(&source, CLIP_SECONDS, "3M").await?;
    let source_duration = clip::duration(&source).await?;

    let size = tokio::fs::metadata(&source).await?.len();
    let created = app.create_video("Skeleton clip", "clip.mp4", size).await?;
    ensure!(
        created["upload"]["part_count"] == 2,
        "a {size}-byte clip should need two 5 MiB parts: {created}"
    );
    let id = created["video"]["id"].as_str().context("id")?.to_owned();
    ensure!(created["video"]["status"] == "awaiting_upload", "{created}");

    // Upload both parts through their presigned URLs, as a browser would.
    let bytes = tokio::fs::read(&source).await?;
    let part_size = created["upload"]["part_size"]
        .as_u64()
        .context("part_size")? as usize;
    let mut etags = Vec::new();
    for (n, url) in app.part_urls(&id, &[1, 2]).await? {
        let start = (n as usize - 1) * part_size;
        let end = (start + part_size).min(bytes.len());
        etags.push((n, app.put_part(&url, bytes[start..end].to_vec()).await?));
    }
    let completed = vodnest_e2e::expect_status(app.complete(&id, &etags).await?, 202).await?;
    ensure!(completed["video"]["status"] == "queued", "{completed}");

    let frames = ws::follow(
        &app.events_url(&id),
        &["ready", "failed"],
        Duration::from_secs(300),
    )
    .await?;
    ensure!(
        frames[0]["type"] == "snapshot",
        "first frame must be a snapshot: {frames:?}"
    );
    let video = app.video(&id).await?;
    ensure!(
        video["status"] == "ready",
        "video did not become ready: {video}"
    );
    ensure!(video["playable"] == true, "{video}");
    ensure!(
        frames
            .iter()
            .any(|f| f["type"] == "status" && f["stage"] == "transcoding"),
        "progress frames with the stage should have been sent: {frames:?}"
    );

    let master_url = video["playback"]["hls_url"]
        .as_str()
        .context("hls_url")?
        .to_owned();
    let out = dir.path().join("hls");
    let playlists = fetch_stream(&app.http, &master_url, &out).await?;
    ensure!(
        !playlists.is_empty(),
        "the master playlist lists no rendition"
    );
    for playlist in &playlists {
        let remuxed = dir
            .path()
            .join(format!("{}.mp4", playlist.replace('/', "_")));
        remux(&out.join(playlist), &remuxed).await?;
        let got = clip::duration(&remuxed).await?;
        ensure!(
            (got - source_duration).abs() <= 0.5,
            "{playlist}: duration {got:.3} s, source {source_duration:.3} s"
        );
    }

    let poster_url = video["playback"]["poster_url"]
        .as_str()
        .context("poster_url")?;
    let poster = app.http.get(poster_url).send().await?;
    ensure!(poster.status() == 200, "poster: {}", poster.status());
    ensure!(
        poster
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            == Some("image/jpeg"),
        "poster Content-Type: {:?}",
        poster.headers().get("content-type")
    );
    ensure!(
        poster.bytes().await?.starts_with(&[0xff, 0xd8]),
        "the poster is a JPEG"
    );

    let storyboard_url = video["playback"]["storyboard_url"]
        .as_str()
        .context("storyboard_url")?;
    let track = app.http.get(storyboard_url).send().await?;
    ensure!(
        track
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            == Some("text/vtt"),
        "storyboard Content-Type: {:?}",
        track.headers().get("content-type")
    );
    let track = track.text().await?;
    ensure!(track.starts_with("WEBVTT"), "{track}");
    // A 20 s clip, a tile every 2 s: ten cues, all on the first sheet.
    ensure!(track.matches(" --> ").count() == 10, "{track}");
    let sheet = track
        .lines()
        .find_map(|line| line.split_once("#xywh=").map(|(uri, _)| uri))
        .context("no sheet in the storyboard")?;
    let sheet_url = reqwest::Url::parse(storyboard_url)?.join(sheet)?;
    let sheet = app.http.get(sheet_url).send().await?;
    ensure!(sheet.status() == 200, "sheet: {}", sheet.status());

    watch_in_chromium(&app, &id).await?;
    play_in_three_players(&app, &master_url).await?;
    app.stop().await
}

/// Downloads the master playlist, each rendition playlist and every file they list into
/// `out`, checking statuses and Content-Types; returns the rendition playlists' paths. The
/// local copy of each rendition playlist lists the downloaded files by name, whether the
/// served one lists them relatively (a public video) or as signed URLs (a private one).
async fn fetch_stream(http: &reqwest::Client, master_url: &str, out: &Path) -> Result<Vec<String>> {
    let master_url = reqwest::Url::parse(master_url)?;
    let master = fetch(
        http,
        master_url.as_str(),
        "application/vnd.apple.mpegurl",
        &out.join("master.m3u8"),
    )
    .await?;
    let master = String::from_utf8(master)?;
    ensure!(
        master.contains("#EXT-X-STREAM-INF"),
        "not a master playlist: {master}"
    );
    // One audio rendition, in a group every variant plays; the audio-only variant last.
    ensure!(
        master.matches("#EXT-X-MEDIA:TYPE=AUDIO").count() == 1
            && master.matches("#EXT-X-STREAM-INF").count() == master.matches("AUDIO=").count()
            && master.trim_end().ends_with("audio/index.m3u8"),
        "the shared audio: {master}"
    );
    let signed = master_url.path().starts_with("/api/v1/playback/");
    let mut playlists = Vec::new();
    let mut listed = uris(&master);
    // The audio playlist is both the group's rendition and the audio-only variant.
    listed.sort();
    listed.dedup();
    for rendition in listed {
        let playlist_url = master_url.join(&rendition)?;
        let local = out.join(&rendition);
        let playlist = fetch(
            http,
            playlist_url.as_str(),
            "application/vnd.apple.mpegurl",
            &local,
        )
        .await?;
        let mut playlist = String::from_utf8(playlist)?;
        ensure!(
            playlist.contains("#EXT-X-ENDLIST"),
            "{rendition} is not final: {playlist}"
        );
        let dir = rendition.rsplit_once('/').map_or("", |(d, _)| d);
        for media in uris(&playlist) {
            let url = playlist_url.join(&media)?;
            // A private video's playlists list only signed storage URLs.
            ensure!(
                !signed || url.query().is_some_and(|q| q.contains("X-Amz-Signature=")),
                "{media} is not signed"
            );
            let name = url
                .path_segments()
                .and_then(|mut s| s.next_back())
                .context("file name")?
                .to_owned();
            let expected = if name.ends_with(".ts") {
                "video/mp2t"
            } else {
                "video/"
            };
            fetch(http, url.as_str(), expected, &out.join(dir).join(&name)).await?;
            playlist = playlist.replace(&media, &name);
        }
        tokio::fs::write(&local, &playlist).await?;
        playlists.push(rendition);
    }
    Ok(playlists)
}

/// URIs a playlist refers to: plain lines and `URI="..."` attributes (the fMP4 init section).
fn uris(playlist: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in playlist.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            if let Some(start) = rest.find("URI=\"") {
                let value = &rest[start + 5..];
                if let Some(end) = value.find('"') {
                    out.push(value[..end].to_owned());
                }
            }
        } else {
            out.push(line.to_owned());
        }
    }
    out
}

async fn fetch(
    http: &reqwest::Client,
    url: &str,
    content_type: &str,
    dest: &Path,
) -> Result<Vec<u8>> {
    let response = http.get(url).send().await?;
    if !response.status().is_success() {
        bail!("GET {url}: {}", response.status());
    }
    let got = vodnest_e2e::header(&response, "content-type");
    ensure!(
        got.starts_with(content_type),
        "GET {url}: Content-Type {got:?}, expected {content_type}"
    );
    let bytes = response.bytes().await?.to_vec();
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::write(dest, &bytes).await?;
    Ok(bytes)
}

/// Copies a local HLS rendition into one MP4 so ffprobe measures the media's own timestamps.
async fn remux(playlist: &Path, dest: &Path) -> Result<()> {
    let output = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-allowed_extensions",
            "ALL",
            "-i",
        ])
        .arg(playlist)
        .args(["-c", "copy"])
        .arg(dest)
        .kill_on_drop(true)
        .output()
        .await?;
    ensure!(
        output.status.success(),
        "remux {}: {}",
        playlist.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Runs the Playwright script that signs in, opens the watch page and waits for playback.
async fn watch_in_chromium(app: &TestApp, id: &str) -> Result<()> {
    let result =
        vodnest_e2e::browser::run(app, "watch.mjs", &["--video".as_ref(), id.as_ref()]).await?;
    // A 720p source gets the ladder's 720p, 480p and 360p; the menu offers them after "Auto".
    ensure!(
        result["qualities"].as_array().map(|q| q
            .iter()
            .skip(1)
            .map(|o| o.as_str().unwrap_or_default())
            .collect::<Vec<_>>())
            == Some(vec!["720p", "480p", "360p"]),
        "quality menu: {result}"
    );
    ensure!(result["switchedTo"] == 360, "switched to 360p: {result}");
    // Halfway through a 20 s clip: the tile of 10 s, the sixth on the first sheet.
    let preview = &result["storyboardPreview"];
    ensure!(
        preview["image"]
            .as_str()
            .is_some_and(|i| i.contains("storyboard/sheet_001.jpg")),
        "storyboard preview: {result}"
    );
    ensure!(preview["time"] == "0:10", "preview time: {result}");
    Ok(())
}

/// Plays the master playlist in hls.js, Shaka Player and video.js: each decodes audio from the
/// shared rendition and lists the audio-only variant.
async fn play_in_three_players(app: &TestApp, master_url: &str) -> Result<()> {
    let result = vodnest_e2e::browser::run(
        app,
        "players.mjs",
        &["--master".as_ref(), master_url.as_ref()],
    )
    .await?;
    let players = &result["players"];
    for name in ["hls.js", "shaka", "video.js"] {
        let got = &players[name];
        ensure!(
            got["audioOnlyListed"] == true && got["audioDecodedBytes"].as_u64() > Some(0),
            "{name}: {result}"
        );
    }
    // The sound comes from the audio group: one track, the master's.
    let tracks = players["hls.js"]["audioTracks"].as_array();
    ensure!(
        tracks.is_some_and(|t| t.len() == 1 && t[0]["group"] == "audio"),
        "hls.js audio tracks: {result}"
    );
    ensure!(
        players["shaka"]["activeAudioCodec"] == "mp4a.40.2",
        "Shaka: {result}"
    );
    ensure!(
        players["video.js"]["audioTracks"] == serde_json::json!(["Audio"]),
        "video.js audio tracks: {result}"
    );
    Ok(())
}
