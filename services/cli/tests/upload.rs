//! `vodnest upload` against the real API, LocalStack (signatures checked) and processor: a run
//! killed mid-upload is resumed by the next run, which sends only the missing parts, and
//! `--wait` ends with the video ready.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use vodnest_e2e::{TestApp, clip};
use vodnest_testkit::{Look, eventually};

fn vodnest(app: &TestApp, state_dir: &std::path::Path) -> tokio::process::Command {
    app.cli(env!("CARGO_BIN_EXE_vodnest"), state_dir)
}

/// The parts S3 holds for the upload, as the API reports them.
async fn parts_done(app: &TestApp, id: &str) -> Result<usize> {
    let response = app
        .get(&format!("/api/v1/videos/{id}/upload"))
        .send()
        .await?;
    let body: Value = response.json().await?;
    let (part_size, part_count) = (body["part_size"].as_u64(), body["part_count"].as_u64());
    let size_bytes = app.video(id).await?["size_bytes"].as_u64();
    let (Some(part_size), Some(part_count), Some(size_bytes)) = (part_size, part_count, size_bytes)
    else {
        bail!("an upload status without its sizes: {body}");
    };
    // Only whole parts count: a PUT cut off by the kill may leave a short part listed, which
    // the resume rightly sends again.
    let whole = |part: &Value| {
        let n = part["part_number"].as_u64().unwrap_or(0);
        let expected = if n < part_count {
            part_size
        } else {
            size_bytes - part_size * (part_count - 1)
        };
        part["size"].as_u64() == Some(expected)
    };
    Ok(body["parts_done"]
        .as_array()
        .map_or(0, |parts| parts.iter().filter(|p| whole(p)).count()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_resumes_with_only_the_missing_parts() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let state_dir = dir.path().join("state");
    let file = dir.path().join("replay.mp4");
    // About 20 MB: four 5 MiB parts at the test API's minimum part size.
    clip::make_clip(&file, 20, "7M").await?;
    let size = tokio::fs::metadata(&file).await?.len();

    // First run: one part at a time, slowly, killed once two parts are in S3.
    let mut first = vodnest(&app, &state_dir)
        .args([
            "upload",
            "--parallel",
            "1",
            "--limit-rate",
            "3M",
            "--title",
            "replay",
        ])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let id = eventually("two parts in S3", Duration::from_secs(30), async || {
        if let Some(status) = first.try_wait()? {
            bail!("the first run ended by itself ({status}) before it could be interrupted");
        }
        let id = sqlx::query_scalar::<_, uuid::Uuid>("select id from videos")
            .fetch_optional(&app.pool)
            .await?;
        let Some(id) = id.map(|id| id.to_string()) else {
            return Ok(Look::NotYet("no video yet".into()));
        };
        Ok(match parts_done(&app, &id).await? {
            done if done >= 2 => Look::Done(id),
            done => Look::NotYet(format!("{done} parts in S3")),
        })
    })
    .await?;
    first.start_kill()?;
    first.wait().await?;
    let kept = parts_done(&app, &id).await?;
    let (part_count,): (i32,) = sqlx::query_as("select part_count from videos where id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await?;
    ensure!(
        part_count >= 4,
        "the clip spans several parts: {part_count}"
    );
    ensure!(
        kept >= 2 && kept < part_count as usize,
        "interrupted mid-way: {kept} of {part_count}"
    );

    // Second run: resumes the same video, sends the rest, follows processing.
    let second = vodnest(&app, &state_dir)
        .args(["--json", "upload", "--wait"])
        .arg(&file)
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&second.stderr);
    ensure!(second.status.success(), "second run failed: {stderr}");
    let out: Value = serde_json::from_slice(&second.stdout)
        .with_context(|| format!("JSON from the second run; stderr: {stderr}"))?;
    ensure!(
        out["video_id"] == id.as_str(),
        "the same video resumed: {out}"
    );
    ensure!(out["parts_resumed"] == kept, "{out}");
    ensure!(
        out["parts_sent"] == part_count as usize - kept,
        "only the missing parts are sent: {out}"
    );
    ensure!(out["status"] == "ready", "--wait ends ready: {out}");
    ensure!(
        out["watch_url"].as_str().unwrap_or_default().ends_with(&id),
        "{out}"
    );
    let video = app.video(&id).await?;
    ensure!(video["size_bytes"] == size, "{video}");
    ensure!(stderr.contains("resuming"), "says it resumes: {stderr}");

    // The resume record is gone: another run starts a new video.
    let count: (i64,) = sqlx::query_as("select count(*) from videos")
        .fetch_one(&app.pool)
        .await?;
    ensure!(count.0 == 1, "one video");
    ensure!(
        std::fs::read_dir(&state_dir)?.next().is_none(),
        "the resume record is removed after completion"
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_refuses_empty_files_and_missing_tokens() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let empty = dir.path().join("empty.mp4");
    tokio::fs::write(&empty, b"").await?;
    let output = vodnest(&app, dir.path())
        .args(["upload"])
        .arg(&empty)
        .output()
        .await?;
    ensure!(!output.status.success(), "an empty file is refused");
    ensure!(
        String::from_utf8_lossy(&output.stderr).contains("empty"),
        "{output:?}"
    );
    let output = vodnest(&app, dir.path())
        .env_remove("VODNEST_TOKEN")
        .args(["upload"])
        .arg(&empty)
        .output()
        .await?;
    ensure!(
        String::from_utf8_lossy(&output.stderr).contains("token"),
        "{output:?}"
    );
    let output = vodnest(&app, dir.path())
        .env("VODNEST_TOKEN", "wrong")
        .args(["upload"])
        .arg(dir.path().join("missing.mp4"))
        .output()
        .await?;
    ensure!(!output.status.success(), "{output:?}");
    app.stop().await
}
