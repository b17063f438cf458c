//! How far the encoding work is, as the video shows it (`vodnest_core::encoding_progress`):
//! the renditions being made, the fraction done and an estimate of the time left. A transcode
//! also moves the video's own progress (0.1 to 0.9 of it: probing before, publishing after).
//! A chunk of a split encode reports the whole encode (every chunk's share of the source,
//! weighted by what it has done), so that any number of processors paint one bar.
//!
//! Every write notifies the video's websockets, so they come at most once a second; all are
//! fenced on the job still running, and the job's end clears the encoding.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use vodnest_core::encoding_progress::{self, Encoding};
use vodnest_core::queue::ClaimedJob;
use vodnest_core::videos;

/// The least time between two writes.
const EVERY: Duration = Duration::from_secs(1);

pub(super) struct Reporter {
    pub pool: PgPool,
    pub job: ClaimedJob,
    /// The video renditions this work makes (not those it copies that are published already).
    pub renditions: Vec<String>,
    /// The job is one chunk of a split encode: it reports the whole encode.
    pub part: bool,
    /// The video is not ready yet: its own progress follows the encode's.
    pub transcoding: bool,
}

impl Reporter {
    /// Writes what `fractions` (0..1 of this job's own work) says, now and then as it changes,
    /// until the sender is dropped or the task aborted.
    pub fn spawn(self, mut fractions: watch::Receiver<f64>) -> JoinHandle<()> {
        let started = Instant::now();
        tokio::spawn(async move {
            loop {
                let fraction = *fractions.borrow_and_update();
                if let Err(err) = self.write(fraction, started.elapsed()).await {
                    tracing::warn!(error = %err, "cannot record encoding progress");
                }
                tokio::time::sleep(EVERY).await;
                if fractions.changed().await.is_err() {
                    return;
                }
            }
        })
    }

    async fn write(&self, fraction: f64, elapsed: Duration) -> Result<(), sqlx::Error> {
        let (progress, elapsed) = if self.part {
            match encoding_progress::record_part(&self.pool, &self.job, fraction).await? {
                Some(whole) => (whole.progress, whole.elapsed),
                // The job no longer runs, or is no video chunk.
                None => return Ok(()),
            }
        } else {
            (fraction, elapsed)
        };
        if self.transcoding {
            videos::set_progress(
                &self.pool,
                self.job.video_id,
                "transcoding",
                0.1 + 0.8 * progress,
            )
            .await?;
        }
        let encoding = Encoding {
            renditions: self.renditions.clone(),
            progress,
            eta_s: encoding_progress::eta(progress, elapsed),
        };
        encoding_progress::record(&self.pool, &self.job, &encoding).await
    }
}
