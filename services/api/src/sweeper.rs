//! Ends uploads that were abandoned: a multipart upload left `awaiting_upload` past its deadline
//! is aborted in S3 (its parts stop costing storage) and the video is marked `failed`.
//! Each pass also enqueues a republish for videos whose output is in the wrong class for
//! their visibility, deletes the output versions that were replaced longer ago than the grace
//! (`RETIRED_MEDIA_GRACE_SECS`), forgets failed sign-ins that no longer count and the viewer digests and salts
//! of past days (see `vodnest_core::viewers`). Every API process runs one; two sweeping the
//! same upload at once is harmless because both the abort and the status change are idempotent.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vodnest_core::queue::{self, JobKind};
use vodnest_core::{sign_in_backoff, videos, viewers};

use crate::routes::upload::abort_upload;
use crate::state::AppState;

/// How many expired uploads one pass handles; the next pass takes the rest.
const BATCH: i64 = 100;
const EXPIRED: &str = "the upload was not completed before its deadline";

/// One pass: aborts every expired upload it finds (up to a batch) and says how many it ended.
pub async fn sweep_once(state: &AppState) -> anyhow::Result<usize> {
    let expired = videos::expired_uploads(&state.pool, BATCH).await?;
    let mut ended = 0;
    for upload in expired {
        match abort_upload(state, upload.id, &upload.upload_id, EXPIRED).await {
            Ok(()) => {
                tracing::info!(video_id = %upload.id, "expired upload aborted");
                ended += 1;
            }
            // S3 may be briefly unavailable: the upload stays and the next pass retries it.
            Err(err) => {
                tracing::warn!(video_id = %upload.id, error = ?err, "cannot abort expired upload")
            }
        }
    }
    Ok(ended)
}

/// Deletes up to a batch of versions whose grace is over; says how many.
pub async fn sweep_retired_media(state: &AppState) -> anyhow::Result<usize> {
    let due = videos::retired_due(&state.pool, state.config.retired_media_grace(), BATCH).await?;
    let mut deleted = 0;
    for prefix in due {
        // Forgotten only once deleted: an S3 error leaves it for the next pass.
        state.storage.delete_media_prefix(&prefix).await?;
        videos::forget_retired(&state.pool, &prefix).await?;
        tracing::info!(prefix, "retired output deleted");
        deleted += 1;
    }
    Ok(deleted)
}

/// Enqueues a republish for up to a batch of videos whose output is not in the class their
/// visibility calls for; says how many were enqueued.
pub async fn sweep_misplaced_media(state: &AppState) -> anyhow::Result<usize> {
    let mut enqueued = 0;
    for id in videos::misplaced(&state.pool, BATCH).await? {
        if queue::enqueue(&state.pool, JobKind::Republish, id).await? {
            tracing::info!(video_id = %id, "republish enqueued");
            enqueued += 1;
        }
    }
    Ok(enqueued)
}

/// Sweeps every `every` until `stop` is cancelled.
pub async fn run(state: AppState, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(err) = sweep_once(&state).await {
            tracing::warn!(error = %err, "upload sweep failed");
        }
        if let Err(err) = sweep_misplaced_media(&state).await {
            tracing::warn!(error = %err, "misplaced media sweep failed");
        }
        if let Err(err) = sweep_retired_media(&state).await {
            tracing::warn!(error = %err, "retired media sweep failed");
        }
        // Failed sign-ins that no longer count: the names in them are whatever strangers typed.
        if let Err(err) = sign_in_backoff::sweep(&state.pool).await {
            tracing::warn!(error = %err, "sign-in failure sweep failed");
        }
        if let Err(err) = viewers::sweep(&state.pool).await {
            tracing::warn!(error = %err, "viewer digest sweep failed");
        }
    }
}
