//! What a job is and how each kind behaves in the queue: its states, and per kind its claim
//! priority, which live jobs it may not run beside, what its success does to its video, and how
//! often and how patiently it is retried. New kinds (chunks, downloads, webhook deliveries)
//! add a variant here, a value to the CHECK constraint in a migration, and nothing else in the
//! queue's SQL.

use std::time::Duration;

use uuid::Uuid;

use crate::text_enum::text_enum;

text_enum! {
    /// `jobs.state`.
    pub enum JobState {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Canceled = "canceled",
    }
}

impl JobState {
    /// Nothing more happens to the job without a user action.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }
}

text_enum! {
    /// `jobs.kind` (see migrations/0006_job_kind.sql).
    pub enum JobKind {
        /// Turns the upload into HLS; its success makes the video `ready`.
        Transcode = "transcode",
        /// Encodes the rungs below a copied top rendition, once the video is already `ready`.
        Ladder = "ladder",
        /// Copies the current version into the class (public or signed) the video's
        /// visibility now calls for, and makes the copy current.
        Republish = "republish",
        /// Sends one webhook delivery (`webhook_deliveries.job_id`); about no video.
        Webhook = "webhook",
        /// One part of a split encode (`encode_chunks.job_id`, see [`crate::chunks`]): the video
        /// rungs over a time range, or what is made once per video.
        Chunk = "chunk",
        /// Writes a split encode's playlists once every part has succeeded; its success makes
        /// the video `ready` or adds renditions to it, as the unsplit job's would have.
        Stitch = "stitch",
        /// Joins a rendition's segments and the audio into one MP4 (`downloads.job_id`, see
        /// [`crate::downloads`]); the video does not change.
        Download = "download",
        /// Cuts a precise clip's source (`raw/{clip}`) from its parent's output at the exact
        /// instants; its success enqueues the clip's `transcode`.
        Clip = "clip",
        /// Grabs one frame of the video's current version at `videos.poster_time_s` and makes
        /// it the poster (`videos.poster_name`).
        Poster = "poster",
    }
}

text_enum! {
    /// `jobs.queue`: which workers claim a job.
    pub enum JobQueue {
        /// The processors: work on video files.
        Processor = "processor",
        /// The API's webhook sender (the processors' network reaches storage only).
        Api = "api",
    }
}

/// What a job's success writes to its video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuccessEffect {
    /// The video becomes `ready` and playable, with the facts the job learnt.
    Ready,
    /// The video keeps its status; its facts (duration, size, renditions) are replaced.
    Facts,
    /// No video changes (the job is about none).
    Nothing,
}

/// How a kind's failed attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; an expired lease counts as one.
    pub max_attempts: i32,
    /// Delay after the first failed attempt; it doubles with each further one.
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The delay before the attempt after `attempt`, with ±20 % jitter so that jobs failed by
    /// one outage do not all come back at the same instant.
    pub fn backoff(&self, attempt: i32) -> Duration {
        let exp = attempt.clamp(1, 32) - 1;
        let base =
            (self.first_delay.as_secs_f64() * 2f64.powi(exp)).min(self.max_delay.as_secs_f64());
        let jitter = 0.8 + rand::random::<f64>() * 0.4;
        Duration::from_secs_f64(base * jitter)
    }
}

impl JobKind {
    /// The kinds `queue`'s workers run.
    pub fn of_queue(queue: JobQueue) -> impl Iterator<Item = JobKind> {
        Self::ALL
            .iter()
            .copied()
            .filter(move |k| k.queue() == queue)
    }

    pub fn queue(self) -> JobQueue {
        match self {
            Self::Transcode
            | Self::Ladder
            | Self::Republish
            | Self::Chunk
            | Self::Stitch
            | Self::Download
            | Self::Clip
            | Self::Poster => JobQueue::Processor,
            Self::Webhook => JobQueue::Api,
        }
    }

    /// Claim order: lower first. Work that makes a video playable or ready (class 0) goes
    /// before work that improves a video people can already watch (class 1). A chunk takes the
    /// class of the job it was split from (this is the default); a stitch is short and
    /// finishes a video.
    pub fn priority(self) -> i16 {
        match self {
            // Making a video private must not wait behind encodes.
            Self::Transcode | Self::Republish | Self::Webhook | Self::Stitch | Self::Clip => 0,
            // Someone waits for a download, but it must not hold up what makes videos
            // watchable; a poster is a second's work on a video people can already watch.
            Self::Ladder | Self::Chunk | Self::Download | Self::Poster => 1,
        }
    }

    /// The key no two live (queued or running) jobs may share: enqueueing a job whose key is
    /// taken does nothing. `None`: any number may be live. `subject` is the video the job is
    /// about, or for a webhook job its delivery.
    pub fn live_key(self, subject: Option<Uuid>) -> Option<String> {
        match self {
            // One job at a time turns a video into HLS: a second complete or submit while the
            // transcode or its ladder runs is a no-op.
            // A republish copies the current version: nothing may replace it meanwhile.
            // A split encode's stitch holds it from the split to its end.
            // A clip job is its video's first processing step: its transcode follows it.
            Self::Transcode | Self::Ladder | Self::Republish | Self::Stitch | Self::Clip => {
                subject.map(|id| format!("video-pipeline:{id}"))
            }
            // One poster job at a time per video: a second choice while one runs waits for the
            // next (the job reads the time when it runs, so the latest choice wins).
            Self::Poster => subject.map(|id| format!("video-poster:{id}")),
            // A video's chunks run side by side. Downloads of different renditions too; one
            // rendition's is enqueued once by its `downloads` row (unique per master).
            Self::Chunk | Self::Download => None,
            // A delivery is sent by one job at a time (a redelivery while one is live does
            // nothing).
            Self::Webhook => subject.map(|id| format!("webhook-delivery:{id}")),
        }
    }

    pub fn on_success(self) -> SuccessEffect {
        match self {
            Self::Transcode => SuccessEffect::Ready,
            // A stitch that ends a split transcode makes the video ready: the success
            // statement reads that from `chunked_encodes.makes_ready`.
            Self::Ladder | Self::Republish | Self::Stitch => SuccessEffect::Facts,
            // A clip job's transcode follows it; a poster job writes `poster_name` itself.
            Self::Webhook | Self::Chunk | Self::Download | Self::Clip | Self::Poster => {
                SuccessEffect::Nothing
            }
        }
    }

    /// Whether the job's failure (or cancellation, or retry) shows on its video's status. A
    /// ladder job's does not: its video is already watchable with the renditions it has. A
    /// chunk's or stitch's final failure shows through its split encode (migration 0018).
    pub fn drives_video_status(self) -> bool {
        // A precise clip whose source cannot be cut fails as an upload that cannot be read.
        self.on_success() == SuccessEffect::Ready || self == Self::Clip
    }

    /// The kinds for which [`Self::drives_video_status`] holds, for SQL (`kind = any($n)`).
    pub fn driving_video_status() -> Vec<&'static str> {
        Self::ALL
            .iter()
            .filter(|k| k.drives_video_status())
            .map(|k| k.as_str())
            .collect()
    }

    pub fn retry(self) -> RetryPolicy {
        match self {
            // A transcode repeats hours of work: a few attempts, backing off from 5 s to
            // 10 minutes.
            Self::Transcode
            | Self::Ladder
            | Self::Republish
            | Self::Stitch
            | Self::Clip
            | Self::Poster => RetryPolicy {
                max_attempts: 3,
                first_delay: Duration::from_secs(5),
                max_delay: Duration::from_secs(600),
            },
            // A chunk is about a minute of work, and a lost one stalls a whole video: one
            // attempt more, from 2 s.
            Self::Chunk => RetryPolicy {
                max_attempts: 4,
                first_delay: Duration::from_secs(2),
                max_delay: Duration::from_secs(300),
            },
            // A download copies what is in storage already: a retry is cheap, and someone is
            // waiting for it.
            Self::Download => RetryPolicy {
                max_attempts: 3,
                first_delay: Duration::from_secs(2),
                max_delay: Duration::from_secs(60),
            },
            // A receiver may be down for hours: from 10 s, doubling, to an hour apart. The
            // sender gives up after a day (`WEBHOOK_GIVE_UP_SECS`), long before the attempts
            // run out. Migration 0015's trigger inserts these jobs with these settings.
            Self::Webhook => RetryPolicy {
                max_attempts: 100,
                first_delay: Duration::from_secs(10),
                max_delay: Duration::from_secs(3600),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for &s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>().ok(), Some(s));
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::json!(s.as_str()))
            );
        }
        for &k in JobKind::ALL {
            assert_eq!(k.as_str().parse::<JobKind>().ok(), Some(k));
            assert_eq!(
                serde_json::to_value(k).ok(),
                Some(serde_json::json!(k.as_str()))
            );
        }
        assert!("done".parse::<JobState>().is_err());
        assert!("Transcode".parse::<JobKind>().is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = JobKind::Transcode.retry();
        for _ in 0..100 {
            let first = policy.backoff(1).as_secs_f64();
            assert!((4.0..=6.0).contains(&first), "{first}");
            let third = policy.backoff(3).as_secs_f64();
            assert!((16.0..=24.0).contains(&third), "{third}");
            let late = policy.backoff(40).as_secs_f64();
            assert!((480.0..=720.0).contains(&late), "{late}");
        }
    }

    #[test]
    fn pipeline_kinds_share_one_live_key_per_video() {
        let video = Uuid::now_v7();
        let key = JobKind::Transcode.live_key(Some(video));
        assert!(key.is_some());
        assert_eq!(JobKind::Ladder.live_key(Some(video)), key);
        assert_eq!(JobKind::Stitch.live_key(Some(video)), key);
        assert_eq!(JobKind::Chunk.live_key(Some(video)), None);
        assert_ne!(JobKind::Transcode.live_key(Some(Uuid::now_v7())), key);
    }
}
