//! NOTIFY channels and payloads. The triggers in `migrations/` produce them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every insert or update of a video, payload [`VideoEvent`].
pub const VIDEO_EVENTS_CHANNEL: &str = "vodnest_video_events";
/// A job became runnable; payload is the job id.
pub const JOBS_CHANNEL: &str = "vodnest_jobs";
/// A job was canceled or deleted; payload is the job id.
pub const JOB_STOPPED_CHANNEL: &str = "vodnest_job_stopped";

/// A video's state as carried by a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoEvent {
    pub id: Uuid,
    pub status: String,
    pub progress: f64,
    pub playable: bool,
    pub stage: Option<String>,
    pub error: Option<String>,
}
