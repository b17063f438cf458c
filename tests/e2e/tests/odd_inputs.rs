//! Odd sources, generated at test time, through the real processor and LocalStack: each ends
//! `ready` and playable, or `failed` with a reason a person can read; none is left stuck.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use vodnest_core::storage::Storage;
use vodnest_e2e::{TestApp, TestDatabase, TestSettings, clip, storage_config};
use vodnest_testkit::{Look, eventually, stage_upload};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Ready,
    Failed,
    /// A damaged file may still hold enough to play; either end is fine, stuck is not.
    Either,
}

struct Case {
    name: &'static str,
    expect: Expect,
    path: PathBuf,
}

/// Every odd input, written into `dir`.
async fn make_cases(dir: &Path) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    let mut add = |name: &'static str, expect: Expect| {
        let path = dir.join(name);
        cases.push(Case {
            name,
            expect,
            path: path.clone(),
        });
        path
    };
    const LANDSCAPE: &str = "640x360";
    let x264_aac = ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"];

    let out = add("portrait.mp4", Expect::Ready);
    clip::make(&out, 4, "360x640", true, &x264_aac).await?;

    let out = add("no-audio.mp4", Expect::Ready);
    clip::make(&out, 4, LANDSCAPE, false, &x264_aac[..4]).await?;

    let out = add("ten-bit.mp4", Expect::Ready);
    let ten_bit = [&x264_aac[..], &["-pix_fmt", "yuv420p10le"]].concat();
    clip::make(&out, 4, LANDSCAPE, true, &ten_bit).await?;

    // Frames dropped irregularly, timestamps kept: a variable frame rate.
    let out = add("variable-rate.mp4", Expect::Ready);
    let vfr = ["-vf", "select='lt(mod(n\\,10)\\,6)'", "-fps_mode", "vfr"];
    clip::make(&out, 4, LANDSCAPE, true, &[&vfr[..], &x264_aac].concat()).await?;

    let out = add("matroska.mkv", Expect::Ready);
    clip::make(&out, 4, LANDSCAPE, true, &x264_aac).await?;

    let out = add("vp9.webm", Expect::Ready);
    clip::make(&out, 4, LANDSCAPE, true, &clip::VP9_OPUS).await?;

    let out = add("av1.mp4", Expect::Ready);
    clip::make(&out, 4, LANDSCAPE, true, &clip::AV1_AAC).await?;

    let out = add("quicktime.mov", Expect::Ready);
    clip::make(&out, 4, LANDSCAPE, true, &x264_aac).await?;

    // An MP4 cut in half loses its index (written last): not playable.
    let whole = dir.join("whole.mp4");
    clip::make(&whole, 4, LANDSCAPE, true, &x264_aac).await?;
    let bytes = tokio::fs::read(&whole).await?;
    let out = add("truncated.mp4", Expect::Either);
    tokio::fs::write(&out, &bytes[..bytes.len() / 2]).await?;

    // A zero-length file never reaches the processor: the API refuses `size_bytes: 0` (see
    // failures.rs), and the probe refuses an empty file (media::probe's unit tests).
    let out = add("random.mp4", Expect::Failed);
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    tokio::fs::write(&out, noise).await?;
    Ok(cases)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_inputs_end_ready_or_failed_with_a_reason() -> Result<()> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.processor.concurrency = 2;
    settings.processor.ladder = "360:600k,240:300k".parse().map_err(anyhow::Error::msg)?;
    let app = TestApp::spawn_with(db, settings).await?;
    let dir = tempfile::tempdir()?;
    let cases = make_cases(dir.path()).await?;
    let storage = Storage::from_env(&storage_config()?).await;
    let mut staged = Vec::new();
    for case in &cases {
        staged.push(
            stage_upload(&app.pool, &storage, &case.path)
                .await?
                .to_string(),
        );
    }

    // All of them within ten minutes: a guard against a hung test, not a performance limit.
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut problems = Vec::new();
    for (case, id) in cases.iter().zip(&staged) {
        let patience = deadline.saturating_duration_since(Instant::now());
        let v = eventually(case.name, patience, async || {
            let v = app.video(id).await?;
            Ok(if v["status"] == "ready" || v["status"] == "failed" {
                Look::Done(v)
            } else {
                Look::NotYet(format!("stuck: {v}"))
            })
        })
        .await?;
        let ready = v["status"] == "ready";
        eprintln!("{}: {} {}", case.name, v["status"], v["error"]);
        let fine = match case.expect {
            Expect::Ready => ready,
            Expect::Failed => !ready,
            Expect::Either => true,
        };
        if !fine {
            problems.push(format!(
                "{}: expected {:?}, got {v}",
                case.name, case.expect
            ));
            continue;
        }
        if ready {
            let renditions = v["renditions"].as_array().cloned().unwrap_or_default();
            ensure!(
                v["playable"] == true && !renditions.is_empty(),
                "{}: {v}",
                case.name
            );
            if case.name == "portrait.mp4" {
                let top = &renditions[0];
                ensure!(
                    top["height"].as_u64() > top["width"].as_u64(),
                    "portrait kept: {v}"
                );
            }
        } else {
            let error = v["error"].as_str().unwrap_or_default();
            ensure!(error.len() > 10, "{}: a readable reason: {v}", case.name);
            let (attempt,): (i32,) =
                sqlx::query_as("select attempt from jobs where video_id = $1::uuid")
                    .bind(id)
                    .fetch_one(&app.pool)
                    .await?;
            ensure!(
                attempt == 1,
                "{}: bad input is not retried ({attempt} attempts)",
                case.name
            );
        }
    }
    ensure!(problems.is_empty(), "{problems:#?}");
    app.stop().await
}
