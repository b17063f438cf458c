//! Running one claimed job: probe the raw file (read from S3 as ffmpeg goes), transcode it to
//! HLS, upload the output, and record the outcome. A heartbeat renews the lease meanwhile;
//! losing the lease (another attempt took the job, or the video was deleted) stops the work.
//!
//! A source that can be copied into the top rendition (the remux fast path) is made `ready`
//! with that rendition alone, in about the time it takes to copy it; the success enqueues a
//! `ladder` job that encodes the rungs below it, the poster and the storyboard, and then
//! publishes the master playlist that lists them all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use vodnest_core::domain::Rendition;
use vodnest_core::group_commit::GroupCommit;
use vodnest_core::queue::{self, ClaimedJob, Claimer, FailOutcome, JobKind, QueueError};
use vodnest_core::storage::{Storage, StorageError, media_prefix};
use vodnest_core::videos::{self, MediaFacts};

use crate::backlog;
use crate::config::ProcessorConfig;
use crate::media::{self, MediaError, fastpath, hls, probe, process, storyboard};
use crate::publish::{Master, PublishError, Published, Publisher, move_to_storage};

const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// Until the video is playable, its first segments are looked for this often.
const PUBLISH_FIRST_EVERY: Duration = Duration::from_millis(200);
/// The source URL outlives the transcode timeout by this much (probe, poster, storyboard).
const SOURCE_URL_SLACK: Duration = Duration::from_secs(3600);

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
}

impl JobError {
    /// Worth another attempt: storage or database trouble, not bad input.
    fn is_transient(&self) -> bool {
        match self {
            Self::Media(e) => !e.is_permanent() && !matches!(e, MediaError::Canceled),
            Self::Storage(e) => e.is_transient(),
            Self::Publish(PublishError::Storage(e)) => e.is_transient(),
            Self::Publish(PublishError::Io(_)) => true,
            Self::Db(_) | Self::Io(_) => true,
            Self::RawMissing | Self::LeaseLost | Self::Stopped | Self::Shutdown => false,
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
/// in the same statement.
pub async fn run(
    ctx: Arc<JobContext>,
    job: ClaimedJob,
    stopped: CancellationToken,
    shutdown: CancellationToken,
    next: Option<Claimer>,
) -> Option<ClaimedJob> {
    let span = tracing::info_span!("job", job_id = %job.id, video_id = %job.video_id, attempt = job.attempt);
    async move {
        let started = Instant::now();
        tracing::info!("job started");
        let lease_lost = CancellationToken::new();
        let heartbeat = tokio::spawn(heartbeat(ctx.clone(), job.clone(), lease_lost.clone()));
        let work = CancellationToken::new();
        let result = {
            let work_guard = work.clone();
            tokio::select! {
                result = process(&ctx, &job, &work) => result,
                _ = lease_lost.cancelled() => { work_guard.cancel(); Err(JobError::LeaseLost) }
                _ = stopped.cancelled() => { work_guard.cancel(); Err(JobError::Stopped) }
                _ = shutdown.cancelled() => { work_guard.cancel(); Err(JobError::Shutdown) }
            }
        };
        heartbeat.abort();
        record(&ctx, &job, result, started.elapsed(), next.as_ref()).await
    }
    .instrument(span)
    .await
}

/// What a successful job leaves behind.
struct Done {
    facts: MediaFacts,
    follow_up: Option<JobKind>,
}

async fn record(
    ctx: &JobContext,
    job: &ClaimedJob,
    result: Result<Done, JobError>,
    took: Duration,
    claimer: Option<&Claimer>,
) -> Option<ClaimedJob> {
    let mut next = None;
    let recorded = match result {
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
        Err(JobError::Shutdown) => queue::release(&ctx.pool, job)
            .await
            .map(|()| tracing::info!("job released for another processor")),
        Err(JobError::LeaseLost) => Err(QueueError::Fenced(job.id)),
        // A canceled ladder job's video is watchable: only a deleted one loses its output.
        Err(JobError::Stopped) if job.kind == JobKind::Ladder => {
            remove_orphaned_output(ctx, job).await;
            Ok(())
        }
        Err(JobError::Stopped) => {
            tracing::info!("job canceled; removing its partial output");
            if let Err(err) = ctx.storage.delete_media(job.video_id).await {
                tracing::warn!(error = %err, "cannot remove the partial output");
            }
            Ok(())
        }
        Err(err) => {
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
    match recorded {
        Ok(()) => {}
        Err(QueueError::Fenced(_)) => {
            tracing::warn!("lease lost; leaving the job to its new owner");
            remove_orphaned_output(ctx, job).await;
        }
        Err(err) => tracing::error!(error = %err, "cannot record the job's outcome"),
    }
    next
}

/// If the video was deleted while we worked, what we uploaded belongs to no one.
async fn remove_orphaned_output(ctx: &JobContext, job: &ClaimedJob) {
    match videos::get(&ctx.pool, job.video_id).await {
        Ok(None) => {
            if let Err(err) = ctx.storage.delete_media(job.video_id).await {
                tracing::warn!(error = %err, "cannot remove the output of a deleted video");
            }
        }
        Ok(Some(_)) => {}
        Err(err) => tracing::warn!(error = %err, "cannot check whether the video still exists"),
    }
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

/// What this job's ffmpeg run writes and publishes.
struct Work {
    /// Every rendition ffmpeg writes (and the video lists once this job succeeds).
    plan: Vec<hls::RenditionPlan>,
    /// The ones already in storage (a ladder job's copied top rung).
    already_published: Vec<String>,
    /// A transcode job that published the copy alone leaves the ladder to this job.
    follow_up: Option<JobKind>,
}

impl Work {
    /// A transcode job: the whole ladder, or the copied top rung alone with a ladder job to
    /// follow, which makes the video watchable in about the time the copy takes.
    fn transcode(plan: Vec<hls::RenditionPlan>) -> Self {
        let copied_first = plan.len() > 1 && plan[0].copy;
        let plan = if copied_first {
            plan[..1].to_vec()
        } else {
            plan
        };
        Self {
            plan,
            already_published: Vec::new(),
            follow_up: copied_first.then_some(JobKind::Ladder),
        }
    }

    /// A ladder job: the same plan as its transcode job's, the top rung now in storage.
    fn ladder(plan: Vec<hls::RenditionPlan>) -> Self {
        Self {
            already_published: plan.iter().take(1).map(|r| r.name.clone()).collect(),
            plan,
            follow_up: None,
        }
    }

    /// The job that completes the ladder also makes the poster and the storyboard.
    fn completes_ladder(&self) -> bool {
        self.follow_up.is_none()
    }

    fn master(&self) -> Master {
        if self.follow_up.is_some() {
            Master::Partial
        } else if self.already_published.is_empty() {
            Master::Complete
        } else {
            Master::Extended
        }
    }
}

async fn process(
    ctx: &JobContext,
    job: &ClaimedJob,
    cancel: &CancellationToken,
) -> Result<Done, JobError> {
    let id = job.video_id;
    // The video is `ready` during a ladder job: its progress and stage stay as they are.
    let transcoding = job.kind == JobKind::Transcode;
    let scratch = match &ctx.config.work_dir {
        Some(dir) => tempfile::Builder::new()
            .prefix("vodnest-job-")
            .tempdir_in(dir)?,
        None => tempfile::Builder::new().prefix("vodnest-job-").tempdir()?,
    };
    let out_dir = scratch.path().join("hls");
    tokio::fs::create_dir_all(&out_dir).await?;

    match ctx.storage.raw_size(id).await? {
        None => return Err(JobError::RawMissing),
        Some(0) => return Err(MediaError::NotAVideo("the file is empty".into()).into()),
        Some(_) => {}
    }
    // ffprobe and ffmpeg read the raw file from S3 with range requests: nothing is downloaded
    // first, so processing starts at once and the disk holds only a few segments.
    let input = media::Source::Url(
        ctx.storage
            .presign_raw_get(id, ctx.config.transcode_timeout() + SOURCE_URL_SLACK)
            .await?,
    );

    if transcoding {
        videos::set_progress(&ctx.pool, id, "probing", 0.05).await?;
    }
    let probed = probe::probe(&input, ctx.config.probe_timeout()).await?;
    let work = match job.kind {
        JobKind::Transcode => Work::transcode(plan(ctx, &input, &probed).await),
        // Enqueued only by a transcode job that copied the top rung.
        JobKind::Ladder => Work::ladder(hls::plan(&probed, &ctx.config.ladder, true)),
    };

    // The poster and the seek previews are made beside the encode: they decode one frame and
    // the keyframes, and mostly wait on range reads of the source.
    let extras = async {
        if work.completes_ladder() {
            let poster_path = scratch.path().join("poster.jpg");
            poster(ctx, id, &input, &poster_path, &probed, cancel).await?;
            let sheets = scratch.path().join(storyboard::DIR);
            storyboard(ctx, id, &input, &sheets, &probed, cancel).await?;
        }
        Ok::<(), JobError>(())
    };
    let encoding = async {
        if transcoding {
            videos::set_progress(&ctx.pool, id, "transcoding", 0.1).await?;
        }
        let (progress_tx, progress_rx) = watch::channel(0.0f64);
        let reporter =
            transcoding.then(|| tokio::spawn(report_progress(ctx.pool.clone(), id, progress_rx)));
        let mut publisher = Publisher::new(
            &ctx.storage,
            media_prefix(id),
            &out_dir,
            &work.plan,
            hls::output_frame_rate(&probed),
        )
        .with_master(work.master())
        .already_published(work.already_published.iter().cloned());
        let (pause, paused) = watch::channel(false);
        let transcode = hls::transcode(
            &input,
            &out_dir,
            &probed,
            &work.plan,
            move |fraction| {
                progress_tx.send_replace(fraction);
            },
            process::Control::new(cancel, ctx.config.transcode_timeout()).pausable(paused),
        );
        let renditions =
            publish_while_encoding(ctx, id, &mut publisher, &out_dir, transcode, &pause).await;
        if let Some(reporter) = reporter {
            reporter.abort();
        }
        let renditions = renditions?;
        if transcoding {
            videos::set_progress(&ctx.pool, id, "finalizing", 0.95).await?;
        }
        publish(ctx, id, &mut publisher, true).await?;
        tracing::info!(files = publisher.files_uploaded(), "output published");
        Ok::<_, JobError>(renditions)
    };
    let (renditions, ()) = tokio::try_join!(encoding, extras)?;
    Ok(Done {
        facts: facts(&probed, renditions),
        follow_up: work.follow_up,
    })
}

/// The plan for a transcode job: a source that already is what the top rendition would be is
/// copied, not encoded.
async fn plan(
    ctx: &JobContext,
    input: &media::Source,
    probed: &probe::Probe,
) -> Vec<hls::RenditionPlan> {
    let keyframe_gap = fastpath::keyframe_gap(input, probed.duration_s, ctx.config.probe_timeout())
        .await
        .unwrap_or_else(|err| {
            tracing::warn!(error = %err, "cannot read the keyframe spacing");
            None
        });
    let not_copied = fastpath::refusal(probed, keyframe_gap);
    let plan = hls::plan(probed, &ctx.config.ladder, not_copied.is_none());
    tracing::info!(
        duration_s = probed.duration_s,
        width = probed.width,
        height = probed.height,
        codec = %probed.video_codec,
        renditions = plan.len(),
        fast_path = not_copied.is_none(),
        not_copied = not_copied.as_deref().unwrap_or(""),
        "probed"
    );
    plan
}

/// Writes and publishes the seek previews. A source whose sheets cannot be made still gets
/// its HLS.
async fn storyboard(
    ctx: &JobContext,
    id: uuid::Uuid,
    input: &media::Source,
    sheets: &std::path::Path,
    probed: &probe::Probe,
    cancel: &CancellationToken,
) -> Result<(), JobError> {
    let board = storyboard::plan(probed);
    match storyboard::write(
        input,
        sheets,
        &board,
        cancel,
        ctx.config.transcode_timeout(),
    )
    .await
    {
        Ok(()) => publish_storyboard(ctx, id, sheets, &board, probed.duration_s).await,
        Err(MediaError::Canceled) => Err(MediaError::Canceled.into()),
        Err(err) => {
            tracing::warn!(error = %err, "no storyboard");
            Ok(())
        }
    }
}

/// Runs `encoding` while publishing what it has closed so far, and holds it (paused) whenever
/// its output outruns the uploads.
async fn publish_while_encoding(
    ctx: &JobContext,
    id: uuid::Uuid,
    publisher: &mut Publisher<'_>,
    out_dir: &std::path::Path,
    encoding: impl Future<Output = Result<Vec<Rendition>, MediaError>>,
    pause: &watch::Sender<bool>,
) -> Result<Vec<Rendition>, JobError> {
    // ffmpeg would make them; made (and watched) before it starts, no closed file is missed.
    let rendition_dirs = publisher.rendition_dirs();
    for dir in &rendition_dirs {
        tokio::fs::create_dir_all(dir).await?;
    }
    let closes = backlog::FileCloses::watch(&rendition_dirs)
        .inspect_err(|err| tracing::warn!(error = %err, "no inotify; polling the output instead"))
        .ok();
    let subscribe = || closes.as_ref().map(backlog::FileCloses::subscribe);
    let finished = CancellationToken::new();
    let encode = async {
        let result = encoding.await;
        finished.cancel();
        result.map_err(JobError::from)
    };
    let mut paused = pause.subscribe();
    let mut first_segments = subscribe();
    let publishing = async {
        let mut playable = false;
        loop {
            // A paused ffmpeg waits for this pass: it starts at once.
            if !*pause.borrow() {
                let wait = if playable {
                    PUBLISH_EVERY
                } else {
                    PUBLISH_FIRST_EVERY
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    // Until playable, every file ffmpeg closes may be a first segment.
                    _ = backlog::next_close(&mut first_segments),
                        if !playable && first_segments.is_some() => {}
                    _ = paused.wait_for(|paused| *paused) => {}
                    _ = finished.cancelled() => return Ok(()),
                }
            }
            playable |= publish(ctx, id, publisher, false).await?;
            // Everything ffmpeg closed is uploaded: it may go on.
            pause.send_replace(false);
        }
    };
    let watching = backlog::hold_back(out_dir, subscribe(), pause);
    let publishing = async {
        tokio::select! {
            done = publishing => done,
            never = watching => match never {},
        }
    };
    let (renditions, ()) = tokio::try_join!(encode, publishing)?;
    Ok(renditions)
}

/// One publishing pass; the pass that puts the master playlist up makes the video playable.
/// Returns whether the video is playable.
async fn publish(
    ctx: &JobContext,
    id: uuid::Uuid,
    publisher: &mut Publisher<'_>,
    last: bool,
) -> Result<bool, JobError> {
    Ok(match publisher.pass(last).await? {
        Published::BecamePlayable => {
            videos::mark_playable(&ctx.pool, id).await?;
            tracing::info!("playable");
            true
        }
        Published::Playable => true,
        Published::NotYet => false,
    })
}

/// Uploads the storyboard's sheets, then its track (which names them), and records it.
async fn publish_storyboard(
    ctx: &JobContext,
    id: uuid::Uuid,
    dir: &std::path::Path,
    board: &storyboard::Storyboard,
    duration_s: f64,
) -> Result<(), JobError> {
    let prefix = media_prefix(id);
    let mut sheets = 0;
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let key = format!(
            "{}/{}",
            storyboard::DIR,
            entry.file_name().to_string_lossy()
        );
        move_to_storage(&ctx.storage, &prefix, &key, &entry.path()).await?;
        sheets += 1;
    }
    if sheets == 0 {
        tracing::warn!("ffmpeg wrote no storyboard sheet");
        return Ok(());
    }
    let (content_type, cache_control) = hls::headers("storyboard.vtt");
    ctx.storage
        .put_media_bytes(
            &format!("{prefix}storyboard.vtt"),
            board.vtt(duration_s).into_bytes(),
            content_type,
            cache_control,
        )
        .await?;
    videos::mark_storyboard(&ctx.pool, id).await?;
    Ok(())
}

/// Writes and uploads the poster. A source whose frame cannot be grabbed still gets its HLS.
async fn poster(
    ctx: &JobContext,
    id: uuid::Uuid,
    input: &media::Source,
    out: &std::path::Path,
    probed: &probe::Probe,
    cancel: &CancellationToken,
) -> Result<(), JobError> {
    if let Err(err) =
        media::poster::write(input, out, probed, cancel, ctx.config.probe_timeout()).await
    {
        if matches!(err, MediaError::Canceled) {
            return Err(err.into());
        }
        tracing::warn!(error = %err, "no poster");
        return Ok(());
    }
    move_to_storage(&ctx.storage, &media_prefix(id), "poster.jpg", out).await?;
    videos::mark_poster(&ctx.pool, id).await?;
    Ok(())
}

/// Writes transcoding progress (0.1..0.9 overall) at most twice a second.
async fn report_progress(pool: PgPool, id: uuid::Uuid, mut progress: watch::Receiver<f64>) {
    let mut last_write = Instant::now() - Duration::from_secs(1);
    while progress.changed().await.is_ok() {
        let wait = Duration::from_millis(500).saturating_sub(last_write.elapsed());
        tokio::time::sleep(wait).await;
        let fraction = *progress.borrow_and_update();
        last_write = Instant::now();
        if let Err(err) = videos::set_progress(&pool, id, "transcoding", 0.1 + 0.8 * fraction).await
        {
            tracing::warn!(error = %err, "cannot record progress");
        }
    }
}

fn facts(probed: &probe::Probe, renditions: Vec<vodnest_core::domain::Rendition>) -> MediaFacts {
    MediaFacts {
        duration_s: Some(probed.duration_s),
        width: i32::try_from(probed.width).ok(),
        height: i32::try_from(probed.height).ok(),
        renditions,
    }
}
