//! Signed playback's cost (not a test): a rendition playlist of a 4-hour video (2,400 six-second
//! segments) fetched through the API's signed path, where every segment URI is rewritten to a
//! presigned storage URL, against the same playlist read plainly from storage (a public
//! video's path) as the baseline, in the same run. The first fetch of a version in an expiry
//! window rewrites the playlist (one S3 GET, 2,400 presigns); later ones in the window are
//! served from the API's cache.
//! Target: a cached fetch within 2× the plain one.
//!
//! Run: `eval "$(./dev env)" && cargo bench -p vodnest-api --bench playback`
//! (`BENCH_RUNS`, default 5: videos, each fetched once uncached and `PER_VIDEO` times cached).

mod common;

/// As the API runs by default: metrics on, traces off.
const METRICS_ONLY: common::Telemetry = common::Telemetry {
    metrics: true,
    otlp_endpoint: None,
};

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use uuid::Uuid;
use vodnest_core::storage::{MediaClass, Storage, version_prefix};
use vodnest_testkit::{TestDatabase, fake_video, storage_config};

use common::{median, ms, percentile};

const SEGMENTS: usize = 2400;
const PER_VIDEO: usize = 50;

fn playlist() -> String {
    let mut text = String::from(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n",
    );
    for n in 0..SEGMENTS {
        text.push_str(&format!("#EXTINF:6.000000,\nseg_{n:05}.m4s\n"));
    }
    text.push_str("#EXT-X-ENDLIST\n");
    text
}

async fn timed_get(http: &reqwest::Client, url: &str) -> Result<Duration> {
    let sent = Instant::now();
    let response = http.get(url).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    let took = sent.elapsed();
    ensure!(status.is_success(), "GET {url}: {status}");
    ensure!(body.len() > SEGMENTS * 10, "a short playlist from {url}");
    Ok(took)
}

/// A ready 4-hour private video whose current version holds the playlist.
async fn signed_video(pool: &sqlx::PgPool, storage: &Storage, text: &str) -> Result<Uuid> {
    let (id, _) = fake_video(pool, false).await?;
    let prefix = version_prefix(id, MediaClass::Signed, 1);
    put_playlist(storage, &prefix, text).await?;
    sqlx::query(
        "update videos set status = 'ready', playable = true, duration_s = 14400,
         media_prefix = $2 where id = $1",
    )
    .bind(id)
    .bind(&prefix)
    .execute(pool)
    .await?;
    Ok(id)
}

/// The rendition playlist's URL through the API's signed path, as its owner is given it.
async fn signed_url(http: &reqwest::Client, base: &str, token: &str, id: Uuid) -> Result<String> {
    let video: serde_json::Value = http
        .get(format!("{base}/api/v1/videos/{id}"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let master = video["video"]["playback"]["hls_url"]
        .as_str()
        .context("no hls_url")?;
    Ok(master.replace("master.m3u8", "720p/index.m3u8"))
}

async fn put_playlist(storage: &Storage, prefix: &str, text: &str) -> Result<()> {
    storage
        .put_media_bytes(
            &format!("{prefix}720p/index.m3u8"),
            text.as_bytes().to_vec(),
            "application/vnd.apple.mpegurl",
            "public, max-age=3600",
        )
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let runs = common::runs(5);
    let db = TestDatabase::create().await?;
    let pool = sqlx::PgPool::connect(&db.url).await?;
    vodnest_core::db::MIGRATOR.run(&pool).await?;
    let storage = Storage::from_env(&storage_config()?).await;
    let admin_token = vodnest_core::auth::new_secret();
    let mut api = common::start_api(&db.url, &admin_token, &METRICS_ONLY).await?;
    let base = api.base();
    let http = reqwest::Client::new();
    let text = playlist();

    // The baseline: the same playlist read plainly from storage, as a public video's is.
    let public = version_prefix(Uuid::now_v7(), MediaClass::Public, 1);
    put_playlist(&storage, &public, &text).await?;
    let plain_url = format!("{}/{public}720p/index.m3u8", storage.media_base_url());
    timed_get(&http, &plain_url).await?;

    let mut ids = Vec::new();
    for _ in 0..runs {
        ids.push(signed_video(&pool, &storage, &text).await?);
    }
    let token = common::creator_key(&pool, &ids).await?;

    println!(
        "a {SEGMENTS}-segment rendition playlist, {runs} videos, {PER_VIDEO} cached fetches each"
    );
    let (mut plain, mut first, mut cached) = (Vec::new(), Vec::new(), Vec::new());
    let mut all_hits = Vec::new();
    for (run, id) in ids.iter().enumerate() {
        let url = signed_url(&http, &base, &token, *id).await?;
        let rewrite = ms(timed_get(&http, &url).await?);
        let mut hits = Vec::new();
        let mut reads = Vec::new();
        for _ in 0..PER_VIDEO {
            let hit = timed_get(&http, &url).await?;
            all_hits.push(hit);
            hits.push(ms(hit));
            reads.push(ms(timed_get(&http, &plain_url).await?));
        }
        let (hit, read) = (median(hits), median(reads));
        println!(
            "  video {run}: first (rewrite) {rewrite:.2} ms, cached {hit:.2} ms, plain {read:.2} ms"
        );
        first.push(rewrite);
        cached.push(hit);
        plain.push(read);
    }
    all_hits.sort();
    println!("cached p99 {:.2} ms", ms(percentile(&all_hits, 0.99)));
    let (first, cached, plain) = (median(first), median(cached), median(plain));
    println!(
        "medians: plain {plain:.2} ms, signed first {first:.2} ms, signed cached {cached:.2} ms"
    );
    println!(
        "  signed / plain: first x{:.1}, cached x{:.2}   (target cached <= x2)",
        first / plain,
        cached / plain
    );
    if let Some(kib) = api.peak_rss_kib() {
        println!("API peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
    api.process.start_kill()?;
    let _ = api.process.wait().await;
    storage.delete_media_prefix(&public).await?;
    pool.close().await;
    db.drop_database().await
}
