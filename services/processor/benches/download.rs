//! MP4 download benchmark (not a test): real LocalStack, processor processes. A 720p replay
//! (a 10-minute clip encoded once, joined with the concat demuxer and `-c copy` into longer
//! ones) is processed (fast path: its top rendition and audio are copies, the ladder job is
//! dropped), then its 720p download is made by a fresh processor process, `BENCH_RUNS` times
//! per length (medians):
//!
//! - seconds per hour of video: the download job's claim to its end (the job's own times);
//! - peak RSS of the processor process that ran it (`VmHWM` of /proc/{pid}/status: the whole
//!   process, its idle footprint included, which a processor that ran nothing else shows).
//!
//! Lengths: 10 and 40 minutes, and 4 hours with `BENCH_DOWNLOAD_4H=1` (2.9 GB through
//! LocalStack). The ratios long ÷ short show whether time per hour and memory stay flat.
//!
//! Run: `eval "$(./dev env)" && cargo bench -p vodnest-processor --bench download`

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use uuid::Uuid;
use vodnest_core::caller::BUILTIN_ADMIN;
use vodnest_core::downloads::{self, NewDownload};
use vodnest_core::edits::master_key;
use vodnest_core::videos;
use vodnest_testkit::stage_upload;

// This bench uses some of the shared helpers only.
#[allow(dead_code)]
mod common;
// Each bench uses part of it.
#[allow(dead_code)]
#[path = "common/fleet.rs"]
mod fleet;
use common::{Bench, make_source, median};
use fleet::{Fleet, concat};

/// Gives up on a run that makes no progress; not a performance limit.
const STUCK: Duration = Duration::from_secs(3600);

/// One download: the job's seconds, and the processor's peak RSS.
struct Made {
    seconds: f64,
    peak_mib: f64,
    size: i64,
}

impl Bench {
    /// Processes `source` until `ready` (its ladder job canceled): the video's id.
    async fn ready_video(&self, source: &Path) -> Result<Uuid> {
        let id = stage_upload(&self.pool, &self.storage, source).await?;
        let fleet = Fleet::start(&self.db, 1, &[])?;
        let deadline = Instant::now() + STUCK;
        loop {
            let status: String = sqlx::query_scalar("select status from videos where id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
            match status.as_str() {
                "ready" => break,
                "failed" => bail!("the bench video failed"),
                _ if Instant::now() > deadline => bail!("the bench video is stuck"),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        // The lower rungs are not what is measured.
        sqlx::query("update jobs set state = 'canceled' where video_id = $1 and kind = 'ladder' and state in ('queued', 'running')")
            .bind(id)
            .execute(&self.pool)
            .await?;
        fleet.stop().await?;
        Ok(id)
    }

    /// Makes the 720p download of `id` with a fresh processor.
    async fn download(&self, id: Uuid) -> Result<Made> {
        let row = videos::get(&self.pool, id).await?.context("the video")?;
        let master = master_key(&row).context("a master playlist")?;
        let new = NewDownload {
            video_id: id,
            rendition: "720p",
            master_key: &master,
            requested_by: BUILTIN_ADMIN,
        };
        let download = downloads::create(&self.pool, &new)
            .await?
            .context("a new download")?;
        let fleet = Fleet::start(&self.db, 1, &[])?;
        let deadline = Instant::now() + STUCK;
        let (state, seconds, size): (String, Option<f64>, i64) = loop {
            let row: (String, Option<f64>, i64) = sqlx::query_as(
                "select d.state, extract(epoch from j.finished_at - j.started_at)::float8,
                     d.size_bytes
                 from downloads d join jobs j on j.id = d.job_id where d.id = $1",
            )
            .bind(download)
            .fetch_one(&self.pool)
            .await?;
            if row.0 != "preparing" && row.1.is_some() || row.0 == "failed" {
                break row;
            }
            if Instant::now() > deadline {
                bail!("the download is stuck");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let peak_mib = fleet.peak_rss_mib();
        fleet.stop().await?;
        if state != "ready" {
            bail!("the download {state}");
        }
        // The next run makes it again.
        let key: String =
            sqlx::query_scalar("delete from downloads where id = $1 returning object_key")
                .bind(download)
                .fetch_one(&self.pool)
                .await?;
        self.storage.delete_media_prefix(&key).await?;
        Ok(Made {
            seconds: seconds.context("the job's times")?,
            peak_mib,
            size,
        })
    }

    async fn downloads(&self) -> Result<()> {
        let clip = self.sources.path().join("600s-720p.mp4");
        eprintln!("encoding a 10-minute 720p clip…");
        make_source(&clip, 600, "1280x720", "1600k").await?;
        let mut lengths = vec![(1usize, "10 min"), (4, "40 min")];
        if std::env::var("BENCH_DOWNLOAD_4H").is_ok_and(|v| v == "1") {
            lengths.push((24, "4 h"));
        }
        let mut results = Vec::new();
        for (copies, name) in lengths {
            let source = self.sources.path().join(format!("{copies}x.mp4"));
            concat(&clip, copies, &source).await?;
            let id = self.ready_video(&source).await?;
            tokio::fs::remove_file(&source).await?;
            let mut runs = Vec::new();
            for i in 0..self.runs {
                eprintln!("{name}: download {}/{}…", i + 1, self.runs);
                runs.push(self.download(id).await?);
            }
            self.storage.delete_media(id).await?;
            self.storage.delete_raw(id).await?;
            let hours = copies as f64 * 600.0 / 3600.0;
            let per_hour = median(runs.iter().map(|r| r.seconds / hours).collect());
            let peak = median(runs.iter().map(|r| r.peak_mib).collect());
            let size_mb = runs.first().map_or(0, |r| r.size) as f64 / 1e6;
            println!(
                "download 720p {name:>6}: {:.1} s = {per_hour:.1} s per hour of video ({:.0}× realtime), file {size_mb:.0} MB, processor peak RSS {peak:.0} MiB",
                per_hour * hours,
                3600.0 / per_hour
            );
            results.push((name, per_hour, peak));
        }
        if let Some(&(short, short_rate, short_peak)) = results.first() {
            for &(name, rate, peak) in &results[1..] {
                println!(
                    "  {name} ÷ {short}: time per hour {:.2}, peak RSS {:.2}   (flat: ~1)",
                    rate / short_rate,
                    peak / short_peak
                );
            }
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let bench = Bench::open().await?;
    bench.downloads().await?;
    bench.close().await
}
