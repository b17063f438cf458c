//! A `poster` job: one frame of the current version at `videos.poster_time_s`, read from the
//! top rendition's init and the segment holding that instant (a clip's resolve into its
//! parent's version), as a JPEG at most 720 pixels tall under a name of its own
//! (`poster-{job}.jpg`), which becomes `videos.poster_name` if the version is still current.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vodnest_core::queue::ClaimedJob;
use vodnest_core::storage::media_headers;
use vodnest_core::videos;

use super::segments::Renditions;
use super::{Done, JobContext, JobError, encode};
use crate::media::{Source, poster};

/// A poster job's ffmpeg reads two segments at most.
const TIMEOUT: Duration = Duration::from_secs(120);

pub(super) async fn run(
    ctx: &JobContext,
    job: &ClaimedJob,
    prefix: &str,
    cancel: &CancellationToken,
) -> Result<Done, JobError> {
    let video = videos::get(&ctx.pool, job.video_id)
        .await?
        .ok_or(JobError::Stopped)?;
    if video.media_prefix.as_deref() != Some(prefix) {
        return Err(JobError::Stopped);
    }
    let duration = video.duration_s.unwrap_or(0.0);
    let at = videos::poster_time(&ctx.pool, video.id)
        .await?
        .unwrap_or(0.0)
        .clamp(0.0, (duration - 0.05).max(0.0));
    let renditions = Renditions::read(ctx, &video).await?;
    let scratch = encode::scratch_dir(ctx.config.work_dir.as_deref())?;
    let segment = scratch.path().join("segment.mp4");
    let run = renditions
        .fetch(ctx, renditions.top(), at, at + 0.01, &segment)
        .await?;
    let out = scratch.path().join("poster.jpg");
    // Seeking after the input: the frame at the instant, not the keyframe before it.
    let offset = (at - run.start_s).max(0.0);
    poster::grab(&Source::File(segment), offset, false, &out, cancel, TIMEOUT).await?;
    let name = format!("poster-{}.jpg", job.id.simple());
    let (content_type, cache) = media_headers(&name);
    ctx.storage
        .put_media_file(&format!("{prefix}{name}"), &out, content_type, cache)
        .await?;
    if videos::set_poster_name(&ctx.pool, video.id, prefix, &name)
        .await?
        .is_none()
    {
        tracing::info!("the version changed meanwhile; the poster is not used");
    }
    tracing::info!(at, name, "poster grabbed");
    Ok(Done::nothing())
}
