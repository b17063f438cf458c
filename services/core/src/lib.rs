//! Code shared by the vodnest services.
//!
//! - [`cloudfront`]: CloudFront signed URLs (custom policies) for unlisted and private playback.
//! - [`cloudwatch`]: the queue's CloudWatch metrics (Embedded Metric Format lines on stdout).
//! - [`config`]: typed configuration read from the environment or flags.
//! - [`db`]: the Postgres pool and the embedded migrations.
//! - [`storage`]: the S3 client and the object layout (raw uploads, HLS output).
//! - [`domain`]: videos, their status and the JSON shape the API returns; [`chapters`]: their
//!   chapters (checked, parsed from descriptions, as a WebVTT track); [`webvtt`]: cue timings
//!   and text.
//! - [`videos`]: reads and writes of the `videos` table; [`encoding_progress`]: the renditions
//!   a video's processing is still making, and how far along it is.
//! - [`job_kind`]: job states and kinds, and each kind's priority, uniqueness, effect and retries.
//! - [`queue`]: the Postgres job queue (enqueue, claim under a lease, fenced completion).
//! - [`chunks`]: split-and-stitch encoding: a long encode as parts any processor runs.
//! - [`clips`]: instant clips' playlists, and the segments a precise clip or a poster reads.
//! - [`group_commit`]: one commit for the job successes a processor reports together.
//! - [`events`]: the NOTIFY channels and their payloads.
//! - [`caller`]: roles, scopes and the authenticated caller.
//! - [`auth`]: API keys and browser sessions, turned into callers.
//! - [`users`]: users, passwords (Argon2id) and invites.
//! - [`audit`]: the audit log; [`sign_in_backoff`]: the wait imposed after failed sign-ins.
//! - [`webhooks`]: users' webhook endpoints, their delivery log and each attempt's outcome.
//! - [`viewers`]: view counts without personal data (daily salted viewer digests).
//! - [`jobs`]: inspecting and steering jobs (the processor's control plane).
//! - [`playlist_cut`]: a VOD playlist cut at segment boundaries; [`media_refs`]: playlists
//!   that point into other videos' versions (instant clips), and what keeps those alive.
//! - [`secret`]: settings that `Debug` shows redacted.
//! - [`shutdown`]: the signal both services stop on.
//! - [`telemetry`]: tracing set-up; [`traces`]: the OTLP span exporter; [`trace_context`]: the
//!   trace context carried from a request into its jobs.

pub mod audit;
pub mod auth;
pub mod caller;
pub mod captions;
pub mod cdn;
pub mod chapters;
pub mod chunks;
pub mod clips;
pub mod cloudfront;
pub mod cloudwatch;
pub mod config;
pub mod db;
pub mod domain;
pub mod downloads;
pub mod edits;
pub mod encoding_progress;
pub mod events;
pub mod group_commit;
pub mod job_kind;
pub mod jobs;
pub mod media_refs;
pub mod metrics;
pub mod playlist_cut;
pub mod queue;
pub mod retention;
pub mod secret;
pub mod shutdown;
pub mod sign_in_backoff;
pub mod signing;
pub mod storage;
pub mod telemetry;
pub mod text_enum;
pub mod trace_context;
pub mod traces;
pub mod users;
pub mod videos;
pub mod viewers;
pub mod webhooks;
pub mod webvtt;
