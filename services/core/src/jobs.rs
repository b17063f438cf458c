//! Inspecting and steering jobs: what the processor's gRPC control plane calls.

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::cloudwatch::QueueSample;
use crate::domain::VideoStatus;
use crate::queue::{self, JobKind, JobState};

/// A job with its video's progress.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub video_id: Uuid,
    pub state: JobState,
    pub kind: JobKind,
    pub attempt: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub worker_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub run_at: OffsetDateTime,
    pub lease_expires_at: Option<OffsetDateTime>,
    pub progress: f64,
    pub stage: Option<String>,
    pub video_status: VideoStatus,
    pub playable: bool,
}

impl JobRow {
    pub fn is_terminal(&self) -> bool {
        self.state.is_terminal()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    InvalidState(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// `sqlx::query_as!` into a [`JobRow`]: jobs joined to their videos, then `$rest` (where,
/// order, limit).
macro_rules! query_job {
    ($rest:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            JobRow,
            r#"select j.id, j.video_id as "video_id!", j.state as "state: JobState",
                j.kind as "kind: JobKind", j.attempt, j.max_attempts, j.last_error, j.worker_id,
                j.created_at, j.updated_at, j.run_at, j.lease_expires_at, v.progress, v.stage,
                v.status as "video_status: VideoStatus", v.playable
             from jobs j join videos v on v.id = j.video_id "#
                + $rest
            $(, $arg)*
        )
    };
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<JobRow, JobsError> {
    query_job!("where j.id = $1", id)
        .fetch_optional(pool)
        .await?
        .ok_or(JobsError::NotFound("no such job"))
}

/// Newest first, optionally in one state, after the (created_at, id) of the previous page.
pub async fn list(
    pool: &PgPool,
    state: Option<JobState>,
    limit: i64,
    after: Option<(OffsetDateTime, Uuid)>,
) -> Result<Vec<JobRow>, JobsError> {
    let (at, id) = after.unzip();
    Ok(query_job!(
        "where ($1::text is null or j.state = $1)
         and ($2::timestamptz is null or (j.created_at, j.id) < ($2, $3))
         order by j.created_at desc, j.id desc limit $4",
        state as Option<JobState>,
        at,
        id,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// Processes an uploaded video again: a new job, unless one is already live.
pub async fn submit(pool: &PgPool, video_id: Uuid) -> Result<JobRow, JobsError> {
    let mut tx = pool.begin().await?;
    let status = sqlx::query_scalar!(
        r#"select status as "status: VideoStatus" from videos where id = $1 for update"#,
        video_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(status) = status else {
        return Err(JobsError::NotFound("no such video"));
    };
    if status == VideoStatus::AwaitingUpload {
        return Err(JobsError::InvalidState(
            "the video's upload is not complete yet".into(),
        ));
    }
    // A ready video stays ready while it is processed again: the version viewers watch is
    // replaced only when the new run succeeds.
    if queue::enqueue(&mut *tx, JobKind::Transcode, video_id).await? {
        sqlx::query!(
            "update videos set status = 'queued', stage = null, progress = 0, error = null
             where id = $1 and status <> 'ready'",
            video_id,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    latest_for_video(pool, video_id).await
}

async fn latest_for_video(pool: &PgPool, video_id: Uuid) -> Result<JobRow, JobsError> {
    query_job!(
        "where j.video_id = $1 order by j.created_at desc, j.id desc limit 1",
        video_id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(JobsError::NotFound("no such job"))
}

/// Cancels a queued or running job; a running worker loses its lease at its next heartbeat.
pub async fn cancel(pool: &PgPool, id: Uuid) -> Result<JobRow, JobsError> {
    let mut tx = pool.begin().await?;
    let canceled = sqlx::query!(
        r#"update jobs set state = 'canceled', lease_expires_at = null, finished_at = now()
         where id = $1 and state in ('queued', 'running')
         returning video_id, kind as "kind: JobKind""#,
        id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(canceled) = canceled else {
        let job = get(pool, id).await?;
        return Err(JobsError::InvalidState(format!(
            "the job is {}; only queued or running jobs can be canceled",
            job.state
        )));
    };
    // A canceled ladder job leaves its video watchable with the renditions it has.
    if let (true, Some(video_id)) = (canceled.kind.drives_video_status(), canceled.video_id) {
        crate::videos::mark_failed(&mut *tx, video_id, "processing was canceled").await?;
    }
    tx.commit().await?;
    get(pool, id).await
}

/// Runs a failed or canceled job's video again, as a new job.
pub async fn retry(pool: &PgPool, id: Uuid) -> Result<JobRow, JobsError> {
    let job = get(pool, id).await?;
    if !matches!(job.state, JobState::Failed | JobState::Canceled) {
        return Err(JobsError::InvalidState(format!(
            "the job is {}; only failed or canceled jobs can be retried",
            job.state
        )));
    }
    submit(pool, job.video_id).await
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    pub queued: i64,
    pub running: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub canceled: i64,
    pub oldest_queued_age_s: f64,
}

/// The processors' queue (webhook deliveries are the API's).
pub async fn stats(pool: &PgPool) -> Result<QueueStats, JobsError> {
    let counts = sqlx::query!(
        r#"select state as "state: JobState", count(*) as "count!" from jobs
           where queue = 'processor' group by state"#
    )
    .fetch_all(pool)
    .await?;
    let mut stats = QueueStats::default();
    for row in counts {
        let (state, count) = (row.state, row.count);
        *match state {
            JobState::Queued => &mut stats.queued,
            JobState::Running => &mut stats.running,
            JobState::Succeeded => &mut stats.succeeded,
            JobState::Failed => &mut stats.failed,
            JobState::Canceled => &mut stats.canceled,
        } = count;
    }
    stats.oldest_queued_age_s = due_work(pool).await?.oldest_age_s;
    Ok(stats)
}

/// The processors' work that could start now: jobs queued and due, and how long the oldest
/// of them has waited (0 when none). A job whose `run_at` is still ahead is not counted: a
/// retry waiting out its backoff, or a stitch parked (`run_at` at `9999-01-01`) until the parts it
/// follows end. More processors would shorten only the first, which is why autoscaling
/// (CloudWatch), the queue alarm and the `vodnest_queue_*` gauges read this.
pub async fn due_work(pool: &PgPool) -> Result<QueueSample, sqlx::Error> {
    let due = sqlx::query!(
        r#"select count(*)::float8 as "depth!",
                  coalesce(extract(epoch from now() - min(run_at))::float8, 0) as "oldest_age_s!"
           from jobs where state = 'queued' and queue = 'processor' and run_at <= now()"#
    )
    .fetch_one(pool)
    .await?;
    Ok(QueueSample {
        depth: due.depth,
        oldest_age_s: due.oldest_age_s.max(0.0),
    })
}
