//! A rendition's init segment and media segments over a range, read from storage into one
//! local fMP4 file (an init followed by its fragments is a playable mp4 stream): what a
//! precise clip is cut from and what a poster frame is grabbed from.

use std::path::Path;

use tokio::io::AsyncWriteExt;
use vodnest_core::clips::{self, MediaPlaylistFile, Playlists, SegmentRun};
use vodnest_core::domain::VideoRow;

use super::{JobContext, JobError};

/// The current playlists of `row`, its top video rendition and its audio (if it has sound).
pub(super) struct Renditions {
    pub playlists: Playlists,
    top: usize,
    audio: Option<usize>,
}

impl Renditions {
    pub async fn read(ctx: &JobContext, row: &VideoRow) -> Result<Self, JobError> {
        let playlists = clips::read_playlists(&ctx.storage, row).await?;
        let top = playlists
            .media
            .iter()
            .position(|m| !m.audio)
            .ok_or_else(|| JobError::Clip("the video has no video rendition".into()))?;
        let audio = playlists.media.iter().position(|m| m.audio);
        Ok(Self {
            playlists,
            top,
            audio,
        })
    }

    pub fn top(&self) -> &MediaPlaylistFile {
        &self.playlists.media[self.top]
    }

    pub fn audio(&self) -> Option<&MediaPlaylistFile> {
        self.audio.map(|i| &self.playlists.media[i])
    }

    /// The segments of `file` over `[start_s, end_s)`, written to `out` one after the other.
    pub async fn fetch(
        &self,
        ctx: &JobContext,
        file: &MediaPlaylistFile,
        start_s: f64,
        end_s: f64,
        out: &Path,
    ) -> Result<SegmentRun, JobError> {
        let run = clips::segments_covering(file, &self.playlists.version, start_s, end_s)?;
        let mut local = tokio::fs::File::create(out).await?;
        for key in &run.keys {
            let bytes = ctx
                .storage
                .get_media_bytes(key)
                .await?
                .ok_or_else(|| JobError::Clip(format!("{key} is missing from storage")))?;
            local.write_all(&bytes).await?;
        }
        local.flush().await?;
        Ok(run)
    }
}
