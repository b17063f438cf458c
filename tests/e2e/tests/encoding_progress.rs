//! Renditions still being made (`videos.encoding`, written by `encoding_progress::set_encoding`
//! as the processor does): the video object and the public read carry them, the CHECK refuses
//! a malformed value, websockets get `encoding` frames when they change and when they are
//! cleared, and the watch page and the library show them in Chromium, the watch page loading
//! the new master playlist once they are done. No processor runs: the test plays its part.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use uuid::Uuid;
use vodnest_core::encoding_progress::{Encoding, set_encoding};
use vodnest_core::storage::{MASTER_PLAYLIST, MediaClass, Storage, version_prefix};
use vodnest_e2e::ws::next_frame;
use vodnest_e2e::{TestApp, browser, expect_status};

use crate::accounts::app_without_processor;

/// A public video made `ready` at its top rendition, as the fast path leaves one (in Postgres:
/// the processor is not this test's subject).
async fn ready_public_video(app: &TestApp, renditions: &Value) -> Result<Uuid> {
    let body = json!({
        "title": "Replay", "filename": "replay.mp4", "size_bytes": 1000,
        "content_type": "video/mp4", "visibility": "public",
    });
    let created = expect_status(app.post("/api/v1/videos", &body).send().await?, 201).await?;
    let id: Uuid = created["video"]["id"].as_str().context("id")?.parse()?;
    sqlx::query(
        "update videos set status = 'ready', stage = null, progress = 1, playable = true,
           duration_s = 6, upload_id = null, renditions = $2, media_prefix = $3 where id = $1",
    )
    .bind(id)
    .bind(renditions)
    .bind(version_prefix(id, MediaClass::Public, 1))
    .execute(&app.pool)
    .await?;
    Ok(id)
}

fn rendition(name: &str, width: u32, height: u32, bandwidth: u64) -> Value {
    json!({"name": name, "width": width, "height": height, "bandwidth": bandwidth})
}

fn encoding(renditions: &[&str], progress: f64, eta_s: Option<u32>) -> Encoding {
    Encoding {
        renditions: renditions.iter().map(|&name| name.to_owned()).collect(),
        progress,
        eta_s,
    }
}

async fn public_video(app: &TestApp, id: Uuid) -> Result<Value> {
    let response = app
        .http
        .get(app.url(&format!("/api/v1/public/videos/{id}")))
        .send()
        .await?;
    Ok(expect_status(response, 200).await?["video"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_video_object_and_the_public_read_carry_the_encoding() -> Result<()> {
    let app = app_without_processor().await?;
    let top = json!([rendition("720p", 1280, 720, 3_000_000)]);
    let id = ready_public_video(&app, &top).await?;
    let video = app.video(&id.to_string()).await?;
    ensure!(video["encoding"].is_null(), "{video}");

    // Out-of-range progress is clamped on the way in.
    let making = encoding(&["480p", "360p"], 1.7, Some(360));
    set_encoding(&app.pool, id, Some(&making)).await?;
    let expected = json!({"renditions": ["480p", "360p"], "progress": 1.0, "eta_s": 360});
    for (read, video) in [
        ("GET", app.video(&id.to_string()).await?),
        ("public GET", public_video(&app, id).await?),
    ] {
        ensure!(video["encoding"] == expected, "{read}: {video}");
        // Still ready, and only what exists is listed.
        ensure!(
            video["status"] == "ready" && video["renditions"] == top,
            "{read}: {video}"
        );
    }
    let listed = expect_status(app.get("/api/v1/videos").send().await?, 200).await?;
    ensure!(
        listed["videos"][0]["encoding"] == expected,
        "the list carries it too: {listed}"
    );

    // Unknown ETA.
    set_encoding(&app.pool, id, Some(&encoding(&["480p"], 0.42, None))).await?;
    let video = public_video(&app, id).await?;
    ensure!(
        video["encoding"] == json!({"renditions": ["480p"], "progress": 0.42, "eta_s": null}),
        "{video}"
    );

    // The column takes only the shape the API reads.
    for bad in [
        json!([1, 2]),
        json!({"renditions": "480p", "progress": 0.5}),
        json!({"renditions": [480], "progress": 0.5}),
        json!({"renditions": ["480p"], "progress": 2}),
        json!({"renditions": ["480p"]}),
        json!({"renditions": ["480p"], "progress": 0.5, "eta_s": "soon"}),
        json!({"renditions": ["x".repeat(3000)], "progress": 0.5}),
    ] {
        let refused = sqlx::query("update videos set encoding = $2 where id = $1")
            .bind(id)
            .bind(&bad)
            .execute(&app.pool)
            .await;
        ensure!(
            refused.is_err(),
            "the CHECK let {bad} through: the API could not read it back"
        );
    }

    set_encoding(&app.pool, id, None).await?;
    let video = app.video(&id.to_string()).await?;
    ensure!(video["encoding"].is_null(), "{video}");

    // The OpenAPI document describes the field and the frame.
    let doc = expect_status(app.get("/api/v1/openapi.json").send().await?, 200).await?;
    let schemas = &doc["components"]["schemas"];
    let fields = schemas["Encoding"]["properties"]
        .as_object()
        .context("an Encoding schema")?;
    ensure!(
        ["renditions", "progress", "eta_s"]
            .iter()
            .all(|f| fields.contains_key(*f)),
        "{fields:?}"
    );
    ensure!(
        schemas["VideoView"]["properties"]["encoding"].is_object(),
        "the video object documents encoding: {}",
        schemas["VideoView"]
    );
    let frames = schemas["EventFrame"].to_string();
    ensure!(frames.contains("\"encoding\""), "EventFrame: {frames}");
    ensure!(
        schemas["VideoEvent"]["properties"]
            .get("encoding")
            .is_none(),
        "status frames leave the encoding out: {}",
        schemas["VideoEvent"]
    );
    app.stop().await
}

/// Both sockets, the owner's and the public one: a snapshot with the encoding, then an
/// `encoding` frame (and no status frame) for each change of it alone, one for its clearing,
/// and status frames as before for other changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_get_an_encoding_frame_on_each_change_and_on_clear() -> Result<()> {
    let app = app_without_processor().await?;
    let top = json!([rendition("720p", 1280, 720, 3_000_000)]);
    let id = ready_public_video(&app, &top).await?;
    set_encoding(&app.pool, id, Some(&encoding(&["480p", "360p"], 0.1, None))).await?;
    let ws = app.api_url.replacen("http://", "ws://", 1);
    let urls = [
        app.events_url(&id.to_string()),
        format!("{ws}/api/v1/public/videos/{id}/events"),
    ];
    let mut sockets = Vec::new();
    for url in &urls {
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
        let snapshot = next_frame(&mut socket).await?;
        ensure!(
            snapshot["type"] == "snapshot"
                && snapshot["video"]["encoding"]
                    == json!({"renditions": ["480p", "360p"], "progress": 0.1, "eta_s": null}),
            "{url}: {snapshot}"
        );
        sockets.push(socket);
    }

    let steps = [
        Some(encoding(&["480p", "360p"], 0.5, Some(360))),
        Some(encoding(&["360p"], 0.75, Some(60))),
        None,
    ];
    for (n, step) in steps.iter().enumerate() {
        set_encoding(&app.pool, id, step.as_ref()).await?;
        let want = json!({"type": "encoding", "id": id, "encoding": step});
        for socket in &mut sockets {
            // The updates made before the socket opened may still be notified after its
            // snapshot, as status and encoding frames of their own; past those, each change
            // sends its encoding frame alone.
            let frame = if n == 0 {
                loop {
                    let frame = next_frame(socket).await?;
                    if frame == want {
                        break frame;
                    }
                }
            } else {
                next_frame(socket).await?
            };
            ensure!(frame == want, "step {n}: expected {want}, got {frame}");
        }
    }
    // Writing what is there changes nothing (no update, so no notification), and a change of
    // something else still sends a status frame, with no encoding frame.
    let updated_at = "select updated_at from videos where id = $1";
    let before: (time::OffsetDateTime,) = sqlx::query_as(updated_at)
        .bind(id)
        .fetch_one(&app.pool)
        .await?;
    set_encoding(&app.pool, id, None).await?;
    let after: (time::OffsetDateTime,) = sqlx::query_as(updated_at)
        .bind(id)
        .fetch_one(&app.pool)
        .await?;
    ensure!(before == after, "an unchanged encoding was written again");
    sqlx::query("update videos set title = 'Renamed' where id = $1")
        .bind(id)
        .execute(&app.pool)
        .await?;
    for socket in &mut sockets {
        let frame = next_frame(socket).await?;
        ensure!(
            frame["type"] == "status" && frame["status"] == "ready",
            "{frame}"
        );
        ensure!(
            frame.get("encoding").is_none(),
            "status frames keep their shape: {frame}"
        );
    }
    app.stop().await
}

/// A 6 s HLS ladder (720p, 480p, 360p; MPEG-TS segments) made with ffmpeg in `dir`.
async fn make_ladder(dir: &Path) -> Result<()> {
    let mut command = tokio::process::Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30:duration=6",
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=6"])
        .args([
            "-filter_complex",
            "[0:v]split=3[a][b][c];[b]scale=854:480[b2];[c]scale=640:360[c2]",
        ]);
    for (label, name) in [("[a]", "720p"), ("[b2]", "480p"), ("[c2]", "360p")] {
        let out = dir.join(name);
        tokio::fs::create_dir_all(&out).await?;
        command
            .args(["-map", label, "-map", "1:a"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "30"])
            .args(["-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k"])
            .args(["-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod"])
            .arg("-hls_segment_filename")
            .arg(out.join("segment%03d.ts"))
            .arg(out.join("index.m3u8"));
    }
    let output = command.kill_on_drop(true).output().await?;
    if !output.status.success() {
        bail!("ffmpeg: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// A master playlist of `renditions` (`[name, width, height, bandwidth]` objects).
fn master(renditions: &Value) -> Result<String> {
    let mut text = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
    for r in renditions.as_array().context("renditions")? {
        text.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={},RESOLUTION={}x{}\n{}/index.m3u8\n",
            r["bandwidth"],
            r["width"],
            r["height"],
            r["name"].as_str().context("name")?
        ));
    }
    Ok(text)
}

/// Uploads the ladder in `dir` under `prefix`, with a master that lists `renditions`.
async fn publish(storage: &Storage, dir: &Path, prefix: &str, renditions: &Value) -> Result<()> {
    for name in ["720p", "480p", "360p"] {
        let mut files = tokio::fs::read_dir(dir.join(name)).await?;
        while let Some(file) = files.next_entry().await? {
            let file_name = file.file_name().into_string().ok().context("file name")?;
            let content_type = if file_name.ends_with(".m3u8") {
                "application/vnd.apple.mpegurl"
            } else {
                "video/mp2t"
            };
            let key = format!("{prefix}{name}/{file_name}");
            storage
                .put_media_file(&key, &file.path(), content_type, "no-cache")
                .await?;
        }
    }
    storage
        .put_media_bytes(
            &format!("{prefix}{MASTER_PLAYLIST}"),
            master(renditions)?.into_bytes(),
            "application/vnd.apple.mpegurl",
            "no-cache",
        )
        .await?;
    Ok(())
}

/// The library shows the renditions being made and follows them live; the watch page shows
/// them, follows them, hides them once they are cleared and then plays the new master, whose
/// quality menu lists the added renditions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_show_renditions_being_made() -> Result<()> {
    let app = app_without_processor().await?;
    let top = json!([rendition("720p", 1280, 720, 3_000_000)]);
    let all = json!([
        rendition("720p", 1280, 720, 3_000_000),
        rendition("480p", 854, 480, 1_400_000),
        rendition("360p", 640, 360, 800_000)
    ]);
    let id = ready_public_video(&app, &top).await?;
    let dir = tempfile::tempdir()?;
    make_ladder(dir.path()).await?;
    let storage = Storage::from_env(&vodnest_e2e::storage_config()?).await;
    // Version 1 plays the top rung; version 2, which the ladder's end makes current, all three.
    let second = version_prefix(id, MediaClass::Public, 2);
    publish(
        &storage,
        dir.path(),
        &version_prefix(id, MediaClass::Public, 1),
        &top,
    )
    .await?;
    publish(&storage, dir.path(), &second, &all).await?;
    set_encoding(
        &app.pool,
        id,
        Some(&encoding(&["480p", "360p"], 0.1, Some(360))),
    )
    .await?;

    let all = all.to_string();
    let id = id.to_string();
    let result = browser::run(
        &app,
        "encoding.mjs",
        &[
            "--video".as_ref(),
            id.as_ref(),
            "--database-url".as_ref(),
            app.db.url.as_ref(),
            "--renditions".as_ref(),
            all.as_ref(),
            "--prefix".as_ref(),
            second.as_ref(),
        ],
    )
    .await?;
    ensure!(
        result["library"] == json!(["480p and 360p in ~6 min", "480p and 360p … 50 %"]),
        "{result}"
    );
    ensure!(
        result["watch"] == json!(["480p and 360p … 50 %", "480p and 360p in ~6 min", "hidden"]),
        "{result}"
    );
    ensure!(
        result["qualities"] == json!(["Auto", "720p", "480p", "360p"]),
        "{result}"
    );
    app.stop().await
}

/// The words the pages use (services/api/static/encoding.js and time.js), checked by Node's
/// test runner: every `tests/browser/*.test.mjs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_encoding_text_reads_right() -> Result<()> {
    let output = tokio::process::Command::new("node")
        .current_dir(vodnest_e2e::repo_root())
        .args(["--test", "tests/browser"])
        .kill_on_drop(true)
        .output()
        .await
        .context("running node (./dev installs it)")?;
    ensure!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
