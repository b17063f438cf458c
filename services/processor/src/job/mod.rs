//! One claimed job's lifecycle: the work runs under a heartbeat that renews the lease; losing
//! the lease (another attempt took the job, or the video was deleted), a cancel or the end of
//! the shutdown grace stops it; and the outcome is recorded (success, retry, failure, release).
//!
//! - [`encode`]: the work itself: probe the raw file (read from S3 as ffmpeg goes), plan the
//!   renditions, transcode them to HLS and publish the output.
//! - [`extras`]: the poster and the storyboard, made beside the encode.
//! - [`split`], [`chunk`], [`stitch`]: a long encode split into parts that any processor runs,
//!   and the stitch that writes the playlists once they all succeeded.
//! - [`download`]: a rendition and its audio joined into one MP4, S3 to S3.
//!
//! A source that can be copied into the top rendition (the remux fast path) is made `ready`
//! with that rendition alone, in about the time it takes to copy it; the success enqueues a
//! `ladder` job that encodes the rungs below it, the poster and the storyboard, and then
//! publishes the master playlist that lists them all.

mod chunk;
mod clip;
mod download;
mod encode;
mod extras;
mod poster;
mod progress;
mod republish;
mod segments;
mod split;
mod stitch;
mod versions;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use vodnest_core::group_commit::GroupCommit;
use vodnest_core::queue::{self, ClaimedJob, Claimer, FailOutcome, JobKind, QueueError};
use vodnest_core::storage::{Storage, StorageError};
use vodnest_core::videos::MediaFacts;

use crate::config::ProcessorConfig;
use crate::media::MediaError;
use crate::publish::PublishError;

/// What a job needs from its processor.
pub struct JobContext {
    pub pool: PgPool,
    pub storage: Storage,
    pub config: Arc<ProcessorConfig>,
    /// Records this processor's successes, several to a commit when they come together.
    successes: GroupCommit,
}

impl JobContext {
    /// Needs a Tokio runtime (it starts the group-commit task).
    pub fn new(pool: PgPool, storage: Storage, config: ProcessorConfig) -> Self {
        Self {
            successes: GroupCommit::start(pool.clone()),
            pool,
            storage,
            config: Arc::new(config),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Media(#[from] MediaError),
    #[error("{0}")]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Publish(#[from] PublishError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("scratch files: {0}")]
    Io(#[from] std::io::Error),
    #[error("the uploaded file is missing from storage")]
    RawMissing,
    /// The lease was lost: another attempt owns the job now, or the job is gone.
    #[error("the job was taken over or canceled")]
    LeaseLost,
    /// The job was canceled or its video deleted.
    #[error("the job was canceled")]
    Stopped,
    /// The processor is shutting down.
    #[error("the processor is shutting down")]
    Shutdown,
    /// A kind of job from another queue (the claim never returns one).
    #[error("a {0} job is not the processors' work")]
    NotOurs(JobKind),
    /// A split encode's plan that this processor cannot read (written by another version).
    #[error("unreadable split plan: {0}")]
    BadPlan(String),
    /// What a clip or a poster is read from: its parent's or its own playlists.
    #[error("{0}")]
    Playlists(#[from] vodnest_core::clips::ClipsError),
    /// A clip that cannot be cut (its parent is gone, say).
    #[error("the clip cannot be cut: {0}")]
    Clip(String),
}

impl JobError {
    /// Worth another attempt: storage or database trouble, not bad input.
    fn is_transient(&self) -> bool {
        match self {
            Self::Media(e) => e.is_transient(),
            Self::Storage(e) => e.is_transient(),
            Self::Publish(PublishError::Storage(e)) => e.is_transient(),
            Self::Publish(PublishError::Io(_) | PublishError::Db(_)) => true,
            // A playlist m3u8-rs cannot read reads the same on the next attempt.
            Self::Publish(PublishError::Playlist(_) | PublishError::Segment(_)) => false,
            Self::Db(_) | Self::Io(_) => true,
            Self::Playlists(vodnest_core::clips::ClipsError::Storage(e)) => e.is_transient(),
            Self::Playlists(_) | Self::Clip(_) => false,
            Self::RawMissing
            | Self::LeaseLost
            | Self::Stopped
            | Self::Shutdown
            | Self::NotOurs(_)
            | Self::BadPlan(_) => false,
        }
    }
}

/// The processor's job: transcode the video to HLS.
pub struct Transcode(pub Arc<JobContext>);

impl crate::worker::JobRunner for Transcode {
    async fn run(
        &self,
        job: ClaimedJob,
        stopped: CancellationToken,
        shutdown: CancellationToken,
        next: Option<Claimer>,
    ) -> Option<ClaimedJob> {
        run(self.0.clone(), job, stopped, shutdown, next).await
    }
}

/// Runs the job to an outcome recorded in the database. `stopped` fires when the job is
/// canceled or deleted; `shutdown` when the processor gives up waiting for its jobs: the job
/// is then released for another processor. On success with `next`, returns the job claimed
/// in the same statement. It runs in the job's span, which the claim loop opens.
pub async fn run(
    ctx: Arc<JobContext>,
    job: ClaimedJob,
    stopped: CancellationToken,
    shutdown: CancellationToken,
    next: Option<Claimer>,
) -> Option<ClaimedJob> {
    let started = Instant::now();
    tracing::info!("job started");
    let lease_lost = CancellationToken::new();
    let heartbeat = tokio::spawn(heartbeat(ctx.clone(), job.clone(), lease_lost.clone()));
    let work = CancellationToken::new();
    // Allocated before the work starts, so that whatever ends the work, its clean-up
    // knows which version is this run's.
    let (version, result) = match versions::start(&ctx, &job).await {
        Ok(prefix) => {
            let work_guard = work.clone();
            let result = tokio::select! {
                result = work_on(&ctx, &job, &prefix, &work) => result,
                _ = lease_lost.cancelled() => { work_guard.cancel(); Err(JobError::LeaseLost) }
                _ = stopped.cancelled() => { work_guard.cancel(); Err(JobError::Stopped) }
                _ = shutdown.cancelled() => { work_guard.cancel(); Err(JobError::Shutdown) }
            };
            (Some(prefix), result)
        }
        Err(err) => (None, Err(err)),
    };
    heartbeat.abort();
    let run = Run {
        job: &job,
        version: version.as_deref(),
    };
    record(&ctx, &run, result, started.elapsed(), next.as_ref()).await
}

/// The work of the job's kind.
async fn work_on(
    ctx: &JobContext,
    job: &ClaimedJob,
    prefix: &str,
    cancel: &CancellationToken,
) -> Result<Done, JobError> {
    // Each kind's future is boxed: inline, this one would be as large as the largest of them
    // (ffmpeg runs, uploads and box rewriting hold a lot across awaits), and with seven kinds a
    // debug build overflowed a 2 MiB thread stack.
    match job.kind {
        JobKind::Transcode | JobKind::Ladder => {
            Box::pin(encode::process(ctx, job, prefix, cancel)).await
        }
        JobKind::Chunk => Box::pin(chunk::run(ctx, job, prefix, cancel)).await,
        JobKind::Stitch => Box::pin(stitch::run(ctx, job, prefix)).await,
        JobKind::Republish => Box::pin(republish::run(ctx, job, prefix)).await,
        JobKind::Download => Box::pin(download::run(ctx, job)).await,
        JobKind::Clip => Box::pin(clip::run(ctx, job, cancel)).await,
        JobKind::Poster => Box::pin(poster::run(ctx, job, prefix, cancel)).await,
        JobKind::Webhook => Err(JobError::NotOurs(job.kind)),
    }
}

/// What a successful job leaves behind.
struct Done {
    facts: MediaFacts,
    follow_up: Option<JobKind>,
    /// The success is recorded already: the job was split, and its parts enqueued in the same
    /// transaction (see `split`).
    recorded: bool,
}

impl Done {
    /// A success that changes nothing on the video (a part of a split encode).
    fn nothing() -> Self {
        Self {
            facts: MediaFacts::default(),
            follow_up: None,
            recorded: false,
        }
    }

    /// The job was split: its success went with its parts.
    fn recorded() -> Self {
        Self {
            recorded: true,
            ..Self::nothing()
        }
    }
}

/// The attempt being recorded, and the version it published to (none when it failed before
/// it had one).
pub(super) struct Run<'a> {
    job: &'a ClaimedJob,
    version: Option<&'a str>,
}

async fn record(
    ctx: &JobContext,
    run: &Run<'_>,
    result: Result<Done, JobError>,
    took: Duration,
    claimer: Option<&Claimer>,
) -> Option<ClaimedJob> {
    let job = run.job;
    let mut next = None;
    record_metrics(job.kind, &result, took);
    let succeeded = matches!(
        result,
        Ok(Done {
            recorded: false,
            ..
        })
    );
    let recorded = match result {
        Ok(Done { recorded: true, .. }) => {
            tracing::info!(took_s = took.as_secs_f64(), "job split into parts");
            Ok(())
        }
        Ok(done) => ctx
            .successes
            .succeed_and_claim(job, &done.facts, done.follow_up, claimer)
            .await
            .and_then(|done| {
                let recorded = done.recorded_for(job);
                next = done.next;
                recorded
            })
            .map(|()| {
                tracing::info!(
                    took_s = took.as_secs_f64(),
                    kind = job.kind.as_str(),
                    "job succeeded"
                )
            }),
        Err(err) => record_failure(ctx, run, err).await,
    };
    match recorded {
        Ok(()) if succeeded => reapply_edits(ctx, job).await,
        Ok(()) => {}
        Err(QueueError::Fenced(_)) => {
            tracing::warn!("lease lost; leaving the job to its new owner");
            versions::discard(ctx, run).await;
        }
        Err(err) => tracing::error!(error = %err, "cannot record the job's outcome"),
    }
    next
}

/// After a success that changed what the video's `master.m3u8` lists (a ladder job's rungs,
/// a stitch) or which version is current (a transcode, a republish), its edits (trim,
/// captions) are written again on that output as their next revision (see
/// `vodnest_core::edits`); a video never edited costs one read. Until then players get the
/// plain master of the version: a failure here is logged, not the job's.
async fn reapply_edits(ctx: &JobContext, job: &ClaimedJob) {
    let changes_output = matches!(
        job.kind,
        JobKind::Transcode | JobKind::Ladder | JobKind::Stitch | JobKind::Republish
    );
    if !changes_output {
        return;
    }
    match vodnest_core::edits::reapply(&ctx.pool, &ctx.storage, job.video_id).await {
        Ok(Some(row)) => {
            tracing::info!(
                revision = row.edit_revision,
                "edits written on the new output"
            )
        }
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(error = %err, "cannot write the video's edits on its new output")
        }
    }
}

/// How long the job took and how it ended; for a job that made HLS, its speed (× realtime).
/// Counts an attempt of `kind` that ended with `outcome` after `took` (every attempt does; the
/// queue bench's runner too, to measure what metrics cost).
pub fn count_attempt(kind: JobKind, outcome: &'static str, took: Duration) {
    let kind = kind.as_str();
    metrics::counter!("vodnest_jobs_finished_total", "kind" => kind, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("vodnest_job_duration_seconds", "kind" => kind, "outcome" => outcome)
        .record(took.as_secs_f64());
}

fn record_metrics(kind: JobKind, result: &Result<Done, JobError>, took: Duration) {
    let outcome = match result {
        Ok(_) => "succeeded",
        Err(JobError::Shutdown) => "released",
        Err(JobError::LeaseLost) => "lease_lost",
        Err(JobError::Stopped) => "canceled",
        Err(err) if err.is_transient() => "retried",
        Err(_) => "failed",
    };
    count_attempt(kind, outcome, took);
    let kind = kind.as_str();
    match result {
        Ok(done) => {
            let media = done.facts.duration_s.unwrap_or(0.0);
            if media > 0.0 && took.as_secs_f64() > 0.0 && !done.facts.renditions.is_empty() {
                metrics::histogram!("vodnest_job_speed_ratio", "kind" => kind)
                    .record(media / took.as_secs_f64());
            }
        }
        Err(JobError::Media(err)) => {
            metrics::counter!("vodnest_ffmpeg_failures_total", "reason" => err.reason())
                .increment(1);
        }
        Err(_) => {}
    }
}

/// Releases, drops or fails the job as `err` calls for, then removes what the run published
/// that no one will be given.
async fn record_failure(ctx: &JobContext, run: &Run<'_>, err: JobError) -> Result<(), QueueError> {
    let job = run.job;
    let recorded = match err {
        JobError::Shutdown => queue::release(&ctx.pool, job)
            .await
            .map(|()| tracing::info!("job released for another processor")),
        JobError::LeaseLost => return Err(QueueError::Fenced(job.id)),
        JobError::Stopped => {
            tracing::info!("job canceled");
            Ok(())
        }
        err => {
            let message = err.to_string();
            let transient = err.is_transient();
            queue::fail(&ctx.pool, job, &message, transient)
                .await
                .map(|outcome| match outcome {
                    FailOutcome::RetryAt(at) => {
                        tracing::warn!(error = %message, retry_at = %at, "attempt failed; will retry")
                    }
                    FailOutcome::Failed => tracing::warn!(error = %message, "job failed"),
                })
        }
    };
    if recorded.is_ok() {
        versions::discard(ctx, run).await;
    }
    recorded
}

/// Renews the lease until aborted; fires `lost` when another attempt owns the job.
async fn heartbeat(ctx: Arc<JobContext>, job: ClaimedJob, lost: CancellationToken) {
    let mut every = tokio::time::interval(ctx.config.heartbeat_every());
    every.tick().await;
    loop {
        every.tick().await;
        match queue::heartbeat(&ctx.pool, &job, ctx.config.lease()).await {
            Ok(()) => {}
            Err(QueueError::Fenced(_)) => {
                lost.cancel();
                return;
            }
            // The lease has some slack: keep trying; a real outage ends in a lost lease.
            Err(err) => tracing::warn!(error = %err, "heartbeat failed"),
        }
    }
}
