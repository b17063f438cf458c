//! Splitting a long encode (a full transcode, or a ladder job's rungs below a copied top rung)
//! into parts that any processor runs (`vodnest_core::chunks`): video chunks over consecutive
//! ranges that start on segment boundaries, so that every chunk's segments continue the
//! previous chunk's numbering and timeline, plus one part for what is made once per video.
//!
//! The boundaries: every `SEGMENT_SECONDS` for a transcode (its keyframes are forced on that
//! grid, so a chunk starting on it cuts its segments where the whole encode would); the copied
//! top rung's own segment starts for a ladder job (its cuts follow the source's keyframes,
//! which every encoded rung copies).

use serde::{Deserialize, Serialize};
use vodnest_core::chunks::{self, Split};
use vodnest_core::queue::{ClaimedJob, QueueError};
use vodnest_core::videos::MediaFacts;

use super::{JobContext, JobError};
use crate::media::hls::SEGMENT_SECONDS;
use crate::media::ladder::{Plan, RenditionPlan};
use crate::media::probe::Probe;
use crate::publish::{PublishError, playlist};

/// What every part and the stitch of a split encode read back (`chunked_encodes.plan`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SplitPlan {
    /// What the master lists once the stitch is done. A video chunk's ffmpeg writes its video
    /// renditions, a copied top rung included (so that every rung is cut where it is).
    pub plan: Plan,
    /// Renditions in storage before the split (a ladder job's copied top rung and the audio).
    pub already_published: Vec<String>,
    pub probe: Probe,
}

impl SplitPlan {
    pub fn read(value: &serde_json::Value) -> Result<Self, JobError> {
        serde_json::from_value(value.clone()).map_err(|err| JobError::BadPlan(err.to_string()))
    }

    /// The video renditions the chunks make.
    pub fn made_video(&self) -> impl Iterator<Item = &RenditionPlan> {
        self.plan
            .video
            .iter()
            .filter(|r| !self.already_published.contains(&r.name))
    }

    /// A video chunk copies its top rung (a ladder job's plan) rather than encoding it.
    pub fn copying(&self) -> bool {
        self.plan.video.iter().any(|r| r.copy)
    }

    /// What the stitch's success writes to the video (its version aside).
    pub fn facts(&self) -> MediaFacts {
        MediaFacts {
            version: None,
            duration_s: Some(self.probe.duration_s),
            width: i32::try_from(self.probe.width).ok(),
            height: i32::try_from(self.probe.height).ok(),
            renditions: self.plan.renditions(),
        }
    }
}

/// Whether an encode of `duration_s` is split (`CHUNK_THRESHOLD_SECS`, 0: never).
pub(super) fn worth_splitting(ctx: &JobContext, duration_s: f64) -> bool {
    let threshold = ctx.config.chunk_threshold_secs;
    threshold > 0.0 && duration_s > threshold
}

/// Replaces `job` with the parts of `plan`, published into `prefix`. `makes_ready`: the job
/// was a transcode (its stitch makes the video ready).
pub(super) async fn split(
    ctx: &JobContext,
    job: &ClaimedJob,
    prefix: &str,
    plan: &SplitPlan,
    makes_ready: bool,
) -> Result<(), JobError> {
    let boundaries = if plan.copying() {
        copied_boundaries(ctx, prefix, plan).await?
    } else {
        grid(plan.probe.duration_s)
    };
    let target = ctx.config.chunk_secs.max(f64::from(SEGMENT_SECONDS));
    let ranges = chunks::ranges(&boundaries, plan.probe.duration_s, target);
    let plan_json = serde_json::to_value(plan)
        .map_err(|err| JobError::Io(std::io::Error::other(err.to_string())))?;
    let split = Split {
        parent: job,
        prefix,
        makes_ready,
        chunks: &ranges,
        plan: &plan_json,
    };
    match chunks::split(&ctx.pool, &split).await {
        Ok(encode) => {
            tracing::info!(%encode, chunks = ranges.len(), "encode split");
            Ok(())
        }
        Err(QueueError::Fenced(_)) => Err(JobError::LeaseLost),
        Err(QueueError::Db(err)) => Err(JobError::Db(err)),
        Err(err) => Err(JobError::Io(std::io::Error::other(err.to_string()))),
    }
}

/// Segment starts of a transcode: every `SEGMENT_SECONDS` from 0.
fn grid(duration_s: f64) -> Vec<f64> {
    let step = f64::from(SEGMENT_SECONDS);
    (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|t| *t < duration_s)
        .collect()
}

/// The copied top rung's segment starts, from its published playlist.
async fn copied_boundaries(
    ctx: &JobContext,
    prefix: &str,
    plan: &SplitPlan,
) -> Result<Vec<f64>, JobError> {
    let Some(top) = plan.plan.video.iter().find(|r| r.copy) else {
        return Ok(grid(plan.probe.duration_s));
    };
    let key = format!("{prefix}{}/index.m3u8", top.name);
    // Missing, it would be missing on every attempt (and is no cancel: `Stopped` would leave
    // the job running until its lease ran out).
    let text = ctx
        .storage
        .get_media_bytes(&key)
        .await?
        .ok_or_else(|| PublishError::Playlist(format!("cannot split: {key} is missing")))?;
    let published = playlist::parse(&text)?;
    let mut starts = Vec::with_capacity(published.segments.len());
    let mut at = 0.0;
    for segment in &published.segments {
        starts.push(at);
        at += f64::from(segment.duration);
    }
    Ok(starts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcode_splits_on_the_segment_grid() {
        assert_eq!(grid(20.0), [0.0, 6.0, 12.0, 18.0]);
        assert_eq!(grid(18.0), [0.0, 6.0, 12.0]);
    }
}
