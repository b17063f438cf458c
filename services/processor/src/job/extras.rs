//! The extras the job that completes the ladder makes beside the encode: the poster and the
//! seek previews (storyboard). A source whose extras cannot be made still gets its HLS.

use std::path::Path;

use vodnest_core::videos;

use super::JobError;
use super::encode::Source;
use crate::media::{self, MediaError, storyboard};
use crate::publish::move_to_storage;
use crate::publish::upload::headers;

/// What [`make`] put in the run's version.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Extras {
    pub poster: bool,
    pub storyboard: bool,
}

/// Writes and publishes the poster, then the storyboard, in `scratch`.
pub(super) async fn make(source: &Source<'_>, scratch: &Path) -> Result<Extras, JobError> {
    Ok(Extras {
        poster: poster(source, &scratch.join("poster.jpg")).await?,
        storyboard: storyboard(source, &scratch.join(storyboard::DIR)).await?,
    })
}

/// Writes and uploads the poster; whether there is one.
async fn poster(source: &Source<'_>, out: &Path) -> Result<bool, JobError> {
    let Source { ctx, id, .. } = source;
    let timeout = ctx.config.probe_timeout();
    let written =
        media::poster::write(&source.input, out, &source.probed, source.cancel, timeout).await;
    if let Err(err) = written {
        if matches!(err, MediaError::Canceled) {
            return Err(err.into());
        }
        tracing::warn!(error = %err, "no poster");
        return Ok(false);
    }
    move_to_storage(&ctx.storage, source.prefix, "poster.jpg", out).await?;
    videos::mark_poster(&ctx.pool, *id, source.prefix).await?;
    Ok(true)
}

/// Writes and publishes the seek previews; whether there are some.
async fn storyboard(source: &Source<'_>, sheets: &Path) -> Result<bool, JobError> {
    let board = storyboard::plan(&source.probed);
    let timeout = source.ctx.config.transcode_timeout();
    match storyboard::write(&source.input, sheets, &board, source.cancel, timeout).await {
        Ok(()) => publish_storyboard(source, sheets, &board).await,
        Err(MediaError::Canceled) => Err(MediaError::Canceled.into()),
        Err(err) => {
            tracing::warn!(error = %err, "no storyboard");
            Ok(false)
        }
    }
}

/// Uploads the storyboard's sheets, then its track (which names them), and records it.
async fn publish_storyboard(
    source: &Source<'_>,
    dir: &Path,
    board: &storyboard::Storyboard,
) -> Result<bool, JobError> {
    let Source { ctx, id, .. } = source;
    let prefix = &source.prefix;
    let mut sheets = 0;
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let key = format!(
            "{}/{}",
            storyboard::DIR,
            entry.file_name().to_string_lossy()
        );
        move_to_storage(&ctx.storage, prefix, &key, &entry.path()).await?;
        sheets += 1;
    }
    if sheets == 0 {
        tracing::warn!("ffmpeg wrote no storyboard sheet");
        return Ok(false);
    }
    let (content_type, cache_control) = headers("storyboard.vtt");
    ctx.storage
        .put_media_bytes(
            &format!("{prefix}storyboard.vtt"),
            board.vtt(source.probed.duration_s).into_bytes(),
            content_type,
            cache_control,
        )
        .await?;
    videos::mark_storyboard(&ctx.pool, *id, prefix).await?;
    Ok(true)
}
