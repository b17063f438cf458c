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
    /// The database answered something the queue's own statements rule out.
    #[error("job queue invariant broken: {0}")]
    Invariant(String),
    /// The statement that recorded a group of successes failed (see `GroupCommit`).
    #[error("{0}")]
    Shared(Arc<QueueError>),
    #[error("the group commit task has stopped")]
    GroupCommitGone,
}

use crate::job_kind::SuccessEffect;
pub use crate::job_kind::{JobKind, JobQueue, JobState};

/// A job this worker holds under a lease.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: Uuid,
    pub video_id: Uuid,
    pub attempt: i32,
    pub max_attempts: i32,
    pub kind: JobKind,
    /// The `traceparent` its spans continue (see [`crate::trace_context`]).
    pub trace_context: Option<String>,
}

/// A job of any kind as a claim returns it; [`ClaimedJob`] is one about a video.
#[derive(Debug, Clone)]
pub struct ClaimedTask {
    pub id: Uuid,
    pub video_id: Option<Uuid>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub kind: JobKind,
    /// The `traceparent` its spans continue (see [`crate::trace_context`]).
    pub trace_context: Option<String>,
}

/// Every kind on the processors' queue is about a video.
impl TryFrom<ClaimedTask> for ClaimedJob {
    type Error = QueueError;

    fn try_from(row: ClaimedTask) -> Result<Self, QueueError> {
        let video_id = row.video_id.ok_or_else(|| {
            QueueError::Invariant(format!("claimed {} job {} has no video", row.kind, row.id))
        })?;
        Ok(Self {
            id: row.id,
            video_id,
            attempt: row.attempt,
            max_attempts: row.max_attempts,
            kind: row.kind,
            trace_context: row.trace_context,
        })
    }
}

/// Enqueues a job of `kind` for a video. A kind with a [`JobKind::live_key`] is enqueued at
/// most once while a job with the same key is live: a second call is a no-op (false). The job
/// carries the trace context of the current span (the request that enqueued it), if traced.
pub async fn enqueue(
    db: impl PgExecutor<'_>,
    kind: JobKind,
    video_id: Uuid,
) -> Result<bool, sqlx::Error> {
    Ok(enqueue_id(db, kind, video_id).await?.is_some())
}

/// [`enqueue`], returning the new job's id (`None`: a live job holds the key).
pub async fn enqueue_id(
    db: impl PgExecutor<'_>,
    kind: JobKind,
    video_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "insert into jobs (id, video_id, kind, queue, priority, max_attempts, live_key,
             trace_context)
         values ($1, $2, $3, $7, $4, $5, $6, $8)
         on conflict (live_key) where state in ('queued', 'running') and live_key is not null
         do nothing
         returning id",
        Uuid::now_v7(),
        video_id,
        kind as JobKind,
        kind.priority(),
        kind.retry().max_attempts,
        kind.live_key(Some(video_id)),
        kind.queue() as JobQueue,
        crate::trace_context::current(),
    )
    .fetch_optional(db)
    .await
}

/// Enqueues a job of `kind` about no video; `subject` names what it is about (its live key),
/// `owner_key` whose share of the queue it counts against. `None` when a job with the same
/// live key is live already.
pub async fn enqueue_task(
    db: impl PgExecutor<'_>,
    kind: JobKind,
    subject: Uuid,
    owner_key: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "insert into jobs (id, kind, queue, priority, max_attempts, live_key, owner_key)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (live_key) where state in ('queued', 'running') and live_key is not null
         do nothing
         returning id",
        Uuid::now_v7(),
        kind as JobKind,
        kind.queue() as JobQueue,
        kind.priority(),
        kind.retry().max_attempts,
        kind.live_key(Some(subject)),
        owner_key,
    )
    .fetch_optional(db)
    .await
}

/// Who claims the next job, from which queue, and for how long (see [`succeed_and_claim`]).
#[derive(Debug, Clone)]
pub struct Claimer {
    pub worker_id: Arc<str>,
    pub lease: Duration,
    pub queue: JobQueue,
}

/// `sqlx::query_as!` into `$record` of a statement that claims jobs: `$before` (`with recursive`,
/// a CTE `gate` and a comma), the claim as CTEs ending in `claimed` (the jobs now held), then
/// `$after` (the final select). No row is claimed unless `gate` has a row. The claim's
/// parameters:
///
/// | param | what |
/// |---|---|
/// | `$1` | the worker id (`text`) |
/// | `$2` | the lease in seconds (`float8`) |
/// | `$3` | job ids never to claim (`uuid[]`: those being finished in the same statement) |
/// | `$4` | how many jobs to claim (`int8`) |
/// | `$5` | the queue to claim from (`text`: [`JobQueue`]) |
///
/// `$before` and `$after` may use further parameters from `$6` on. The statement text is put
/// together by this macro, not at run time, so `query!` checks every statement that claims.
///
/// A `FOR UPDATE` that finds a row changed since its snapshot keeps the row locked even when
/// the row no longer qualifies; a statement that both claims and then waits for a lock could
/// deadlock against another doing the same. `gate` lets [`succeed_all`] finish its own writes
/// (which may wait) before the claim takes any lock (which never waits: SKIP LOCKED).
///
/// Jobs whose lease ran out go first: they are the oldest work (one index probe that stops
/// after the rows it needs). Queued jobs go by priority class, then fairly between owners
/// (`jobs.owner_key`: a video's owner, see migration 0012): each owner's due jobs are ranked
/// 1, 2, 3... by due time, and a job's load is its rank plus the jobs its owner has running;
/// the lowest load goes first, then the earliest due. So an owner with nothing running comes
/// before one with a job running, and one owner's long backlog alternates with another's single
/// job instead of going first.
///
/// The cost grows with the number of owners that have queued work, not with the number of
/// jobs: `owners` steps from one (class, owner) to the next through the index
/// `jobs_queued_fair` (a recursive skip scan), each owner gives at most `$4` candidates (read,
/// not locked), and `due` locks candidates in order, one primary-key probe each, until it has
/// enough (SKIP LOCKED: one a concurrent claim holds is passed over). Should concurrent claims
/// hold every candidate, `in_order` takes the rest in plain (class, due time) order from the
/// index `jobs_queued_due`, so a claim never comes back empty while a job is free; when `due`
/// has enough its limit is 0 and it reads nothing. Rows are updated by `id = any(...)`, not a
/// join: with the limit a parameter, a join may be planned as a scan of the whole table.
macro_rules! query_claiming {
    ($record:ty, $before:literal, $after:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            $record,
            $before
                + r#"
         expired as (
             select id from jobs
             where exists (select 1 from gate) and state = 'running' and queue = $5
                 and lease_expires_at < now() and attempt < max_attempts
                 and id <> all($3::uuid[])
             order by lease_expires_at limit $4 for update skip locked
         ), owners as (
             (select priority, owner_key from jobs
              where exists (select 1 from gate) and state = 'queued' and queue = $5
              order by priority, owner_key limit 1)
             union all
             select n.priority, n.owner_key from owners o cross join lateral (
                 select priority, owner_key from jobs
                 where state = 'queued' and queue = $5
                     and (priority, owner_key) > (o.priority, o.owner_key)
                 order by priority, owner_key limit 1
             ) n
         ), candidates as materialized (
             select c.id, o.priority, c.run_at,
                 c.rank + (select count(*) from jobs r
                           where r.state = 'running' and r.owner_key = o.owner_key) as load
             from owners o cross join lateral (
                 select id, run_at, row_number() over (order by run_at) as rank from (
                     select id, run_at from jobs
                     where state = 'queued' and queue = $5 and priority = o.priority
                         and owner_key = o.owner_key and run_at <= now()
                     order by run_at limit $4
                 ) owned
             ) c
         ), due as (
             select locked.id
             from (select * from candidates order by priority, load, run_at) c
             cross join lateral (
                 select id from jobs where id = c.id and state = 'queued'
                 for update skip locked
             ) locked
             order by c.priority, c.load, c.run_at
             limit $4 - (select count(*) from expired)
         ), in_order as (
             select id from jobs
             where exists (select 1 from gate) and state = 'queued' and queue = $5
                 and run_at <= now() and id <> all(array(select id from due))
             order by priority, run_at
             limit $4 - (select count(*) from expired) - (select count(*) from due)
             for update skip locked
         ), next as (
             select id from expired union all select id from due union all select id from in_order
         ),
         claimed as (
             update jobs j set
                 state = 'running',
                 attempt = j.attempt + 1,
                 lease_expires_at = now() + make_interval(secs => $2),
                 worker_id = $1,
                 started_at = now(),
                 last_error = case when j.state = 'running' then 'lease expired' else j.last_error end
             where j.id = any(array(select id from next))
             returning j.id, j.video_id, j.attempt, j.max_attempts, j.kind, j.trace_context
         ) "#
                + $after
            $(, $arg)*
        )
    };
}

/// Claims the next due job of the processors' queue, or a running one whose lease expired
/// (which counts as an attempt).
pub async fn claim(
    pool: &PgPool,
    worker_id: &str,
    lease: Duration,
) -> Result<Option<ClaimedJob>, QueueError> {
    let claimer = Claimer {
        worker_id: worker_id.into(),
        lease,
        queue: JobQueue::Processor,
    };
    let mut tasks = claim_tasks(pool, &claimer, 1).await?;
    tasks.pop().map(ClaimedJob::try_from).transpose()
}

/// Claims up to `wanted` jobs of `claimer`'s queue, those whose lease expired first.
pub async fn claim_tasks(
    pool: &PgPool,
    claimer: &Claimer,
    wanted: i64,
) -> Result<Vec<ClaimedTask>, QueueError> {
    Ok(query_claiming!(
        ClaimedTask,
        "with recursive gate as (select 1),",
        r#"select id as "id!", video_id, attempt as "attempt!", max_attempts as "max_attempts!",
             kind as "kind!: JobKind", trace_context from claimed"#,
        &*claimer.worker_id,
        claimer.lease.as_secs_f64(),
        &[] as &[Uuid],
        wanted,
        claimer.queue as JobQueue,
    )
    .fetch_all(pool)
    .await?)
}

/// When the next queued job of `queue` comes due: the earliest of the first priority class
/// that has one (one index probe). A stitch parked until its parts are done is not due ever.
pub async fn next_due(
    pool: &PgPool,
    queue: JobQueue,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    sqlx::query_scalar!(
        "select run_at from jobs where state = 'queued' and queue = $1
             and run_at < '9999-01-01'
         order by priority, run_at limit 1",
        queue as JobQueue,
    )
    .fetch_optional(pool)
    .await
}

/// Ends the jobs whose lease ran out on their last attempt (their processor crashed or was
/// cut off every time): job `failed`, with the reason, and its video too where the kind
/// [drives its status](JobKind::drives_video_status). Returns the ids of the videos that failed.
pub async fn fail_exhausted_leases(pool: &PgPool) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "with dead as (
             update jobs set state = 'failed', lease_expires_at = null, finished_at = now(),
                 last_error = 'the processor running it stopped answering on its last attempt'
             where state = 'running' and lease_expires_at < now() and attempt >= max_attempts
             returning video_id, last_error, kind
         )
         update videos v set status = 'failed', stage = null, playable = false,
             error = dead.last_error
         from dead where v.id = dead.video_id and dead.kind = any($1) and v.status <> 'ready'
         returning v.id",
        &JobKind::driving_video_status() as &[&str],
    )
    .fetch_all(pool)
    .await
}

/// Renews the lease. `Fenced` means another attempt owns the job now.
pub async fn heartbeat(pool: &PgPool, job: &ClaimedJob, lease: Duration) -> Result<(), QueueError> {
    let renewed = sqlx::query!(
        "update jobs set lease_expires_at = now() + make_interval(secs => $3)
         where id = $1 and attempt = $2 and state = 'running'",
        job.id,
        job.attempt,
        lease.as_secs_f64(),
    )
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
    state: JobState,
    error: Option<&str>,
) -> Result<(), QueueError> {
    let done = sqlx::query!(
        "update jobs set state = $3, last_error = coalesce($4, last_error),
         lease_expires_at = null, finished_at = now()
         where id = $1 and attempt = $2 and state = 'running'",
        job.id,
        job.attempt,
        state as JobState,
        error,
    )
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
) -> Result<Succeeded, QueueError> {
    let success = Success {
        job,
        facts,
        follow_up,
        claim_next: claimer.is_some(),
    };
    let mut done = succeed_all(pool, &[success], claimer).await?;
    done.pop()
        .ok_or_else(|| QueueError::Invariant("no outcome for the success".into()))
}

/// Records several successes in one statement (one commit: see `GroupCommit`), each fenced on
/// its own, and claims a job for each that asks for one, as `claimer`. Every job and its video
/// change together or not at all. The outcomes come in the order of `successes`.
pub async fn succeed_all(
    pool: &PgPool,
    successes: &[Success<'_>],
    claimer: Option<&Claimer>,
) -> Result<Vec<Succeeded>, QueueError> {
    // Without a claimer nothing is claimed, whatever the successes ask.
    let claims = |s: &Success<'_>| s.claim_next && claimer.is_some();
    let wanted = successes.iter().filter(|s| claims(s)).count();
    let wanted = i64::try_from(wanted).unwrap_or(i64::MAX);
    let columns = SuccessColumns::new(successes)?;
    let rows = record_and_claim(pool, &columns, claimer, wanted).await?;

    let mut recorded = std::collections::HashSet::new();
    let mut claimed = Vec::new();
    for row in rows {
        if row.is_claim {
            claimed.push(ClaimedJob::try_from(ClaimedTask::try_from(row)?)?);
        } else {
            recorded.insert(row.id);
        }
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

/// A row of [`record_and_claim`]: a recorded success (`is_claim` false: its job id) or a job
/// claimed in the same statement.
struct OutcomeRow {
    is_claim: bool,
    id: Uuid,
    video_id: Option<Uuid>,
    attempt: Option<i32>,
    max_attempts: Option<i32>,
    kind: Option<JobKind>,
    trace_context: Option<String>,
}

impl TryFrom<OutcomeRow> for ClaimedTask {
    type Error = QueueError;

    fn try_from(row: OutcomeRow) -> Result<Self, QueueError> {
        let (Some(attempt), Some(max_attempts), Some(kind)) =
            (row.attempt, row.max_attempts, row.kind)
        else {
            return Err(QueueError::Invariant(format!(
                "claimed job {} came back incomplete",
                row.id
            )));
        };
        Ok(Self {
            id: row.id,
            video_id: row.video_id,
            attempt,
            max_attempts,
            kind,
            trace_context: row.trace_context,
        })
    }
}

/// The statement of [`succeed_all`]: each success fenced on its own attempt, its video written
/// as its kind says, its follow-up enqueued, the parts of split encodes counted (the last part
/// makes the stitch due); then `wanted` jobs claimed. One statement, one
/// commit (this is its reason for being long).
async fn record_and_claim(
    pool: &PgPool,
    c: &SuccessColumns,
    claimer: Option<&Claimer>,
    wanted: i64,
) -> Result<Vec<OutcomeRow>, sqlx::Error> {
    query_claiming!(
        OutcomeRow,
        "with recursive input as (
             select * from unnest($3::uuid[], $6::int[], $7::float8[], $8::int[], $9::int[],
                 $10::text[], $11::bool[], $12::text[], $13::uuid[], $14::int2[], $15::int[],
                 $16::text[], $17::text[], $18::bool[], $19::bool[], $20::bool[])
                 as t(id, attempt, duration_s, width, height, renditions, makes_ready,
                     follow_up, follow_up_id, follow_up_priority, follow_up_max_attempts,
                     follow_up_live_key, media_prefix, poster, storyboard, writes_video)
         ), done as (
             update jobs j set state = 'succeeded', lease_expires_at = null, finished_at = now()
             from input i
             where j.id = any($3::uuid[]) and j.id = i.id and j.attempt = i.attempt
                 and j.state = 'running'
             returning j.id, j.video_id, j.trace_context
         ), effect as (
             -- A stitch makes its video ready when the encode it ends was a transcode.
             select d.id, d.video_id, i.makes_ready or coalesce(ce.makes_ready, false) as ready
             from done d join input i on i.id = d.id
                 left join chunked_encodes ce on ce.stitch_job_id = d.id
             where i.writes_video
         ), video as (
             update videos v set
                 status = case when e.ready then 'ready' else v.status end,
                 stage = case when e.ready then null else v.stage end,
                 progress = case when e.ready then 1 else v.progress end,
                 playable = v.playable or e.ready,
                 error = case when e.ready then null else v.error end,
                 duration_s = i.duration_s, width = i.width, height = i.height,
                 renditions = i.renditions::jsonb,
                 media_prefix = coalesce(i.media_prefix, v.media_prefix),
                 has_poster = case when i.media_prefix is null then v.has_poster
                     else i.poster or (v.has_poster and v.media_prefix = i.media_prefix) end,
                 has_storyboard = case when i.media_prefix is null then v.has_storyboard
                     else i.storyboard
                         or (v.has_storyboard and v.media_prefix = i.media_prefix) end,
                 -- A chosen poster is an object of the version: a republish copies it, a new
                 -- run's version has its own.
                 poster_name = case when e.ready then null else v.poster_name end
             from effect e join input i on i.id = e.id where v.id = e.video_id
             returning v.id
         ), replaced as (
             -- The statement's snapshot: the versions as they were before `video` switched.
             select v.id, v.media_prefix from videos v join done d on v.id = d.video_id
         ), parts as (
             -- How many parts of each split encode succeed here.
             select ec.encode_id as id, count(*)::int as succeeded from done d
                 join encode_chunks ec on ec.job_id = d.id
             group by ec.encode_id
         ), encodes as (
             -- Locked in one order: statements recording parts of the same encodes must not
             -- wait on each other crosswise.
             select ce.id from chunked_encodes ce where ce.id in (select id from parts)
             order by ce.id for update
         ), counted as (
             -- Row locks order concurrent statements: each subtracts from what the one before
             -- it left, so exactly one brings an encode to zero.
             update chunked_encodes ce set remaining = ce.remaining - p.succeeded
             from parts p join encodes l on l.id = p.id where ce.id = p.id
             returning ce.stitch_job_id, ce.remaining
         ), stitch as (
             update jobs s set run_at = now()
             from counted c where s.id = c.stitch_job_id and c.remaining = 0 and s.state = 'queued'
             returning s.id
         ), retired as (
             -- A version that was public when the video stops being public is due at once
             -- (retired at -infinity): its plain URLs must stop working, not play on.
             insert into retired_media (prefix, video_id, retired_at)
             select r.media_prefix, r.id,
                 case when split_part(r.media_prefix, '/', 3) <> split_part(i.media_prefix, '/', 3)
                     and split_part(i.media_prefix, '/', 3) = 'signed'
                     then '-infinity'::timestamptz else now() end
             from replaced r join done d on d.video_id = r.id join input i on i.id = d.id
             where i.media_prefix is not null and r.media_prefix is not null
                 and r.media_prefix <> i.media_prefix
             on conflict (prefix) do nothing
             returning prefix
         ), follow_up as (
             insert into jobs (id, video_id, kind, priority, max_attempts, live_key,
                 trace_context)
             select i.follow_up_id, d.video_id, i.follow_up, i.follow_up_priority,
                 i.follow_up_max_attempts, i.follow_up_live_key, d.trace_context
             from done d join input i on i.id = d.id where i.follow_up is not null
             returning id
         ), gate as (
             select 1 from (select (select count(*) from video) + (select count(*) from follow_up)
                 + (select count(*) from retired) + (select count(*) from stitch)) written
             where $1::text is not null
         ),",
        r#"select false as "is_claim!", id as "id!", null::uuid as video_id, null::int4 as attempt,
             null::int4 as max_attempts, null::text as "kind: JobKind",
             null::text as trace_context from done
         union all
         select true, id, video_id, attempt, max_attempts, kind, trace_context from claimed"#,
        claimer.map(|c| &*c.worker_id),
        claimer.map_or(0.0, |c| c.lease.as_secs_f64()),
        &c.ids,
        wanted,
        claimer.map_or(JobQueue::Processor, |c| c.queue) as JobQueue,
        &c.attempts,
        &c.durations as &[Option<f64>],
        &c.widths as &[Option<i32>],
        &c.heights as &[Option<i32>],
        &c.renditions,
        &c.makes_ready,
        &c.follow_ups as &[Option<&str>],
        &c.follow_up_ids,
        &c.follow_up_priorities as &[Option<i16>],
        &c.follow_up_max_attempts as &[Option<i32>],
        &c.follow_up_live_keys as &[Option<String>],
        &c.media_prefixes as &[Option<String>],
        &c.posters,
        &c.storyboards,
        &c.writes_video,
    )
    .fetch_all(pool)
    .await
}

fn per_follow_up<T>(successes: &[Success<'_>], f: impl Fn(JobKind) -> T) -> Vec<Option<T>> {
    successes.iter().map(|s| s.follow_up.map(&f)).collect()
}

/// Per success, `f` of the version it makes current, or the default when it makes none.
fn versions<T: Default>(
    successes: &[Success<'_>],
    f: impl Fn(&crate::videos::PublishedVersion) -> T,
) -> Vec<T> {
    successes
        .iter()
        .map(|s| s.facts.version.as_ref().map(&f).unwrap_or_default())
        .collect()
}

/// The successes as the parallel arrays [`succeed_all`] unnests (one element per success),
/// each job's kind deciding its effect and its follow-up's settings.
struct SuccessColumns {
    ids: Vec<Uuid>,
    attempts: Vec<i32>,
    durations: Vec<Option<f64>>,
    widths: Vec<Option<i32>>,
    heights: Vec<Option<i32>>,
    renditions: Vec<String>,
    makes_ready: Vec<bool>,
    follow_ups: Vec<Option<&'static str>>,
    follow_up_ids: Vec<Uuid>,
    follow_up_priorities: Vec<Option<i16>>,
    follow_up_max_attempts: Vec<Option<i32>>,
    follow_up_live_keys: Vec<Option<String>>,
    media_prefixes: Vec<Option<String>>,
    posters: Vec<bool>,
    storyboards: Vec<bool>,
    writes_video: Vec<bool>,
}

impl SuccessColumns {
    fn new(successes: &[Success<'_>]) -> Result<Self, QueueError> {
        let renditions = successes
            .iter()
            .map(|s| serde_json::to_string(&s.facts.renditions))
            .collect::<Result<_, _>>()
            .map_err(|e| QueueError::Invariant(format!("renditions as JSON: {e}")))?;
        Ok(Self {
            ids: successes.iter().map(|s| s.job.id).collect(),
            attempts: successes.iter().map(|s| s.job.attempt).collect(),
            durations: successes.iter().map(|s| s.facts.duration_s).collect(),
            widths: successes.iter().map(|s| s.facts.width).collect(),
            heights: successes.iter().map(|s| s.facts.height).collect(),
            renditions,
            makes_ready: successes
                .iter()
                .map(|s| s.job.kind.on_success() == SuccessEffect::Ready)
                .collect(),
            follow_ups: per_follow_up(successes, JobKind::as_str),
            follow_up_ids: successes.iter().map(|_| Uuid::now_v7()).collect(),
            follow_up_priorities: per_follow_up(successes, JobKind::priority),
            follow_up_max_attempts: per_follow_up(successes, |k| k.retry().max_attempts),
            follow_up_live_keys: successes
                .iter()
                .map(|s| s.follow_up.and_then(|k| k.live_key(Some(s.job.video_id))))
                .collect(),
            media_prefixes: versions(successes, |v| Some(v.prefix.clone())),
            posters: versions(successes, |v| v.poster),
            storyboards: versions(successes, |v| v.storyboard),
            writes_video: successes
                .iter()
                .map(|s| s.job.kind.on_success() != SuccessEffect::Nothing)
                .collect(),
        })
    }
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailOutcome {
    RetryAt(OffsetDateTime),
    Failed,
}

/// Records a failed attempt: a transient one is retried with its kind's backoff while attempts
/// remain; a permanent one (bad input) fails the job at once. The video shows it only where the
/// kind [drives its status](JobKind::drives_video_status) (a ladder job's video stays `ready`
/// with the renditions it has).
pub async fn fail(
    pool: &PgPool,
    job: &ClaimedJob,
    error: &str,
    transient: bool,
) -> Result<FailOutcome, QueueError> {
    let mut tx = pool.begin().await?;
    let outcome = if transient && job.attempt < job.max_attempts {
        let delay = job.kind.retry().backoff(job.attempt);
        let rows = sqlx::query!(
            "update jobs set state = 'queued', last_error = $3, lease_expires_at = null,
             run_at = now() + make_interval(secs => $4)
             where id = $1 and attempt = $2 and state = 'running'",
            job.id,
            job.attempt,
            error,
            delay.as_secs_f64(),
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        fenced(job, rows)?;
        if job.kind.drives_video_status() {
            videos::mark_requeued(&mut *tx, job.video_id, error).await?;
        }
        FailOutcome::RetryAt(OffsetDateTime::now_utc() + delay)
    } else {
        finish_job(&mut *tx, job, JobState::Failed, Some(error)).await?;
        if job.kind.drives_video_status() {
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
    let rows = sqlx::query!(
        "update jobs set state = 'queued', attempt = attempt - 1, lease_expires_at = null,
         run_at = now(), worker_id = null
         where id = $1 and attempt = $2 and state = 'running'",
        job.id,
        job.attempt,
    )
    .execute(pool)
    .await?
    .rows_affected();
    fenced(job, rows)
}
