//! The Postgres job queue.
//!
//! A job is claimed by one short `UPDATE ... FOR UPDATE SKIP LOCKED` statement that commits at
//! once; the worker then holds a lease (`lease_expires_at`) that it renews while it works. The
//! renewal and every final state change are fenced by the attempt number: a worker whose lease
//! ran out and whose job was claimed again can neither extend it nor finish it. No transaction
//! is ever held across ffmpeg or S3 transfers.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::videos::{self, MediaFacts};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The job's lease was taken over by another attempt; this worker must stop.
    #[error("job {0} is no longer held by this attempt")]
    Fenced(Uuid),
    /// The statement that recorded a group of successes failed (see `GroupCommit`).
    #[error("database: {0}")]
    Shared(Arc<sqlx::Error>),
    #[error("the group commit task has stopped")]
    GroupCommitGone,
}

/// What a job does (see migrations/0006_job_kind.sql).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Turns the upload into HLS; its success makes the video `ready`.
    Transcode,
    /// Encodes the rungs below a copied top rendition, once the video is already `ready`.
    Ladder,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transcode => "transcode",
            Self::Ladder => "ladder",
        }
    }
}

impl TryFrom<String> for JobKind {
    type Error = String;

    fn try_from(kind: String) -> Result<Self, Self::Error> {
        match kind.as_str() {
            "transcode" => Ok(Self::Transcode),
            "ladder" => Ok(Self::Ladder),
            _ => Err(format!("unknown job kind {kind:?}")),
        }
    }
}

/// A job this worker holds under a lease.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: Uuid,
    pub video_id: Uuid,
    pub attempt: i32,
    pub max_attempts: i32,
    #[sqlx(try_from = "String")]
    pub kind: JobKind,
}

/// Enqueues processing for a video, at most one live job per video (a second call is a no-op).
pub async fn enqueue(db: impl PgExecutor<'_>, video_id: Uuid) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "insert into jobs (id, video_id) values ($1, $2) \
         on conflict (video_id) where state in ('queued', 'running') do nothing",
    )
    .bind(Uuid::now_v7())
    .bind(video_id)
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() > 0)
}

/// Who claims the next job, and for how long (see [`succeed_and_claim`]).
#[derive(Debug, Clone)]
pub struct Claimer {
    pub worker_id: Arc<str>,
    pub lease: Duration,
}

/// The claim, as CTEs ending in `claimed` (the jobs now held). Parameters: `$1` the worker
/// id, `$2` the lease in seconds, `$3` job ids never to claim (those being finished in the
/// same statement), `$4` how many jobs to claim. The statement defines a CTE `gate` before
/// these: no row is claimed unless it has a row.
///
/// A `FOR UPDATE` that finds a row changed since its snapshot keeps the row locked even when
/// the row no longer qualifies; a statement that both claims and then waits for a lock could
/// deadlock against another doing the same. `gate` lets [`succeed_all`] finish its own writes
/// (which may wait) before the claim takes any lock (which never waits: SKIP LOCKED).
///
/// Two index probes instead of one OR: each stops after the rows it needs, so a claim costs
/// the same with ten queued jobs or a million. Jobs whose lease ran out go first: they are the
/// oldest work. Rows are picked out by `id = any(...)`, not a join: with the limit a
/// parameter, a join may be planned as a scan of the whole table.
macro_rules! claim_ctes {
    () => {
        "expired as ( \
             select id from jobs \
             where exists (select 1 from gate) and state = 'running' and lease_expires_at < now() \
                 and attempt < max_attempts and id <> all($3::uuid[]) \
             order by lease_expires_at limit $4 for update skip locked \
         ), due as ( \
             select id from jobs \
             where exists (select 1 from gate) and state = 'queued' and run_at <= now() \
             order by run_at limit $4 - (select count(*) from expired) for update skip locked \
         ), next as (select id from expired union all select id from due), \
         claimed as ( \
             update jobs j set \
                 state = 'running', \
                 attempt = j.attempt + 1, \
                 lease_expires_at = now() + make_interval(secs => $2), \
                 worker_id = $1, \
                 started_at = now(), \
                 last_error = case when j.state = 'running' then 'lease expired' else j.last_error end \
             where j.id = any(array(select id from next)) \
             returning j.id, j.video_id, j.attempt, j.max_attempts, j.kind \
         )"
    };
}

/// Claims the next due job, or a running one whose lease expired (which counts as an attempt).
pub async fn claim(
    pool: &PgPool,
    worker_id: &str,
    lease: Duration,
) -> Result<Option<ClaimedJob>, sqlx::Error> {
    sqlx::query_as(concat!(
        "with gate as (select 1), ",
        claim_ctes!(),
        " select id, video_id, attempt, max_attempts, kind from claimed"
    ))
    .bind(worker_id)
    .bind(lease.as_secs_f64())
    .bind(Vec::<Uuid>::new())
    .bind(1_i64)
    .fetch_optional(pool)
    .await
}

/// Ends the jobs whose lease ran out on their last attempt (their processor crashed or was
/// cut off every time): job and video `failed`, with the reason (a ladder job's video stays
/// as it is: it is watchable). Returns the ids of the videos that failed.
pub async fn fail_exhausted_leases(pool: &PgPool) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "with dead as ( \
             update jobs set state = 'failed', lease_expires_at = null, finished_at = now(), \
                 last_error = 'the processor running it stopped answering on its last attempt' \
             where state = 'running' and lease_expires_at < now() and attempt >= max_attempts \
             returning video_id, last_error, kind \
         ) \
         update videos v set status = 'failed', stage = null, playable = false, \
             error = dead.last_error \
         from dead where v.id = dead.video_id and dead.kind = 'transcode' \
         returning v.id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Renews the lease. `Fenced` means another attempt owns the job now.
pub async fn heartbeat(pool: &PgPool, job: &ClaimedJob, lease: Duration) -> Result<(), QueueError> {
    let renewed = sqlx::query(
        "update jobs set lease_expires_at = now() + make_interval(secs => $3) \
         where id = $1 and attempt = $2 and state = 'running'",
    )
    .bind(job.id)
    .bind(job.attempt)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    fenced(job, renewed.rows_affected())
}

fn fenced(job: &ClaimedJob, rows: u64) -> Result<(), QueueError> {
    if rows == 0 {
        Err(QueueError::Fenced(job.id))
    } else {
        Ok(())
    }
}

async fn finish_job(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    state: &str,
    error: Option<&str>,
) -> Result<(), QueueError> {
    let done = sqlx::query(
        "update jobs set state = $3, last_error = coalesce($4, last_error), \
         lease_expires_at = null, finished_at = now() \
         where id = $1 and attempt = $2 and state = 'running'",
    )
    .bind(job.id)
    .bind(job.attempt)
    .bind(state)
    .bind(error)
    .execute(db)
    .await?;
    fenced(job, done.rows_affected())
}

/// The job succeeded: job and video change in one statement, or not at all.
pub async fn succeed(
    pool: &PgPool,
    job: &ClaimedJob,
    facts: &MediaFacts,
) -> Result<(), QueueError> {
    succeed_and_claim(pool, job, facts, None, None)
        .await?
        .recorded_for(job)
}

/// What [`succeed_all`] did for one success.
#[derive(Debug)]
pub struct Succeeded {
    /// False when the attempt was fenced off: another attempt owns the job.
    pub recorded: bool,
    /// The job claimed in the same statement, to run next.
    pub next: Option<ClaimedJob>,
}

impl Succeeded {
    /// `Fenced` when the success of `job` was not recorded.
    pub fn recorded_for(&self, job: &ClaimedJob) -> Result<(), QueueError> {
        fenced(job, u64::from(self.recorded))
    }
}

/// One job's success, as [`succeed_all`] records it.
#[derive(Debug, Clone, Copy)]
pub struct Success<'a> {
    pub job: &'a ClaimedJob,
    pub facts: &'a MediaFacts,
    /// A job for the same video to enqueue with the success (a crash cannot part them).
    pub follow_up: Option<JobKind>,
    /// Claim a job in the same statement, to run next in this one's place.
    pub claim_next: bool,
}

/// [`succeed_all`] for one job: with a `claimer`, the next job is claimed in the same
/// statement, one round trip and one transaction per job on the queue's hot path instead of
/// two.
pub async fn succeed_and_claim(
    pool: &PgPool,
    job: &ClaimedJob,
    facts: &MediaFacts,
    follow_up: Option<JobKind>,
    claimer: Option<&Claimer>,
) -> Result<Succeeded, sqlx::Error> {
    let success = Success {
        job,
        facts,
        follow_up,
        claim_next: claimer.is_some(),
    };
    let mut done = succeed_all(pool, &[success], claimer).await?;
    done.pop()
        .ok_or_else(|| sqlx::Error::Protocol("no outcome for the success".into()))
}

/// Records several successes in one statement (one commit: see `GroupCommit`), each fenced on
/// its own, and claims a job for each that asks for one, as `claimer`. Every job and its video
/// change together or not at all. The outcomes come in the order of `successes`.
pub async fn succeed_all(
    pool: &PgPool,
    successes: &[Success<'_>],
    claimer: Option<&Claimer>,
) -> Result<Vec<Succeeded>, sqlx::Error> {
    // Without a claimer nothing is claimed, whatever the successes ask.
    let claims = |s: &Success<'_>| s.claim_next && claimer.is_some();
    let wanted = successes.iter().filter(|s| claims(s)).count();
    let renditions = successes
        .iter()
        .map(|s| serde_json::to_string(&s.facts.renditions))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| sqlx::Error::Encode(e.into()))?;
    type Row = (
        bool,
        Uuid,
        Option<Uuid>,
        Option<i32>,
        Option<i32>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "with input as ( \
             select * from unnest($3::uuid[], $5::int[], $6::float8[], $7::int[], $8::int[], \
                 $9::text[], $10::text[], $11::uuid[]) \
                 as t(id, attempt, duration_s, width, height, renditions, follow_up, follow_up_id) \
         ), done as ( \
             update jobs j set state = 'succeeded', lease_expires_at = null, finished_at = now() \
             from input i \
             where j.id = any($3::uuid[]) and j.id = i.id and j.attempt = i.attempt \
                 and j.state = 'running' \
             returning j.id, j.video_id \
         ), video as ( \
             update videos v set status = 'ready', stage = null, progress = 1, playable = true, \
                 error = null, duration_s = i.duration_s, width = i.width, height = i.height, \
                 renditions = i.renditions::jsonb \
             from done d join input i on i.id = d.id where v.id = d.video_id \
             returning d.id \
         ), follow_up as ( \
             insert into jobs (id, video_id, kind) \
             select i.follow_up_id, d.video_id, i.follow_up from done d join input i on i.id = d.id \
             where i.follow_up is not null \
         ), gate as ( \
             select 1 from (select count(*) from video) written where $1::text is not null \
         ), ",
        claim_ctes!(),
        " select false, id, null, null, null, null from video \
          union all \
          select true, id, video_id, attempt, max_attempts, kind from claimed"
    ))
    .bind(claimer.map(|c| &*c.worker_id))
    .bind(claimer.map_or(0.0, |c| c.lease.as_secs_f64()))
    .bind(successes.iter().map(|s| s.job.id).collect::<Vec<_>>())
    .bind(i64::try_from(wanted).unwrap_or(i64::MAX))
    .bind(successes.iter().map(|s| s.job.attempt).collect::<Vec<_>>())
    .bind(successes.iter().map(|s| s.facts.duration_s).collect::<Vec<_>>())
    .bind(successes.iter().map(|s| s.facts.width).collect::<Vec<_>>())
    .bind(successes.iter().map(|s| s.facts.height).collect::<Vec<_>>())
    .bind(renditions)
    .bind(successes.iter().map(|s| s.follow_up.map(JobKind::as_str)).collect::<Vec<_>>())
    .bind(successes.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;

    let mut recorded = std::collections::HashSet::new();
    let mut claimed = Vec::new();
    for (is_claim, id, video_id, attempt, max_attempts, kind) in rows {
        if !is_claim {
            recorded.insert(id);
            continue;
        }
        let (Some(video_id), Some(attempt), Some(max_attempts), Some(kind)) =
            (video_id, attempt, max_attempts, kind)
        else {
            return Err(sqlx::Error::Protocol(format!(
                "claimed job {id} came back incomplete"
            )));
        };
        claimed.push(ClaimedJob {
            id,
            video_id,
            attempt,
            max_attempts,
            kind: JobKind::try_from(kind).map_err(|e| sqlx::Error::Decode(e.into()))?,
        });
    }
    let mut claimed = claimed.into_iter();
    Ok(successes
        .iter()
        .map(|s| Succeeded {
            recorded: recorded.contains(&s.job.id),
            next: claims(s).then(|| claimed.next()).flatten(),
        })
        .collect())
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailOutcome {
    RetryAt(OffsetDateTime),
    Failed,
}

/// Records a failed attempt: a transient one is retried with backoff while attempts remain;
/// a permanent one (bad input) fails the job and the video at once. A ladder job's video is
/// left `ready` with the renditions it has.
pub async fn fail(
    pool: &PgPool,
    job: &ClaimedJob,
    error: &str,
    transient: bool,
) -> Result<FailOutcome, QueueError> {
    let mut tx = pool.begin().await?;
    let outcome = if transient && job.attempt < job.max_attempts {
        let delay = backoff(job.attempt);
        let rows = sqlx::query(
            "update jobs set state = 'queued', last_error = $3, lease_expires_at = null, \
             run_at = now() + make_interval(secs => $4) \
             where id = $1 and attempt = $2 and state = 'running'",
        )
        .bind(job.id)
        .bind(job.attempt)
        .bind(error)
        .bind(delay.as_secs_f64())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        fenced(job, rows)?;
        if job.kind == JobKind::Transcode {
            videos::mark_requeued(&mut *tx, job.video_id, error).await?;
        }
        FailOutcome::RetryAt(OffsetDateTime::now_utc() + delay)
    } else {
        finish_job(&mut *tx, job, "failed", Some(error)).await?;
        if job.kind == JobKind::Transcode {
            videos::mark_failed(&mut *tx, job.video_id, error).await?;
        }
        FailOutcome::Failed
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Gives a job back without counting the attempt (graceful shutdown): another worker may
/// claim it at once.
pub async fn release(pool: &PgPool, job: &ClaimedJob) -> Result<(), QueueError> {
    let rows = sqlx::query(
        "update jobs set state = 'queued', attempt = attempt - 1, lease_expires_at = null, \
         run_at = now(), worker_id = null \
         where id = $1 and attempt = $2 and state = 'running'",
    )
    .bind(job.id)
    .bind(job.attempt)
    .execute(pool)
    .await?
    .rows_affected();
    fenced(job, rows)
}

/// Exponential backoff from 5 s, doubling per attempt, capped at 10 minutes, with ±20 % jitter
/// so that jobs failed by one outage do not all come back at the same instant.
pub fn backoff(attempt: i32) -> Duration {
    let exp = attempt.clamp(1, 16) - 1;
    let base = (5.0 * 2f64.powi(exp)).min(600.0);
    let jitter = 0.8 + rand::random::<f64>() * 0.4;
    Duration::from_secs_f64(base * jitter)
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_grows_and_is_capped() {
        for _ in 0..100 {
            let first = backoff(1).as_secs_f64();
            assert!((4.0..=6.0).contains(&first), "{first}");
            let third = backoff(3).as_secs_f64();
            assert!((16.0..=24.0).contains(&third), "{third}");
            let late = backoff(40).as_secs_f64();
            assert!((480.0..=720.0).contains(&late), "{late}");
        }
    }
}
