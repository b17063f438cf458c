//! Split-and-stitch benchmarks (not tests): real ffmpeg, real LocalStack, processor processes.
//! Every figure is a median of `BENCH_RUNS` runs (default 3) measured in this one run, the
//! configurations interleaved so that a drift in the machine's speed stays out of the ratios.
//!
//! - `fleet`: a 10-minute 480p source the fast path refuses (keyframes 20 s apart), its full
//!   transcode run unsplit by one processor, split (2-minute chunks) by one, and split by two
//!   processor processes (one slot each): CPU of the split ÷ the unsplit encode (target
//!   <= 1.05), and wall time of two processors ÷ one (expected about 0.7 on 2 cores);
//! - `replay`: a 4-hour 720p fast-path replay (one encoded 10-minute clip joined 24 times with
//!   the concat demuxer and `-c copy`): claim → playable and claim → ready, then its ladder
//!   job split into chunks, of which the first `BENCH_REPLAY_CHUNKS` (default 6; 0: all) are
//!   run by one processor to measure the chunk rate, and the ladder's time modelled for N
//!   processors from it (README, "Long videos: split and stitch").
//!
//! Run: `eval "$(./dev env)" && cargo bench -p vodnest-processor --bench split`
//! (`BENCH_ONLY=fleet` or `replay` runs one section).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sqlx::PgPool;
use uuid::Uuid;
use vodnest_testkit::stage_upload;

mod common;
// Each bench uses part of it.
#[allow(dead_code)]
#[path = "common/fleet.rs"]
mod fleet;
use common::{Bench, make_source, make_source_with_gop, median, median_of, wanted};
use fleet::{Fleet, concat};

/// Gives up on a run that makes no progress; not a performance limit.
const STUCK: Duration = Duration::from_secs(3600);

/// Processor settings of a run: split or not, and the chunks' length.
const UNSPLIT: [(&str, &str); 1] = [("CHUNK_THRESHOLD_SECS", "0")];
const SPLIT: [(&str, &str); 2] = [("CHUNK_THRESHOLD_SECS", "300"), ("CHUNK_SECS", "120")];

/// What one processed source cost.
#[derive(Debug, Clone, Copy)]
struct Run {
    claim_to_playable: f64,
    claim_to_ready: f64,
    /// CPU seconds of every processor and the ffmpegs they ran.
    cpu: f64,
}

/// The video's state, seconds since its transcode was claimed.
#[derive(sqlx::FromRow)]
struct Progress {
    status: String,
    playable: bool,
    since_claim: Option<f64>,
    /// The video's jobs still queued or running.
    live: i64,
    /// Video chunks of a split encode that succeeded.
    chunks_done: i64,
}

async fn progress(pool: &PgPool, id: Uuid) -> Result<Progress> {
    Ok(sqlx::query_as(
        "select v.status, v.playable,
                extract(epoch from now() - t.started_at)::float8 as since_claim,
                (select count(*) from jobs where video_id = v.id
                    and state in ('queued', 'running')) as live,
                (select count(*) from jobs j join encode_chunks c on c.job_id = j.id
                    where j.video_id = v.id and c.part = 'video' and j.state = 'succeeded')
                    as chunks_done
         from videos v join jobs t on t.video_id = v.id and t.kind = 'transcode'
         where v.id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await?)
}

impl Bench {
    /// Stages `source` and runs `processors` processors until nothing is left to do (or,
    /// with `chunks`, until that many video chunks have succeeded).
    async fn process(
        &self,
        source: &Path,
        processors: usize,
        env: &[(&str, &str)],
        chunks: Option<i64>,
    ) -> Result<(Uuid, Run)> {
        let id = stage_upload(&self.pool, &self.storage, source).await?;
        let fleet = Fleet::start(&self.db, processors, env)?;
        let (mut playable, mut ready) = (None, None);
        let deadline = Instant::now() + STUCK;
        loop {
            let now = progress(&self.pool, id).await?;
            if now.playable && playable.is_none() {
                playable = now.since_claim;
            }
            match now.status.as_str() {
                "ready" if ready.is_none() => ready = now.since_claim,
                "failed" => bail!("the bench video failed"),
                _ => {}
            }
            let enough = chunks.is_some_and(|c| c > 0 && now.chunks_done >= c);
            if ready.is_some() && (now.live == 0 || enough) {
                break;
            }
            if Instant::now() > deadline {
                bail!("the bench video is stuck");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let cpu = fleet.cpu();
        fleet.stop().await?;
        let claim_to_ready = ready.context("ready")?;
        Ok((
            id,
            Run {
                claim_to_playable: playable.unwrap_or(claim_to_ready),
                claim_to_ready,
                cpu,
            },
        ))
    }

    async fn forget(&self, id: Uuid) -> Result<()> {
        self.storage.delete_media(id).await?;
        self.storage.delete_raw(id).await?;
        Ok(())
    }

    async fn fleet(&self) -> Result<()> {
        let source = self.sources.path().join("600s-480p-gop20.mp4");
        make_source_with_gop(&source, 600, "854x480", "2M", &["-g", "600"]).await?;
        let n = self.runs;
        let (mut unsplit, mut split, mut two) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            eprintln!("10 min 480p full transcode, run {}/{n}…", i + 1);
            // Rotating which goes first keeps a drift in the machine's speed out of the ratios.
            for k in 0..3 {
                match (i + k) % 3 {
                    0 => unsplit.push(self.process(&source, 1, &UNSPLIT, None).await?),
                    1 => split.push(self.process(&source, 1, &SPLIT, None).await?),
                    _ => two.push(self.process(&source, 2, &SPLIT, None).await?),
                }
            }
        }
        for (id, _) in unsplit.iter().chain(&split).chain(&two) {
            self.forget(*id).await?;
        }
        let cpu = |runs: &[(Uuid, Run)]| median_of(runs, |(_, r)| r.cpu);
        let wall = |runs: &[(Uuid, Run)]| median_of(runs, |(_, r)| r.claim_to_ready);
        println!(
            "split CPU           10 min 480p: split {:.1} s ÷ unsplit {:.1} s = {:.3}   (target <= 1.05)",
            cpu(&split),
            cpu(&unsplit),
            cpu(&split) / cpu(&unsplit)
        );
        println!(
            "two processors      claim→ready {:.1} s ÷ one processor, split {:.1} s = {:.2}; ÷ unsplit {:.1} s = {:.2}   (expected ~0.7)",
            wall(&two),
            wall(&split),
            wall(&two) / wall(&split),
            wall(&unsplit),
            wall(&two) / wall(&unsplit)
        );
        Ok(())
    }

    async fn replay(&self) -> Result<()> {
        let clip = self.sources.path().join("600s-720p.mp4");
        make_source(&clip, 600, "1280x720", "1600k").await?;
        let replay = self.sources.path().join("4h-720p.mp4");
        concat(&clip, 24, &replay).await?;
        let chunks: i64 = std::env::var("BENCH_REPLAY_CHUNKS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(6);
        let mut runs = Vec::new();
        let mut rates = Vec::new();
        for i in 0..self.runs {
            eprintln!("4-hour replay, run {}/{}…", i + 1, self.runs);
            let (id, run) = self.process(&replay, 1, &SPLIT, Some(chunks)).await?;
            rates.push(chunk_rate(&self.pool, id).await?);
            runs.push(run);
            self.forget(id).await?;
        }
        let playable = median_of(&runs, |r| r.claim_to_playable);
        let ready = median_of(&runs, |r| r.claim_to_ready);
        println!(
            "4-hour replay       claim→playable {playable:.2} s, claim→ready {ready:.1} s = {:.0}× realtime",
            4.0 * 3600.0 / ready
        );
        let count = rates.first().map_or(0, |r| r.count);
        let per_chunk = median(rates.iter().map(|r| r.seconds).collect());
        let split_s = median(rates.iter().map(|r| r.split_s).collect());
        println!(
            "  its ladder        {count} chunks of {:.0} s; one chunk {per_chunk:.1} s on one processor (1 slot) = {:.1}× realtime; split {split_s:.1} s",
            4.0 * 3600.0 / count as f64,
            4.0 * 3600.0 / count as f64 / per_chunk
        );
        if rates.iter().all(|r| r.finished) {
            let ladder = median(rates.iter().map(|r| r.ladder_s).collect());
            println!(
                "  measured          the whole ladder on one processor (1 slot): {:.1} min",
                ladder / 60.0
            );
        }
        for n in [1, 2, 4, 8, 16] {
            // Each processor takes every n-th chunk; the stitch is a few playlist writes.
            let waves = (count as f64 / f64::from(n)).ceil();
            println!(
                "  model, {n:>2} processors  split + ⌈{count}/{n}⌉ × {per_chunk:.1} s = {:.1} min",
                (split_s + waves * per_chunk) / 60.0
            );
        }
        Ok(())
    }
}

/// The split ladder's chunks: how many, the median time one took, how long the split took,
/// and the ladder job's claim to the end of its last part or stitch.
struct ChunkRate {
    count: i64,
    seconds: f64,
    split_s: f64,
    ladder_s: f64,
    /// Every part and the stitch ran (`BENCH_REPLAY_CHUNKS=0`): `ladder_s` is the whole ladder.
    finished: bool,
}

async fn chunk_rate(pool: &PgPool, id: Uuid) -> Result<ChunkRate> {
    type Row = (i64, Option<f64>, Option<f64>, Option<f64>, bool);
    let (count, seconds, split_s, ladder_s, finished): Row = sqlx::query_as(
        "select (select count(*) from encode_chunks c join jobs j on j.id = c.job_id
                 where j.video_id = $1 and c.part = 'video'),
                (select percentile_cont(0.5) within group (
                     order by extract(epoch from j.finished_at - j.started_at))
                 from encode_chunks c join jobs j on j.id = c.job_id
                 where j.video_id = $1 and c.part = 'video' and j.state = 'succeeded'),
                (select extract(epoch from finished_at - started_at)::float8 from jobs
                 where video_id = $1 and kind = 'ladder'),
                (select extract(epoch from max(finished_at) - min(started_at))::float8
                 from jobs where video_id = $1 and kind in ('ladder', 'chunk', 'stitch')),
                exists (select 1 from jobs where video_id = $1 and kind = 'stitch'
                        and state = 'succeeded')",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    Ok(ChunkRate {
        count,
        seconds: seconds.context("no chunk finished")?,
        split_s: split_s.context("the ladder job was not split")?,
        ladder_s: ladder_s.unwrap_or(f64::NAN),
        finished,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let bench = Bench::open().await?;
    if wanted("fleet") {
        bench.fleet().await?;
    }
    if wanted("replay") {
        bench.replay().await?;
    }
    bench.close().await
}
