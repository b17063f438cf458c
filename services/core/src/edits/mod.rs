//! Edits of a ready video: a non-destructive trim and captions. Every change writes a new
//! revision into the video's current version, beside the processor's output, which is never
//! rewritten:
//!
//! - `master-{k}.m3u8`: the processor's `master.m3u8` with, when trimmed, each rendition
//!   playlist replaced by its cut copy `{rendition}/index-{k}.m3u8` (segment URIs stay plain
//!   relative names), and the captions as subtitle renditions (`SUBTITLES="subs"`);
//! - `captions/{lang}-{hash}.vtt` (content-addressed) and its playlist `captions/{lang}-{k}.m3u8`.
//!
//! The new master's key is recorded with the change, in one transaction that holds the video's
//! edit lock (an advisory lock) from reading the revision number to recording it: two edits at
//! once write revisions k and k + 1, never both k. A processor that makes another version
//! current, or rewrites `master.m3u8` (a ladder job adding rungs), calls [`reapply`] afterwards,
//! which writes the next revision on the new base; until then [`master_key`] falls back to the
//! version's own `master.m3u8` (a recorded master names its version).
//!
//! [`master_key`] is the one place that says which master players get.

pub mod cut;
pub mod master;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{VideoRow, VideoStatus};
use crate::storage::{MASTER_PLAYLIST, MediaClass, Storage, StorageError, media_prefix};
use crate::videos;
pub use cut::Span;

/// Caption languages a video may have.
pub const MAX_CAPTIONS: usize = 20;
/// Longest caption label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const VTT_TYPE: &str = "text/vtt";
/// Nothing a revision writes is ever written again under the same key.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A caption as the video records it (`videos.captions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Caption {
    pub lang: String,
    pub label: String,
    /// The WebVTT source object (see [`caption_source_key`]).
    pub source: String,
}

/// A caption as the video object shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaptionTrack {
    /// BCP 47 language tag.
    pub lang: String,
    /// What players show in their captions menu.
    pub label: String,
}

/// The key of the master players get: the recorded revision's master when it belongs to the
/// current version, else the version's `master.m3u8`. `None` while the video is not playable.
pub fn master_key(row: &VideoRow) -> Option<String> {
    let prefix = row.media_prefix.as_deref().filter(|_| row.playable)?;
    Some(format!("{prefix}{}", master_name(row)?))
}

/// [`master_key`] relative to the current version (`master.m3u8`, `master-4.m3u8`).
pub fn master_name(row: &VideoRow) -> Option<String> {
    row.media_prefix.as_deref().filter(|_| row.playable)?;
    Some(
        current_revision_master(row)
            .unwrap_or(MASTER_PLAYLIST)
            .to_owned(),
    )
}

/// The recorded revision's master name, when it is in the current version.
fn current_revision_master(row: &VideoRow) -> Option<&str> {
    let prefix = row.media_prefix.as_deref()?;
    let name = row.edited_master.as_deref()?.strip_prefix(prefix)?;
    (!name.contains('/')).then_some(name)
}

/// What the owner asked to keep of the original timeline.
pub fn trim(row: &VideoRow) -> Option<Span> {
    Some(Span {
        start_s: row.trim_start_s?,
        end_s: row.trim_end_s?,
    })
}

/// What the playlists players get cover of the original timeline (segment-aligned); `None`
/// when they cover all of it. Player time + `start_s` = original time.
pub fn window(row: &VideoRow) -> Option<Span> {
    current_revision_master(row)?;
    Some(Span {
        start_s: row.window_start_s?,
        end_s: row.window_end_s?,
    })
}

pub fn caption_tracks(row: &VideoRow) -> Vec<CaptionTrack> {
    row.captions
        .0
        .iter()
        .map(|c| CaptionTrack {
            lang: c.lang.clone(),
            label: c.label.clone(),
        })
        .collect()
}

/// Where a caption's WebVTT is kept, content-addressed: below the video's signed class (no CDN
/// path serves it without a signature, and no signed playback path reaches it: it is outside
/// every version), so it survives new versions and goes with the video.
pub fn caption_source_key(id: Uuid, lang: &str, vtt: &str) -> String {
    let digest = Sha256::digest(vtt.as_bytes());
    format!(
        "{}{}/captions/{lang}-{}.vtt",
        media_prefix(id),
        MediaClass::Signed.as_str(),
        crate::signing::hex(&digest[..8])
    )
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("no such video")]
    NoSuchVideo,
    #[error("the video is {0}: it can be edited once it is ready")]
    NotReady(VideoStatus),
    #[error("{0}")]
    InvalidTrim(String),
    #[error("a video has at most {MAX_CAPTIONS} caption languages")]
    TooManyCaptions,
    #[error("the video has no captions in {0}")]
    NoSuchCaption(String),
    /// The processor kept making other versions current while the edit was written.
    #[error("the video's output changed while the edit was written; try again")]
    Busy,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The processor's playlists cannot be read or cut as they are.
    #[error("{key}: {reason}")]
    Playlist { key: String, reason: String },
}

/// One change to a video's edits.
#[derive(Debug, Clone)]
enum Change {
    Trim(Option<Span>),
    PutCaption(Caption),
    RemoveCaption(String),
    /// The processor's output changed: write the same edits on it.
    Reapply,
}

/// Trims the video to `trim` (or restores all of it with `None`). `trim` must lie within the
/// duration (`0 <= start < end <= duration`); the window is the segments it overlaps.
pub async fn set_trim(
    pool: &PgPool,
    storage: &Storage,
    id: Uuid,
    trim: Option<Span>,
) -> Result<VideoRow, EditError> {
    apply(pool, storage, id, Change::Trim(trim))
        .await?
        .ok_or(EditError::NoSuchVideo)
}

/// Attaches (or replaces) the captions of `lang`: `vtt` must be WebVTT as
/// [`crate::captions::convert`] makes it (checked against the duration). This is the seam for
/// automatic transcription: a transcriber job would call it with what it heard.
pub async fn attach_caption(
    pool: &PgPool,
    storage: &Storage,
    id: Uuid,
    lang: &str,
    label: &str,
    vtt: String,
) -> Result<VideoRow, EditError> {
    let source = caption_source_key(id, lang, &vtt);
    storage
        .put_media_bytes(&source, vtt.into_bytes(), VTT_TYPE, IMMUTABLE)
        .await?;
    let caption = Caption {
        lang: lang.to_owned(),
        label: label.to_owned(),
        source,
    };
    apply(pool, storage, id, Change::PutCaption(caption))
        .await?
        .ok_or(EditError::NoSuchVideo)
}

/// Removes the captions of `lang` from what players get (a new revision without them).
pub async fn detach_caption(
    pool: &PgPool,
    storage: &Storage,
    id: Uuid,
    lang: &str,
) -> Result<VideoRow, EditError> {
    apply(pool, storage, id, Change::RemoveCaption(lang.to_owned()))
        .await?
        .ok_or(EditError::NoSuchVideo)
}

/// Writes the video's edits again on its current output, as the next revision; nothing when it
/// was never edited, is gone or is not playable. The processor calls it after it changed what
/// `master.m3u8` lists or which version is current.
pub async fn reapply(
    pool: &PgPool,
    storage: &Storage,
    id: Uuid,
) -> Result<Option<VideoRow>, EditError> {
    match videos::get(pool, id).await? {
        Some(row) if row.edit_revision > 0 && row.playable => {
            apply(pool, storage, id, Change::Reapply).await
        }
        _ => Ok(None),
    }
}

/// The edits a video has, with `change` made.
struct Edits {
    trim: Option<Span>,
    captions: Vec<Caption>,
}

impl Edits {
    fn of(row: &VideoRow) -> Self {
        Self {
            trim: trim(row),
            captions: row.captions.0.clone(),
        }
    }

    fn change(&mut self, change: Change, row: &VideoRow) -> Result<(), EditError> {
        match change {
            Change::Trim(trim) => {
                if let Some(trim) = trim {
                    check_trim(trim, row.duration_s)?;
                }
                self.trim = trim;
            }
            Change::PutCaption(caption) => {
                let full = self.captions.len() >= MAX_CAPTIONS;
                match self.captions.iter_mut().find(|c| c.lang == caption.lang) {
                    Some(existing) => *existing = caption,
                    None if full => return Err(EditError::TooManyCaptions),
                    None => self.captions.push(caption),
                }
            }
            Change::RemoveCaption(lang) => {
                let before = self.captions.len();
                self.captions.retain(|c| c.lang != lang);
                if self.captions.len() == before {
                    return Err(EditError::NoSuchCaption(lang));
                }
            }
            Change::Reapply => {}
        }
        Ok(())
    }
}

/// `0 <= start < end <= duration`, finite.
fn check_trim(trim: Span, duration_s: Option<f64>) -> Result<(), EditError> {
    let duration = duration_s.unwrap_or(0.0);
    let invalid = |m: String| Err(EditError::InvalidTrim(m));
    if !trim.start_s.is_finite() || !trim.end_s.is_finite() {
        return invalid("trim.start_s and trim.end_s must be numbers of seconds".into());
    }
    if trim.start_s < 0.0 {
        return invalid("trim.start_s must be 0 or more".into());
    }
    if trim.end_s <= trim.start_s {
        return invalid("trim.end_s must be after trim.start_s".into());
    }
    if trim.end_s > duration + 0.001 {
        return invalid(format!(
            "trim.end_s must be at most the video's duration ({duration:.3} s)"
        ));
    }
    Ok(())
}

/// Attempts at writing a revision while the processor keeps switching versions under it.
const ATTEMPTS: usize = 3;

async fn apply(
    pool: &PgPool,
    storage: &Storage,
    id: Uuid,
    change: Change,
) -> Result<Option<VideoRow>, EditError> {
    for _ in 0..ATTEMPTS {
        let mut tx = pool.begin().await?;
        videos::lock_edits(&mut *tx, id).await?;
        let Some(row) = videos::get(&mut *tx, id).await? else {
            return Err(EditError::NoSuchVideo);
        };
        let prefix = match row.media_prefix.clone().filter(|_| row.playable) {
            Some(prefix) if row.status == VideoStatus::Ready => prefix,
            _ if matches!(change, Change::Reapply) => return Ok(None),
            _ => return Err(EditError::NotReady(row.status)),
        };
        let mut edits = Edits::of(&row);
        let before: Vec<String> = edits.captions.iter().map(|c| c.source.clone()).collect();
        edits.change(change.clone(), &row)?;
        let k = row.edit_revision + 1;
        let written = write_revision(storage, &prefix, k, &edits).await?;
        let revision = videos::Revision {
            number: k,
            trim: edits.trim,
            captions: edits.captions,
            master_key: written.master_key,
            window: written.window,
        };
        match videos::record_revision(&mut *tx, id, &prefix, &revision).await? {
            Some(row) => {
                tx.commit().await?;
                tracing::info!(video_id = %id, revision = k, "edits published");
                forget_sources(storage, &before, &row.captions.0).await;
                return Ok(Some(row));
            }
            // Another version became current meanwhile: write the revision there instead.
            None => tx.rollback().await?,
        }
    }
    Err(EditError::Busy)
}

/// Deletes the sources of captions replaced or removed: the revisions that listed them have
/// their own copies, and no later revision will read them (the captions recorded no longer name
/// them). Storage per video stays bounded however often captions are replaced.
async fn forget_sources(storage: &Storage, before: &[String], now: &[Caption]) {
    for source in before {
        if now.iter().any(|c| &c.source == source) {
            continue;
        }
        if let Err(err) = storage.delete_media_prefix(source).await {
            tracing::warn!(source, error = %err, "cannot delete a caption source no longer used");
        }
    }
}

/// What a revision wrote.
struct Written {
    master_key: String,
    window: Option<Span>,
}

async fn read_text(storage: &Storage, key: &str) -> Result<Vec<u8>, EditError> {
    storage
        .get_media_bytes(key)
        .await?
        .ok_or_else(|| EditError::Playlist {
            key: key.to_owned(),
            reason: "missing".into(),
        })
}

async fn read_media(storage: &Storage, key: &str) -> Result<m3u8_rs::MediaPlaylist, EditError> {
    let text = read_text(storage, key).await?;
    m3u8_rs::parse_media_playlist_res(&text).map_err(|_| EditError::Playlist {
        key: key.to_owned(),
        reason: "not a media playlist".into(),
    })
}

async fn put_playlist(storage: &Storage, key: &str, text: String) -> Result<(), EditError> {
    storage
        .put_media_bytes(key, text.into_bytes(), PLAYLIST_TYPE, IMMUTABLE)
        .await?;
    Ok(())
}

/// Writes revision `k` of `edits` into the version `prefix`.
async fn write_revision(
    storage: &Storage,
    prefix: &str,
    k: i32,
    edits: &Edits,
) -> Result<Written, EditError> {
    let base_key = format!("{prefix}{MASTER_PLAYLIST}");
    let base = m3u8_rs::parse_master_playlist_res(&read_text(storage, &base_key).await?).map_err(
        |_| EditError::Playlist {
            key: base_key.clone(),
            reason: "not a master playlist".into(),
        },
    )?;
    // Every media playlist the master lists: video variants first (the first is the reference).
    let mut playlists: Vec<String> = Vec::new();
    let listed = base
        .variants
        .iter()
        .map(|v| v.uri.clone())
        .chain(base.alternatives.iter().filter_map(|a| a.uri.clone()));
    for uri in listed {
        if !playlists.contains(&uri) {
            playlists.push(uri);
        }
    }
    let reference_uri = playlists.first().ok_or_else(|| EditError::Playlist {
        key: base_key.clone(),
        reason: "lists no playlist".into(),
    })?;
    let reference = read_media(storage, &format!("{prefix}{reference_uri}")).await?;
    let (window, duration_s) = match edits.trim {
        None => (None, cut::duration(&reference)),
        Some(asked) => {
            let window = cut::window(&reference, asked).ok_or_else(|| {
                EditError::InvalidTrim("the trim keeps no segment of the video".into())
            })?;
            for uri in &playlists {
                let key = format!("{prefix}{uri}");
                let playlist = read_media(storage, &key).await?;
                let cut = cut::cut(&playlist, window).map_err(|err| EditError::Playlist {
                    key: key.clone(),
                    reason: err.to_string(),
                })?;
                let mut text = Vec::new();
                cut.write_to(&mut text).map_err(|err| EditError::Playlist {
                    key: key.clone(),
                    reason: err.to_string(),
                })?;
                let text = String::from_utf8_lossy(&text).into_owned();
                put_playlist(
                    storage,
                    &format!("{prefix}{}", master::cut_playlist_name(uri, k)),
                    text,
                )
                .await?;
            }
            (Some(window), window.end_s - window.start_s)
        }
    };
    let mut tracks = Vec::new();
    for caption in &edits.captions {
        let file = caption.source.rsplit('/').next().unwrap_or_default();
        storage
            .copy_media(&caption.source, &format!("{prefix}captions/{file}"))
            .await?;
        let uri = format!("captions/{}-{k}.m3u8", caption.lang);
        put_playlist(
            storage,
            &format!("{prefix}{uri}"),
            master::subtitle_playlist(file, duration_s),
        )
        .await?;
        tracks.push(master::SubtitleTrack {
            lang: caption.lang.clone(),
            label: caption.label.clone(),
            uri,
        });
    }
    let revised = master::revised(&base, k, window.is_some(), &tracks);
    let mut text = Vec::new();
    revised
        .write_to(&mut text)
        .map_err(|err| EditError::Playlist {
            key: base_key,
            reason: err.to_string(),
        })?;
    let master_key = format!("{prefix}{}", master::master_name(k));
    put_playlist(
        storage,
        &master_key,
        String::from_utf8_lossy(&text).into_owned(),
    )
    .await?;
    Ok(Written { master_key, window })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_are_checked_against_the_duration() {
        let ok = Span {
            start_s: 0.0,
            end_s: 60.0,
        };
        assert!(check_trim(ok, Some(60.0)).is_ok());
        for (bad, wanted) in [
            (
                Span {
                    start_s: -1.0,
                    end_s: 5.0,
                },
                "0 or more",
            ),
            (
                Span {
                    start_s: 5.0,
                    end_s: 5.0,
                },
                "after",
            ),
            (
                Span {
                    start_s: 0.0,
                    end_s: 61.0,
                },
                "duration (60.000 s)",
            ),
            (
                Span {
                    start_s: f64::NAN,
                    end_s: 5.0,
                },
                "numbers",
            ),
        ] {
            let err = check_trim(bad, Some(60.0)).expect_err("refused");
            assert!(err.to_string().contains(wanted), "{err}");
        }
    }

    #[test]
    fn caption_sources_are_content_addressed_in_the_signed_class() {
        let id = Uuid::now_v7();
        let a = caption_source_key(id, "en", "WEBVTT\n");
        assert!(
            a.starts_with(&format!("videos/{id}/signed/captions/en-")),
            "{a}"
        );
        assert!(a.ends_with(".vtt"));
        assert_eq!(a, caption_source_key(id, "en", "WEBVTT\n"));
        assert_ne!(a, caption_source_key(id, "en", "WEBVTT\n\n"));
    }
}
