//! NOTIFY channels and payloads. The triggers in `migrations/` produce them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::VideoStatus;
use crate::encoding_progress::Encoding;

/// Every insert, update or delete of a video, payload [`VideoEvent`].
pub const VIDEO_EVENTS_CHANNEL: &str = "vodnest_video_events";
/// A key or a user lost rights (revoked, removed, changed): caches of keys empty.
pub const KEYS_CHANGED_CHANNEL: &str = "vodnest_keys_changed";
/// A job became runnable; payload is the job id.
pub const JOBS_CHANNEL: &str = "vodnest_jobs";
/// A job was canceled or deleted; payload is the job id.
pub const JOB_STOPPED_CHANNEL: &str = "vodnest_job_stopped";

/// A video's state as carried by a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VideoEvent {
    pub id: Uuid,
    pub status: VideoStatus,
    pub progress: f64,
    pub playable: bool,
    pub stage: Option<String>,
    pub error: Option<String>,
    /// The video was deleted (migrations/0008_video_deleted_notify.sql).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// The renditions being made (migrations/0017_encoding_progress.sql). Websockets send it
    /// in `encoding` frames of its own, when it changes: status frames leave it out.
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub encoding: Option<Encoding>,
}
