//! Inspecting and steering jobs: what the processor's gRPC control plane calls.

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::queue;

/// A job with its video's progress.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub video_id: Uuid,
    pub state: String,
    pub kind: String,
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
    pub video_status: String,
    pub playable: bool,
}

impl JobRow {
    pub fn is_terminal(&self) -> bool {
        matches!(self.state.as_str(), "succeeded" | "failed" | "canceled")
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

const SELECT: &str = "select j.id, j.video_id, j.state, j.kind, j.attempt, j.max_attempts, j.last_error, \
     j.worker_id, j.created_at, j.updated_at, j.run_at, j.lease_expires_at, v.progress, v.stage, \
     v.status as video_status, v.playable from jobs j join videos v on v.id = j.video_id";

pub async fn get(pool: &PgPool, id: Uuid) -> Result<JobRow, JobsError> {
    sqlx::query_as(&format!("{SELECT} where j.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(JobsError::NotFound("no such job"))
}

/// Newest first, optionally in one state, after the (created_at, id) of the previous page.
pub async fn list(
    pool: &PgPool,
    state: Option<&str>,
    limit: i64,
    after: Option<(OffsetDateTime, Uuid)>,
) -> Result<Vec<JobRow>, JobsError> {
    let (at, id) = after.unzip();
    Ok(sqlx::query_as(&format!(
        "{SELECT} where ($1::text is null or j.state = $1) \
         and ($2::timestamptz is null or (j.created_at, j.id) < ($2, $3)) \
         order by j.created_at desc, j.id desc limit $4"
    ))
    .bind(state)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Processes an uploaded video again: a new job, unless one is already live.
pub async fn submit(pool: &PgPool, video_id: Uuid) -> Result<JobRow, JobsError> {
    let mut tx = pool.begin().await?;
    let status: Option<(String,)> =
        sqlx::query_as("select status from videos where id = $1 for update")
            .bind(video_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((status,)) = status else {
        return Err(JobsError::NotFound("no such video"));
    };
    if status == "awaiting_upload" {
        return Err(JobsError::InvalidState(
            "the video's upload is not complete yet".into(),
        ));
    }
    if queue::enqueue(&mut *tx, video_id).await? {
        sqlx::query(
            "update videos set status = 'queued', stage = null, progress = 0, error = null \
             where id = $1",
        )
        .bind(video_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    latest_for_video(pool, video_id).await
}

async fn latest_for_video(pool: &PgPool, video_id: Uuid) -> Result<JobRow, JobsError> {
    sqlx::query_as(&format!(
        "{SELECT} where j.video_id = $1 order by j.created_at desc, j.id desc limit 1"
    ))
    .bind(video_id)
    .fetch_optional(pool)
    .await?
    .ok_or(JobsError::NotFound("no such job"))
}

/// Cancels a queued or running job; a running worker loses its lease at its next heartbeat.
pub async fn cancel(pool: &PgPool, id: Uuid) -> Result<JobRow, JobsError> {
    let mut tx = pool.begin().await?;
    let video: Option<(Uuid, String)> = sqlx::query_as(
        "update jobs set state = 'canceled', lease_expires_at = null, finished_at = now() \
         where id = $1 and state in ('queued', 'running') returning video_id, kind",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((video_id, kind)) = video else {
        let job = get(pool, id).await?;
        return Err(JobsError::InvalidState(format!(
            "the job is {}; only queued or running jobs can be canceled",
            job.state
        )));
    };
    // A canceled ladder job leaves its video watchable with the renditions it has.
    if kind == queue::JobKind::Transcode.as_str() {
        crate::videos::mark_failed(&mut *tx, video_id, "processing was canceled").await?;
    }
    tx.commit().await?;
    get(pool, id).await
}

/// Runs a failed or canceled job's video again, as a new job.
pub async fn retry(pool: &PgPool, id: Uuid) -> Result<JobRow, JobsError> {
    let job = get(pool, id).await?;
    if !matches!(job.state.as_str(), "failed" | "canceled") {
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

pub async fn stats(pool: &PgPool) -> Result<QueueStats, JobsError> {
    let counts: Vec<(String, i64)> =
        sqlx::query_as("select state, count(*) from jobs group by state")
            .fetch_all(pool)
            .await?;
    let mut stats = QueueStats::default();
    for (state, count) in counts {
        match state.as_str() {
            "queued" => stats.queued = count,
            "running" => stats.running = count,
            "succeeded" => stats.succeeded = count,
            "failed" => stats.failed = count,
            "canceled" => stats.canceled = count,
            _ => {}
        }
    }
    let (age,): (Option<f64>,) = sqlx::query_as(
        "select extract(epoch from now() - min(run_at))::float8 from jobs \
         where state = 'queued' and run_at <= now()",
    )
    .fetch_one(pool)
    .await?;
    stats.oldest_queued_age_s = age.unwrap_or(0.0).max(0.0);
    Ok(stats)
}
