//! Instant clips of a 4-hour replay: request → `ready` (the 201 answer is the ready clip), for
//! clips of 1 minute, 1 hour and the whole 4 hours; medians of `BENCH_RUNS` (default 5). Then a
//! precise 60 s clip against an instant one of the same range of a real 720p upload: wall time
//! to `ready` and CPU seconds (this process, which runs the API and the processor, and its
//! ffmpeg children).
//!
//! An instant clip reads and writes playlists only, never a segment, so the parent here is a
//! 4-hour replay's playlists as the split bench's replay has them (a master, three video
//! renditions and the audio, 2,400 segments of 6 s each) published on a `ready` video row;
//! its segments are not made. No processor runs (the clips' poster jobs wait in the queue).
//! Run: `cargo bench -p vodnest-e2e --bench clips`.

use std::time::Instant;

use anyhow::{Result, ensure};
use serde_json::json;
use uuid::Uuid;
use vodnest_core::storage::{MediaClass, Storage, version_prefix};
use vodnest_e2e::{TestApp, TestSettings, storage_config};
use vodnest_testkit::TestDatabase;

#[path = "../../../services/processor/benches/common/mod.rs"]
#[allow(dead_code)]
mod common;

const HOURS: f64 = 4.0;
const SEGMENT_S: f64 = 6.0;
const RENDITIONS: [(&str, u32, u32, u64); 3] = [
    ("720p", 1280, 720, 3_000_000),
    ("480p", 854, 480, 1_400_000),
    ("360p", 640, 360, 800_000),
];

fn media_playlist(segments: usize) -> String {
    let mut text = String::from(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n\
         #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init_0.mp4\"\n",
    );
    for i in 0..segments {
        text.push_str(&format!("#EXTINF:{SEGMENT_S:.6},\nseg_{i:05}.m4s\n"));
    }
    text.push_str("#EXT-X-ENDLIST\n");
    text
}

fn master() -> String {
    let mut text = String::from(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Audio\",LANGUAGE=\"und\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio/index.m3u8\"\n",
    );
    for (name, w, h, bw) in RENDITIONS {
        text.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={bw},CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION={w}x{h},AUDIO=\"audio\"\n{name}/index.m3u8\n"
        ));
    }
    text.push_str("#EXT-X-STREAM-INF:BANDWIDTH=140800,CODECS=\"mp4a.40.2\",AUDIO=\"audio\"\naudio/index.m3u8\n");
    text
}

/// A `ready` 4-hour video of the admin's, its playlists published in the public class.
async fn replay(app: &TestApp, storage: &Storage) -> Result<Uuid> {
    let id = Uuid::now_v7();
    let prefix = version_prefix(id, MediaClass::Public, 1);
    let segments = (HOURS * 3600.0 / SEGMENT_S) as usize;
    let playlist = media_playlist(segments);
    let names = RENDITIONS.iter().map(|r| r.0).chain(["audio"]);
    for name in names {
        storage
            .put_media_bytes(
                &format!("{prefix}{name}/index.m3u8"),
                playlist.clone().into_bytes(),
                "application/vnd.apple.mpegurl",
                "public, max-age=60",
            )
            .await?;
    }
    storage
        .put_media_bytes(
            &format!("{prefix}master.m3u8"),
            master().into_bytes(),
            "application/vnd.apple.mpegurl",
            "public, max-age=60",
        )
        .await?;
    let renditions =
        json!(RENDITIONS
        .iter()
        .map(|(name, w, h, bw)| json!({"name": name, "width": w, "height": h, "bandwidth": bw}))
        .collect::<Vec<_>>());
    sqlx::query(
        "insert into videos (id, title, filename, content_type, size_bytes, part_size, part_count,
             upload_expires_at, owner_id, status, progress, playable, duration_s, width, height,
             renditions, media_prefix, media_versions, visibility)
         values ($1, 'four hours', 'replay.mp4', 'video/mp4', 2900000000, 1, 1, now(),
             (select id from users where username = 'admin'), 'ready', 1,
             true, $2, 1280, 720, $3, $4, 1, 'public')",
    )
    .bind(id)
    .bind(HOURS * 3600.0)
    .bind(renditions)
    .bind(&prefix)
    .execute(&app.pool)
    .await?;
    Ok(id)
}

#[tokio::main]
async fn main() -> Result<()> {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    let app = TestApp::spawn_with(db, settings).await?;
    let storage = Storage::from_env(&storage_config()?).await;
    let parent = replay(&app, &storage).await?;
    println!(
        "instant clips of a {HOURS}-hour replay (3 renditions + audio, 2,400 segments each), {runs} runs per length"
    );
    let whole = HOURS * 3600.0;
    for (label, start, end) in [
        ("1 min", 1800.0, 1860.0),
        ("1 h", 3600.0, 7200.0),
        ("4 h", 0.0, whole),
    ] {
        let mut took = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            let response = app
                .post(
                    &format!("/api/v1/videos/{parent}/clips"),
                    &json!({"start_s": start, "end_s": end}),
                )
                .send()
                .await?;
            let status = response.status();
            let body: serde_json::Value = response.json().await?;
            took.push(started.elapsed().as_secs_f64());
            ensure!(
                status == 201 && body["video"]["status"] == "ready",
                "{status} {body}"
            );
        }
        println!(
            "  {label:>5}: request → ready median {:.3} s (min {:.3}, max {:.3})",
            common::median(took.clone()),
            took.iter().copied().fold(f64::INFINITY, f64::min),
            took.iter().copied().fold(0.0, f64::max)
        );
    }
    app.stop().await?;
    precise_against_instant(runs).await
}

/// CPU seconds of this process and its waited-for children.
fn cpu() -> f64 {
    common::cpu_seconds(std::process::id()).map_or(f64::NAN, |(own, children)| own + children)
}

async fn precise_against_instant(runs: usize) -> Result<()> {
    let db = TestDatabase::create().await?;
    let settings = TestSettings::new(&db)?;
    let app = TestApp::spawn_with(db, settings).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("replay.mp4");
    common::make_source(&path, 150, "1280x720", "2500k").await?;
    let (parent, _, video) = app
        .upload_until_settled(&path, "720p", std::time::Duration::from_secs(900))
        .await?;
    ensure!(video["status"] == "ready", "{video}");
    println!("a 60 s clip of a 150 s 1280x720 30 fps upload (fast path), {runs} runs each:");
    for precise in [false, true] {
        let (mut walls, mut cpus, mut all_cpus) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let (cpu0, started) = (cpu(), Instant::now());
            let response = app
                .post(
                    &format!("/api/v1/videos/{parent}/clips"),
                    &json!({"start_s": 45.0, "end_s": 105.0, "precise": precise}),
                )
                .send()
                .await?;
            let body: serde_json::Value = response.json().await?;
            let id = body["video"]["id"].as_str().unwrap_or_default().to_owned();
            vodnest_testkit::eventually(
                "the clip ready",
                std::time::Duration::from_secs(900),
                async || {
                    let video = app.video(&id).await?;
                    Ok(match video["status"].as_str() {
                        Some("ready") => vodnest_testkit::Look::Done(()),
                        Some("failed") => anyhow::bail!("{video}"),
                        _ => vodnest_testkit::Look::NotYet(video["status"].to_string()),
                    })
                },
            )
            .await?;
            walls.push(started.elapsed().as_secs_f64());
            cpus.push(cpu() - cpu0);
            // The lower rungs (a precise clip's ladder job) and the poster: every job done.
            vodnest_testkit::eventually(
                "every job done",
                std::time::Duration::from_secs(900),
                async || {
                    let live: i64 = sqlx::query_scalar(
                        "select count(*) from jobs where state in ('queued', 'running')",
                    )
                    .fetch_one(&app.pool)
                    .await?;
                    Ok(if live == 0 {
                        vodnest_testkit::Look::Done(())
                    } else {
                        vodnest_testkit::Look::NotYet(format!("{live} jobs"))
                    })
                },
            )
            .await?;
            all_cpus.push(cpu() - cpu0);
        }
        println!(
            "  {:>8}: to ready median {:.2} s wall, {:.2} CPU s; {:.2} CPU s with its ladder and poster",
            if precise { "precise" } else { "instant" },
            common::median(walls),
            common::median(cpus),
            common::median(all_cpus)
        );
    }
    app.stop().await
}
