//! A `republish` job: the video's visibility moved it between the public and the signed class,
//! so its current version is copied (server-side, nothing is encoded) into the new version the
//! job started in that class, and the copy becomes current when the success is recorded. The
//! version it replaces is retired: a public one that stops being public is deleted at the
//! sweeper's next pass, so its plain URLs stop working.

use vodnest_core::queue::ClaimedJob;
use vodnest_core::storage::{MediaClass, StorageError};
use vodnest_core::videos::{self, MediaFacts, PublishedVersion};

use super::{Done, JobContext, JobError};

/// Copies in flight at once.
const PARALLEL_COPIES: usize = 16;

pub(super) async fn run(
    ctx: &JobContext,
    job: &ClaimedJob,
    prefix: &str,
) -> Result<Done, JobError> {
    let video = videos::get(&ctx.pool, job.video_id)
        .await?
        .ok_or(JobError::Stopped)?;
    let mut facts = MediaFacts {
        duration_s: video.duration_s,
        width: video.width,
        height: video.height,
        renditions: video.renditions.0.clone(),
        version: None,
    };
    let current = match video.media_prefix.as_deref() {
        Some(current) if video.playable => current,
        // Nothing published: the first run will publish in the right class.
        _ => {
            return Ok(Done {
                facts,
                ..Done::nothing()
            });
        }
    };
    if MediaClass::of_prefix(current).is_some()
        && MediaClass::of_prefix(current) == MediaClass::of_prefix(prefix)
    {
        tracing::info!("already in its class");
        return Ok(Done {
            facts,
            ..Done::nothing()
        });
    }
    let keys = ctx.storage.media_keys(current).await?;
    for batch in keys.chunks(PARALLEL_COPIES) {
        let copies = batch.iter().map(|key| copy(ctx, current, prefix, key));
        futures::future::try_join_all(copies).await?;
    }
    let copied = keys.len();
    tracing::info!(objects = copied, from = current, to = prefix, "republished");
    facts.version = Some(PublishedVersion {
        prefix: prefix.to_owned(),
        poster: video.has_poster,
        storyboard: video.has_storyboard,
    });
    Ok(Done {
        facts,
        ..Done::nothing()
    })
}

/// Copies `key`, below `from`, to the same place below `to`.
async fn copy(ctx: &JobContext, from: &str, to: &str, key: &str) -> Result<(), StorageError> {
    let rest = key.strip_prefix(from).unwrap_or(key);
    ctx.storage.copy_media(key, &format!("{to}{rest}")).await
}
