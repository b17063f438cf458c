//! `vodnest upload --follow` against the real API, LocalStack (signatures checked), ffmpeg and
//! the processor: a recorder stand-in (ffmpeg writing Matroska at 4× real time from a small
//! pre-made clip) and the follower started together; parts go up while it records, the object
//! is the final file byte for byte (Matroska's header is rewritten at the end, so a part is
//! sent again), and the video plays. A file truncated while followed ends in a clear error
//! with nothing completed. `vodnest watch` uploads two recordings of a folder once each, and a
//! restart in the middle of the second resumes it; a file moved into the folder is seen at
//! once (inotify). With `--obs` (an OBS stand-in speaking obs-websocket 5), OBS's "recording
//! stopped" finishes a file its writer still holds open, after a connection lost and made
//! again; a wrong password stops the watcher at start.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr};
use vodnest_e2e::obs::{self, ObsStandIn};
use vodnest_e2e::{TestApp, TestDatabase, TestSettings, raw_object, recorder};
use vodnest_testkit::{Look, eventually};

fn vodnest(app: &TestApp, state_dir: &Path) -> tokio::process::Command {
    app.cli(env!("CARGO_BIN_EXE_vodnest"), state_dir)
}

/// The one video of the test's database, once the follower created it.
async fn the_video(app: &TestApp) -> Result<Option<String>> {
    let id = sqlx::query_scalar::<_, uuid::Uuid>("select id from videos")
        .fetch_optional(&app.pool)
        .await?;
    Ok(id.map(|id| id.to_string()))
}

/// The video made of the file `filename` and its status, once there is one.
async fn video_of(app: &TestApp, filename: &str) -> Result<Option<(String, String)>> {
    let row = sqlx::query_as::<_, (uuid::Uuid, String)>(
        "select id, status from videos where filename = $1",
    )
    .bind(filename)
    .fetch_optional(&app.pool)
    .await?;
    Ok(row.map(|(id, status)| (id.to_string(), status)))
}

/// Waits until the video of `filename` completed its upload; its id.
async fn uploaded(app: &TestApp, filename: &str) -> Result<String> {
    eventually(
        &format!("{filename} uploaded"),
        Duration::from_secs(120),
        async || {
            Ok(match video_of(app, filename).await? {
                Some((_, status)) if status == "failed" => bail!("{filename} failed"),
                Some((id, status)) if status != "awaiting_upload" => Look::Done(id),
                other => Look::NotYet(format!("{other:?}")),
            })
        },
    )
    .await
}

/// The S3 object of video `id` is `file`, byte for byte.
async fn same_bytes(id: &str, file: &Path) -> Result<()> {
    let local = tokio::fs::read(file).await?;
    let object = raw_object(id).await?;
    ensure!(
        Sha256::digest(&object) == Sha256::digest(&local),
        "the object ({} bytes) differs from {} ({} bytes)",
        object.len(),
        file.display(),
        local.len()
    );
    Ok(())
}

/// The sizes of the parts S3 holds for the video's upload, by part number (none before it
/// exists or after it ended).
async fn parts_in_s3(app: &TestApp, id: &str) -> Result<Vec<u64>> {
    let response = app
        .get(&format!("/api/v1/videos/{id}/upload"))
        .send()
        .await?;
    if !response.status().is_success() {
        return Ok(Vec::new());
    }
    let body: Value = response.json().await?;
    let mut parts: Vec<(u64, u64)> = body["parts_done"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| Some((p["part_number"].as_u64()?, p["size"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    parts.sort_unstable();
    Ok(parts.into_iter().map(|(_, size)| size).collect())
}

const MIB: u64 = 1024 * 1024;

/// An app whose growing uploads have parts of 6 MiB (10,000 of them make its largest upload),
/// so that the follower's first part, 5 MiB (S3's least: it goes again when the recorder
/// rewrites its header), is not the size of the others.
async fn app_with_6_mib_parts() -> Result<TestApp> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.api.max_upload_bytes = 10_000 * 6 * 1024 * 1024;
    TestApp::spawn_with(db, settings).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_is_uploaded_while_it_is_written() -> Result<()> {
    let app = app_with_6_mib_parts().await?;
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("source.mp4");
    // About 15 MB: parts of 5 and 6 MiB and a short last one.
    recorder::make_source(&source, 60).await?;
    let recording = dir.path().join("live.mkv");

    // The recorder and the follower start at the same moment (the follower waits for the file).
    let mut ffmpeg = recorder::record(&source, &recording)?;
    let follower = vodnest(&app, &dir.path().join("state"))
        .args([
            "--json",
            "upload",
            "--follow",
            "--quiet-period",
            "60",
            "--wait",
        ])
        .arg(&recording)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;

    // While the recorder runs, look at the parts S3 already holds.
    let mut parts_while_recording = Vec::new();
    let recorded = loop {
        tokio::select! {
            status = ffmpeg.wait() => break status?,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        if let Some(id) = the_video(&app).await? {
            let parts = parts_in_s3(&app, &id).await?;
            if parts.len() > parts_while_recording.len() {
                parts_while_recording = parts;
            }
        }
    };
    ensure!(recorded.success(), "the recorder failed: {recorded}");
    ensure!(
        !parts_while_recording.is_empty(),
        "no part went up while recording"
    );
    let whole = [5 * MIB, 6 * MIB, 6 * MIB];
    ensure!(
        whole.starts_with(&parts_while_recording),
        "the parts sent while recording were {parts_while_recording:?} bytes, not {whole:?}"
    );

    let output = follower.wait_with_output().await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.success(), "the follower failed: {stderr}");
    let out: Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("JSON from the follower; stderr: {stderr}"))?;
    ensure!(out["parts_sent_while_growing"].as_u64() > Some(0), "{out}");
    // ffmpeg rewrote the Matroska header (sizes, seek head) when it stopped.
    ensure!(out["parts_resent"].as_u64() >= Some(1), "{out}");
    ensure!(out["status"] == "ready", "{out}");
    let id = out["video_id"].as_str().context("video_id")?;

    same_bytes(id, &recording).await?;
    let video = app.video(id).await?;
    ensure!(
        video["size_bytes"] == tokio::fs::metadata(&recording).await?.len(),
        "{video}"
    );
    ensure!(video["playable"] == true, "{video}");
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_truncated_while_followed_ends_in_an_error() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let recording = dir.path().join("live.mkv");
    // More than one 5 MiB part, written and left open as a recorder would.
    let file = std::fs::File::create(&recording)?;
    file.set_len(6 * 1024 * 1024)?;
    let follower = vodnest(&app, &dir.path().join("state"))
        .args(["upload", "--follow", "--quiet-period", "60"])
        .arg(&recording)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let id = eventually(
        "the first part in S3",
        Duration::from_secs(60),
        async || {
            let Some(id) = the_video(&app).await? else {
                return Ok(Look::NotYet("no video yet".into()));
            };
            Ok(match parts_in_s3(&app, &id).await?.len() {
                0 => Look::NotYet("no part yet".into()),
                _ => Look::Done(id),
            })
        },
    )
    .await?;
    file.set_len(1024 * 1024)?;
    drop(file);

    let output = follower.wait_with_output().await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(!output.status.success(), "the follower succeeded: {stderr}");
    ensure!(stderr.contains("truncated"), "the error says why: {stderr}");
    let video = app.video(&id).await?;
    ensure!(video["status"] == "failed", "nothing completed: {video}");
    let (jobs,): (i64,) = sqlx::query_as("select count(*) from jobs")
        .fetch_one(&app.pool)
        .await?;
    if jobs != 0 {
        bail!("{jobs} jobs enqueued for a truncated recording");
    }
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_folder_uploads_each_recording_once_across_a_restart() -> Result<()> {
    // The restart resumes a first part shorter than the others.
    let app = app_with_6_mib_parts().await?;
    let dir = tempfile::tempdir()?;
    let (short, long) = (dir.path().join("short.mp4"), dir.path().join("long.mp4"));
    recorder::make_source(&short, 20).await?;
    recorder::make_source(&long, 60).await?;
    let folder = dir.path().join("recordings");
    tokio::fs::create_dir(&folder).await?;
    let state = dir.path().join("state");
    let watcher = || {
        vodnest(&app, &state)
            .args([
                "watch",
                "--title",
                "Stream {stem}",
                "--visibility",
                "unlisted",
            ])
            .args(["--quiet-period", "30"])
            .arg(&folder)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    };
    let mut first = watcher()?;

    // One recording, start to end.
    let one = folder.join("one.mkv");
    ensure!(
        recorder::record(&short, &one)?.wait().await?.success(),
        "recorder one"
    );
    let one_id = uploaded(&app, "one.mkv").await?;

    // A second one; the watcher restarts once a part of it went up.
    let two = folder.join("two.mkv");
    let mut ffmpeg = recorder::record(&long, &two)?;
    eventually(
        "a part of two.mkv in S3",
        Duration::from_secs(60),
        async || {
            Ok(match video_of(&app, "two.mkv").await? {
                Some((id, _)) if !parts_in_s3(&app, &id).await?.is_empty() => Look::Done(()),
                other => Look::NotYet(format!("{other:?}")),
            })
        },
    )
    .await?;
    // A crash (SIGKILL), not a stop: nothing of the watcher's own clean-up runs.
    first.start_kill()?;
    first.wait().await?;
    let second = watcher()?;
    ensure!(ffmpeg.wait().await?.success(), "recorder two");
    let two_id = uploaded(&app, "two.mkv").await?;
    stop(second).await?;

    let videos = video_count(&app).await?;
    ensure!(videos == 2, "each recording uploaded once: {videos} videos");
    same_bytes(&one_id, &one).await?;
    same_bytes(&two_id, &two).await?;
    let video = app.video(&two_id).await?;
    ensure!(video["title"] == "Stream two", "{video}");
    ensure!(video["visibility"] == "unlisted", "{video}");
    app.stop().await
}

/// Reads the watcher's stderr until it says it is watching (its inotify watch is set), then
/// keeps reading it in the background (so the pipe never fills); the lines read meanwhile.
async fn until_watching(stderr: ChildStderr) -> Result<Vec<String>> {
    let mut lines = BufReader::new(stderr).lines();
    let mut said = Vec::new();
    let watching = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            let watching = line.starts_with("watching ");
            said.push(line);
            if watching {
                return Ok(());
            }
        }
        bail!("the watcher ended")
    });
    watching
        .await
        .context("the watcher did not start")?
        .with_context(|| said.join("\n"))?;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(said)
}

/// The number of videos of the test's database.
async fn video_count(app: &TestApp) -> Result<i64> {
    Ok(sqlx::query_scalar("select count(*) from videos")
        .fetch_one(&app.pool)
        .await?)
}

/// Stops the watcher as systemd does (SIGTERM): it must end by itself, with 143.
async fn stop(mut watcher: Child) -> Result<()> {
    let pid = watcher.id().context("the watcher already ended")?;
    let sent = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await?;
    ensure!(sent.success(), "kill -TERM {pid} failed");
    let status = tokio::time::timeout(Duration::from_secs(30), watcher.wait()).await??;
    ensure!(
        status.code() == Some(143),
        "the watcher ended with {status}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_moved_into_a_watched_folder_is_seen_at_once() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let folder = dir.path().join("recordings");
    tokio::fs::create_dir(&folder).await?;
    // A finished recording, made beside the folder.
    let made = dir.path().join("made.mp4");
    recorder::make_source(&made, 10).await?;
    let mut watcher = vodnest(&app, &dir.path().join("state"))
        .args(["watch", "--quiet-period", "2"])
        .arg(&folder)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    until_watching(watcher.stderr.take().context("stderr")?).await?;

    let moved = folder.join("moved.mp4");
    tokio::fs::rename(&made, &moved).await?;
    let renamed = Instant::now();
    eventually(
        "a video for moved.mp4",
        Duration::from_secs(20),
        async || {
            Ok(match video_of(&app, "moved.mp4").await? {
                Some(_) => Look::Done(()),
                None => Look::NotYet("none yet".into()),
            })
        },
    )
    .await?;
    // The slow listing comes every 30 s: only inotify can have seen it this soon.
    ensure!(
        renamed.elapsed() < Duration::from_secs(20),
        "moved.mp4 was seen after {:?}",
        renamed.elapsed()
    );
    let id = uploaded(&app, "moved.mp4").await?;
    same_bytes(&id, &moved).await?;
    ensure!(video_count(&app).await? == 1, "one video");
    stop(watcher).await?;
    app.stop().await
}

/// Appends `bytes` to `file` half a MiB at a time, ten times a second.
async fn write_slowly(file: &mut std::fs::File, bytes: &[u8]) -> Result<()> {
    for chunk in bytes.chunks(512 * 1024) {
        file.write_all(chunk)?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn obs_saying_the_recording_stopped_finishes_its_file_at_once() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("source.mp4");
    // About 7.5 MB: two 5 MiB parts of the test API's growing plan.
    recorder::make_source(&source, 30).await?;
    let bytes = tokio::fs::read(&source).await?;
    let folder = dir.path().join("recordings");
    tokio::fs::create_dir(&folder).await?;
    let mut obs = ObsStandIn::start().await?;
    // A quiet period far longer than the test: it cannot be what finishes the file.
    let watcher = vodnest(&app, &dir.path().join("state"))
        .args(["watch", "--quiet-period", "600", "--obs", &obs.url])
        .env("VODNEST_OBS_PASSWORD", obs::PASSWORD)
        .arg(&folder)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    obs.clients(|c| c.identified == 1 || c.refused > 0).await?;

    // "OBS" creates its file in the folder, says so, and writes it; the file stays open, so
    // inotify sees no close of it either.
    let name = "2026-11-30 20-00-00.mkv";
    let recording = folder.join(name);
    let mut file = std::fs::File::create(&recording)?;
    obs.record_started(&recording)?;
    let (first_half, second_half) = bytes.split_at(bytes.len() / 2);
    write_slowly(&mut file, first_half).await?;
    // OBS goes away for a moment: the watcher connects again, and the file is still followed.
    obs.drop_client()?;
    obs.clients(|c| c.identified == 2).await?;
    write_slowly(&mut file, second_half).await?;
    let id = eventually(
        "a part of the recording in S3",
        Duration::from_secs(60),
        async || {
            Ok(match video_of(&app, name).await? {
                Some((id, _)) if !parts_in_s3(&app, &id).await?.is_empty() => Look::Done(id),
                other => Look::NotYet(format!("{other:?}")),
            })
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let video = app.video(&id).await?;
    ensure!(
        video["status"] == "awaiting_upload",
        "not finished before the stop: {video}"
    );
    obs.record_stopped(&recording)?;
    let stopped = Instant::now();
    ensure!(uploaded(&app, name).await? == id, "the same video");
    ensure!(
        stopped.elapsed() < Duration::from_secs(60),
        "finished {:?} after the stop",
        stopped.elapsed()
    );
    drop(file);

    same_bytes(&id, &recording).await?;
    // The folder's inotify watch and OBS both named the file: it went up once.
    ensure!(video_count(&app).await? == 1, "one video");
    let clients = obs.clients(|_| true).await?;
    ensure!(clients.refused == 0, "{clients:?}");
    stop(watcher).await?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_obs_password_stops_the_watcher_at_start() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut obs = ObsStandIn::start().await?;
    // No API is needed to fail: the watcher checks OBS before it uploads anything.
    let watcher = tokio::process::Command::new(env!("CARGO_BIN_EXE_vodnest"))
        .args(["--api", "http://127.0.0.1:9", "watch", "--obs", &obs.url])
        .arg(dir.path())
        .env("VODNEST_TOKEN", "unused")
        .env("VODNEST_STATE_DIR", dir.path().join("state"))
        .env("VODNEST_OBS_PASSWORD", "not the password")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let output = tokio::time::timeout(Duration::from_secs(30), watcher.wait_with_output())
        .await
        .context("the watcher kept running")??;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(!output.status.success(), "the watcher succeeded: {stderr}");
    ensure!(
        stderr.contains("authentication failed"),
        "the error names the cause: {stderr}"
    );
    ensure!(!stderr.contains("not the password"), "{stderr}");
    let clients = obs.clients(|c| c.refused > 0).await?;
    ensure!(clients.identified == 0, "{clients:?}");
    Ok(())
}
