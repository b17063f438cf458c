//! What an edit costs as the replay grows: a trim (`PATCH … trim`) writes a revision, reading
//! the master and every media playlist of the current version, cutting them and writing the cut
//! copies and a new master, under the video's edit lock. Measured on the core function the route
//! calls, against real Postgres and LocalStack, with synthetic playlists of a 10-minute and a
//! 4-hour video (four video rungs and the audio, 6 s segments): medians of `BENCH_RUNS` (5)
//! trims each, and the ratio 4 h / 10 min (24× the segments).
//! Run: `cargo bench -p vodnest-api --bench edits`.

use std::time::{Duration, Instant};

use anyhow::Result;
use sqlx::PgPool;
use vodnest_core::edits::{self, Span};
use vodnest_core::storage::Storage;
use vodnest_testkit::{TestDatabase, fake_video, storage_config};

const RUNGS: [&str; 4] = ["1080p", "720p", "480p", "360p"];
const PLAYLIST: &str = "application/vnd.apple.mpegurl";

fn media_playlist(segments: usize, audio: bool) -> String {
    let mut text = String::from(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:7\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init_0.mp4\"\n",
    );
    for i in 0..segments {
        // The audio's grid is a frame off the video's, as AAC frames fall.
        let d = if audio && i % 2 == 0 {
            6.016
        } else if audio {
            5.984
        } else {
            6.0
        };
        text.push_str(&format!("#EXTINF:{d:.6},\nseg_{i:05}.m4s\n"));
    }
    text.push_str("#EXT-X-ENDLIST\n");
    text
}

fn master() -> String {
    let mut text = String::from(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MEDIA:TYPE=AUDIO,\
         URI=\"audio/index.m3u8\",GROUP-ID=\"audio\",LANGUAGE=\"und\",NAME=\"Audio\",DEFAULT=YES,\
         AUTOSELECT=YES,CHANNELS=\"2\"\n",
    );
    for rung in RUNGS {
        text.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH=1000000,CODECS=\"avc1.640028,mp4a.40.2\",AUDIO=\"audio\"\n{rung}/index.m3u8\n"
        ));
    }
    text
}

/// A ready video whose version holds the playlists of `segments` segments per rendition.
async fn video(pool: &PgPool, storage: &Storage, segments: usize) -> Result<uuid::Uuid> {
    let (id, _) = fake_video(pool, false).await?;
    let prefix = format!("videos/{id}/signed/1/");
    let cache = "public, max-age=60";
    storage
        .put_media_bytes(
            &format!("{prefix}master.m3u8"),
            master().into_bytes(),
            PLAYLIST,
            cache,
        )
        .await?;
    for rung in RUNGS {
        let text = media_playlist(segments, false);
        storage
            .put_media_bytes(
                &format!("{prefix}{rung}/index.m3u8"),
                text.into_bytes(),
                PLAYLIST,
                cache,
            )
            .await?;
    }
    let text = media_playlist(segments, true);
    storage
        .put_media_bytes(
            &format!("{prefix}audio/index.m3u8"),
            text.into_bytes(),
            PLAYLIST,
            cache,
        )
        .await?;
    sqlx::query(
        "update videos set status = 'ready', playable = true, upload_id = null,
           media_prefix = $2, duration_s = $3 where id = $1",
    )
    .bind(id)
    .bind(&prefix)
    .bind(segments as f64 * 6.0)
    .execute(pool)
    .await?;
    Ok(id)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The median time of `runs` trims of the video of `segments` segments.
async fn trims(pool: &PgPool, storage: &Storage, segments: usize, runs: usize) -> Result<Duration> {
    let id = video(pool, storage, segments).await?;
    let length = segments as f64 * 6.0;
    let mut times = Vec::new();
    for run in 0..runs {
        let trim = Span {
            start_s: 30.0 + run as f64,
            end_s: length - 30.0,
        };
        let started = Instant::now();
        edits::set_trim(pool, storage, id, Some(trim)).await?;
        times.push(started.elapsed());
    }
    storage.delete_media(id).await?;
    Ok(median(times))
}

#[tokio::main]
async fn main() -> Result<()> {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let db = TestDatabase::create().await?;
    let pool = PgPool::connect(&db.url).await?;
    vodnest_core::db::MIGRATOR.run(&pool).await?;
    let storage = Storage::from_env(&storage_config()?).await;
    println!("runs per figure: {runs} (medians)");
    // Warm the connections and the client once.
    trims(&pool, &storage, 20, 1).await?;
    let short = trims(&pool, &storage, 100, runs).await?;
    let long = trims(&pool, &storage, 2400, runs).await?;
    println!("trim of a 10-minute video (5 playlists of 100 segments):  {short:?}");
    println!("trim of a 4-hour video (5 playlists of 2400 segments):    {long:?}");
    println!(
        "4 h / 10 min: {:.2} (segments: 24x)",
        long.as_secs_f64() / short.as_secs_f64()
    );
    pool.close().await;
    db.drop_database().await
}
