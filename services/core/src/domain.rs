//! Videos as the database holds them and as the API shows them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::caller::UserRef;
use crate::chapters::Chapter;
use crate::edits::{Caption, CaptionTrack, Span};
use crate::encoding_progress::Encoding;
use crate::text_enum::text_enum;

text_enum! {
    /// Where a video is in its life; `videos.status`.
    pub enum VideoStatus {
        AwaitingUpload = "awaiting_upload",
        Queued = "queued",
        Processing = "processing",
        Ready = "ready",
        Failed = "failed",
    }
}

impl VideoStatus {
    /// No more changes will come without a user action.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Ready | Self::Failed)
    }
}

text_enum! {
    /// Who may watch a video; `videos.visibility`.
    pub enum Visibility {
        /// Listed on the public pages; anyone may watch.
        Public = "public",
        /// Anyone with the link may watch; not listed.
        Unlisted = "unlisted",
        /// Only the owner (and admins).
        Private = "private",
    }
}

/// One HLS rendition of a processed video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rendition {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bandwidth: u64,
}

/// A row of the `videos` table.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VideoRow {
    pub id: Uuid,
    pub title: String,
    pub filename: String,
    pub content_type: String,
    pub status: VideoStatus,
    pub stage: Option<String>,
    pub progress: f64,
    pub playable: bool,
    pub error: Option<String>,
    pub size_bytes: i64,
    pub duration_s: Option<f64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub renditions: sqlx::types::Json<Vec<Rendition>>,
    pub encoding: Option<sqlx::types::Json<Encoding>>,
    pub upload_id: Option<String>,
    pub part_size: i64,
    pub part_count: i32,
    pub upload_expires_at: OffsetDateTime,
    /// Uploaded while it was being written (`size_bytes` 0 until the upload completed).
    pub growing: bool,
    pub has_poster: bool,
    pub has_storyboard: bool,
    /// The published version players are given (`videos/{id}/{class}/{n}/`), if any.
    pub media_prefix: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub owner_id: Uuid,
    pub owner_username: String,
    pub visibility: Visibility,
    pub description: String,
    pub view_count: i64,
    /// Chapters on the original timeline: set by the owner, or parsed from the description.
    pub chapters: sqlx::types::Json<Vec<Chapter>>,
    /// The owner set `chapters` (`PUT …/chapters`); the description no longer does.
    pub chapters_set: bool,
    /// What the owner asked to keep of the original timeline (see [`crate::edits`]).
    pub trim_start_s: Option<f64>,
    pub trim_end_s: Option<f64>,
    pub captions: sqlx::types::Json<Vec<Caption>>,
    /// The last revision of the edits written (0: never edited).
    pub edit_revision: i32,
    /// That revision's master (a full key: it names the version it was written in).
    pub edited_master: Option<String>,
    /// What that revision's cut playlists cover of the original timeline.
    pub window_start_s: Option<f64>,
    pub window_end_s: Option<f64>,
    /// A clip's parent and the window of the parent's timeline it covers.
    pub source_video_id: Option<Uuid>,
    pub source_start_s: Option<f64>,
    pub source_end_s: Option<f64>,
    /// The poster's name in the current version when it is not `poster.jpg` (chosen by time
    /// or uploaded).
    pub poster_name: Option<String>,
}

impl VideoRow {
    /// The poster's object name in the current version, if the video has a poster.
    pub fn poster(&self) -> Option<&str> {
        match &self.poster_name {
            Some(name) => Some(name),
            None => self.has_poster.then_some(crate::storage::DEFAULT_POSTER),
        }
    }
}

/// Where a clip was cut from: its parent and the part of the parent's timeline it covers (an
/// instant clip's real window, at the parent's segment boundaries; a precise clip's exact one).
/// Player time + `start_s` is the parent's time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClipSource {
    pub video_id: Uuid,
    pub start_s: f64,
    pub end_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Playback {
    pub hls_url: Option<String>,
    pub poster_url: Option<String>,
    pub storyboard_url: Option<String>,
    /// When signed URLs stop working; `null` for a public video's plain URLs.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// The video object of the HTTP API and the websocket snapshots.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VideoView {
    pub id: Uuid,
    pub title: String,
    pub status: VideoStatus,
    pub progress: f64,
    pub playable: bool,
    pub error: Option<String>,
    pub size_bytes: i64,
    pub duration_s: Option<f64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// The renditions players can use now.
    pub renditions: Vec<Rendition>,
    /// Renditions being made now (a `ready` video may still be getting its lower rungs), or
    /// `null` when none are.
    pub encoding: Option<Encoding>,
    pub playback: Playback,
    pub visibility: Visibility,
    pub description: String,
    pub owner: UserRef,
    /// Viewers counted once per viewer per day.
    pub view_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Chapters on the original timeline, sorted, the first at 0: the ones the owner set, or
    /// else the ones the description lists (`0:00 Intro` lines, YouTube's rules). Empty when
    /// there are none. Those past the end of the video are left out.
    pub chapters: Vec<Chapter>,
    /// The part of the original timeline the owner asked to keep, or `null`.
    pub trim: Option<Span>,
    /// The part of the original timeline the playlists players get cover (cut at segment
    /// boundaries, so it contains `trim`), or `null` when they cover all of it. Players start
    /// at 0: player time + `window.start_s` = original time.
    pub window: Option<Span>,
    /// Subtitle tracks, listed in the master playlist as HLS subtitle renditions.
    pub captions: Vec<CaptionTrack>,
    /// Set on a clip: where it was cut from (`null` for other videos).
    pub source: Option<ClipSource>,
}

impl VideoView {
    /// `media_base_url` is where `videos/{id}/...` objects are publicly readable.
    pub fn from_row(row: VideoRow, media_base_url: &str) -> Self {
        let status = row.status;
        let prefix = row.media_prefix.as_deref().filter(|_| row.playable);
        let media_url = |name: &str| {
            prefix.map(|prefix| crate::storage::media_url(media_base_url, prefix, name))
        };
        let master = crate::edits::master_name(&row);
        let hls_url = master.as_deref().and_then(media_url);
        let poster_url = row.poster().and_then(media_url);
        let storyboard_url = media_url("storyboard.vtt").filter(|_| row.has_storyboard);
        let (trim, window) = (crate::edits::trim(&row), crate::edits::window(&row));
        let captions = crate::edits::caption_tracks(&row);
        let chapters = match row.duration_s {
            Some(end) => crate::chapters::within(&row.chapters.0, 0.0, end),
            None => row.chapters.0,
        };
        Self {
            id: row.id,
            title: row.title,
            status,
            progress: row.progress,
            playable: row.playable,
            error: row.error,
            size_bytes: row.size_bytes,
            duration_s: row.duration_s,
            width: row.width,
            height: row.height,
            renditions: row.renditions.0,
            encoding: row.encoding.map(|encoding| encoding.0),
            playback: Playback {
                hls_url,
                poster_url,
                storyboard_url,
                expires_at: None,
            },
            visibility: row.visibility,
            description: row.description,
            owner: UserRef {
                id: row.owner_id,
                username: row.owner_username,
            },
            view_count: row.view_count,
            created_at: row.created_at,
            updated_at: row.updated_at,
            chapters,
            trim,
            window,
            captions,
            source: match (row.source_video_id, row.source_start_s, row.source_end_s) {
                (Some(video_id), Some(start_s), Some(end_s)) => Some(ClipSource {
                    video_id,
                    start_s,
                    end_s,
                }),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{VideoStatus, Visibility};
    use crate::text_enum::assert_names_round_trip;

    #[test]
    fn status_round_trips_through_text_and_json() {
        assert_names_round_trip(VideoStatus::ALL);
        assert_names_round_trip(Visibility::ALL);
        assert_eq!(VideoStatus::Ready.as_str(), "ready");
        assert!("done".parse::<VideoStatus>().is_err());
    }
}
