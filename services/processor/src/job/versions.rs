//! Which version of a video's output a job writes, and what becomes of versions no one will
//! be given. Each transcode attempt publishes below its own `videos/{id}/{class}/{n}/`, so no
//! object is ever rewritten (a republish too); a ladder job extends the version its
//! transcode made current.
//! Whatever ends a run, the clean-up removes only that run's version, never the one players
//! are given (the statement that makes another version current retires it instead, and the
//! API's sweeper deletes it after a grace).

use std::time::Duration;

use vodnest_core::queue::{ClaimedJob, JobKind};
use vodnest_core::storage::{MediaClass, media_prefix};
use vodnest_core::{chunks, media_refs, videos};

use super::{JobContext, JobError, Run};

/// The version a job publishes to. A transcode starts a new one and first removes the
/// versions of earlier attempts that died without cleaning up after themselves.
pub(super) async fn start(ctx: &JobContext, job: &ClaimedJob) -> Result<String, JobError> {
    let prefix = match job.kind {
        JobKind::Transcode | JobKind::Republish => {
            videos::start_version(&ctx.pool, job.video_id).await?
        }
        // A download reads the version it was asked of, and writes its MP4 into it; a poster
        // is an object of the current version.
        JobKind::Ladder | JobKind::Download | JobKind::Poster => {
            videos::current_prefix(&ctx.pool, job.video_id).await?
        }
        // A clip job writes the clip's source, not a version.
        JobKind::Clip => Some(vodnest_core::storage::raw_key(job.video_id)),
        // The parts of a split encode and its stitch publish into the version it was split in.
        JobKind::Chunk | JobKind::Stitch => chunks::prefix_of(&ctx.pool, job.id).await?,
        JobKind::Webhook => return Err(JobError::NotOurs(job.kind)),
    };
    // No video (deleted meanwhile), or a ladder job with nothing to extend.
    let prefix = prefix.ok_or(JobError::Stopped)?;
    if job.kind == JobKind::Transcode
        && let Err(err) = remove_dead_versions(ctx, job, &prefix).await
    {
        tracing::warn!(error = %err, "cannot look for earlier attempts' output");
    }
    Ok(prefix)
}

/// A video runs one transcode at a time (its live key), so a version numbered below ours that
/// is neither current nor retired belongs to an attempt that is over: a killed processor's,
/// whose clean-up never ran.
async fn remove_dead_versions(
    ctx: &JobContext,
    job: &ClaimedJob,
    ours: &str,
) -> Result<(), JobError> {
    let current = videos::current_prefix(&ctx.pool, job.video_id).await?;
    let retired = videos::retired_prefixes(&ctx.pool, job.video_id).await?;
    let our_number = version_number(ours);
    for class in [MediaClass::Public, MediaClass::Signed] {
        let folder = format!("{}{}/", media_prefix(job.video_id), class.as_str());
        for version in ctx.storage.media_folders(&folder).await? {
            let dead = version_number(&version) < our_number
                && current.as_deref() != Some(version.as_str())
                && !retired.contains(&version);
            if dead {
                tracing::info!(version, "removing a dead attempt's output");
                ctx.storage.delete_media_prefix(&version).await?;
            }
        }
    }
    Ok(())
}

/// `n` of `videos/{id}/{class}/{n}/`; `i64::MAX` for anything else (never taken for dead).
fn version_number(prefix: &str) -> i64 {
    prefix
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(i64::MAX)
}

/// After a run that did not succeed: a deleted video's whole output goes; otherwise the run's
/// own version goes unless players are being given it (a first run that became playable and
/// will be retried; its successor retires it). A ladder job extends the current version and
/// never removes it: its video stays watchable with the renditions it has.
pub(super) async fn discard(ctx: &JobContext, run: &Run<'_>) {
    let video = match videos::get(&ctx.pool, run.job.video_id).await {
        Ok(video) => video,
        Err(err) => {
            tracing::warn!(error = %err, "cannot check what the video plays");
            return;
        }
    };
    let Some(video) = video else {
        remove_deleted(ctx, run.job.video_id).await;
        return;
    };
    let Some(version) = run.version else {
        return;
    };
    if !own_version(ctx, run.job).await {
        return;
    }
    let played = video.playable && video.media_prefix.as_deref() == Some(version);
    if !played {
        tracing::info!(version, "removing the run's output");
        remove(ctx, version).await;
        // A republished clip's references go with its version.
        if let Err(err) = media_refs::forget_version(&ctx.pool, version).await {
            tracing::warn!(error = %err, "cannot forget the version's references");
        }
    }
}

/// A deleted video's output goes, except the versions clips still reference (the deletion
/// recorded them for the sweeper).
async fn remove_deleted(ctx: &JobContext, id: uuid::Uuid) {
    let kept = match media_refs::referenced_versions_of(&ctx.pool, id).await {
        Ok(kept) => kept,
        Err(err) => {
            tracing::warn!(error = %err, "cannot tell which versions clips reference");
            return;
        }
    };
    if kept.is_empty() {
        remove(ctx, &media_prefix(id)).await;
        return;
    }
    for pass in [0, 1] {
        if pass == 1 {
            tokio::time::sleep(LATE_UPLOAD_SETTLE).await;
        }
        if let Err(err) = ctx.storage.delete_media_keeping(id, &kept).await {
            tracing::warn!(error = %err, "cannot remove the job's output");
        }
    }
}

/// Whether the run's version is its own to remove. A ladder job extends the current version.
/// A part or the stitch of a split encode shares its version with the other parts (a retry
/// needs what they published) until the encode ends without a stitch: then whichever part
/// stops removes a split transcode's version (each stopped part does, so the last one to
/// stop cleans up after the uploads of all).
async fn own_version(ctx: &JobContext, job: &ClaimedJob) -> bool {
    match job.kind {
        // A poster extends the current version; a clip job's output is the raw source.
        JobKind::Ladder | JobKind::Download | JobKind::Poster | JobKind::Clip => false,
        JobKind::Chunk | JobKind::Stitch => chunks::abandoned_version(&ctx.pool, job.id)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "cannot tell whether the split encode ended");
                false
            }),
        JobKind::Transcode | JobKind::Republish | JobKind::Webhook => true,
    }
}

/// How long an upload that was already on the wire when its job stopped may take to land.
const LATE_UPLOAD_SETTLE: Duration = Duration::from_secs(2);

/// Deletes everything under `prefix`. Dropping the encode aborts our requests, but a PUT whose
/// body was already sent still lands after the first listing, so a second pass follows.
async fn remove(ctx: &JobContext, prefix: &str) {
    for pass in [0, 1] {
        if pass == 1 {
            tokio::time::sleep(LATE_UPLOAD_SETTLE).await;
        }
        match ctx.storage.delete_media_prefix(prefix).await {
            Ok(late) if pass == 1 && late > 0 => {
                tracing::info!(objects = late, "removed uploads that landed after the stop")
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "cannot remove the job's output"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::version_number;

    #[test]
    fn version_numbers_come_from_the_last_folder() {
        let id = "0192f0c4-7d1e-7a4e-9c1a-5f2d3e4b5a6c";
        assert_eq!(version_number(&format!("videos/{id}/public/12/")), 12);
        assert_eq!(version_number(&format!("videos/{id}/signed/3/")), 3);
        // The layout before versions is never mistaken for a dead attempt's.
        assert_eq!(version_number(&format!("videos/{id}/")), i64::MAX);
    }
}
