//! Rows that nothing will read again, deleted by the API's sweeper: expired sessions and
//! invites at once (they can never be used), and after the retention period expired API keys
//! (their owners see them listed as expired for a while), finished jobs that a later job of
//! their video superseded (each video keeps its latest: the control plane's history of it) and
//! webhook deliveries with their jobs, the videos of uploads that were abandoned (failed with no job ever run for them, so nothing
//! of theirs is in storage), counted from the upload's deadline. Audit events are kept. Each statement takes
//! at most a batch, so a large backlog is cleared over several passes without long locks.

use std::time::Duration;

use sqlx::PgPool;

/// Rows one statement deletes at most.
const BATCH: i64 = 1000;

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub sessions: u64,
    pub invites: u64,
    pub keys: u64,
    pub jobs: u64,
    pub deliveries: u64,
    pub abandoned_videos: u64,
}

impl Swept {
    pub fn total(&self) -> u64 {
        self.sessions
            + self.invites
            + self.keys
            + self.jobs
            + self.deliveries
            + self.abandoned_videos
    }
}

/// One pass; `keep` is how long finished and expired rows are kept.
pub async fn sweep(pool: &PgPool, keep: Duration) -> Result<Swept, sqlx::Error> {
    let keep = keep.as_secs_f64();
    Ok(Swept {
        sessions: sessions(pool).await?,
        invites: invites(pool).await?,
        keys: keys(pool, keep).await?,
        jobs: jobs(pool, keep).await?,
        deliveries: deliveries(pool, keep).await?,
        abandoned_videos: abandoned_videos(pool, keep).await?,
    })
}

/// Expired sessions: never usable again.
async fn sessions(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "delete from sessions where id_hash in (
             select id_hash from sessions where expires_at < now() limit $1)",
        BATCH,
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// Expired invites: never usable again.
async fn invites(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "delete from invites where id_hash in (
             select id_hash from invites where expires_at < now() limit $1)",
        BATCH,
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// API keys expired more than `keep` ago (listed as expired until then).
async fn keys(pool: &PgPool, keep: f64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "delete from api_tokens where id in (
             select id from api_tokens
             where expires_at < now() - make_interval(secs => $1) limit $2)",
        keep,
        BATCH,
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// Finished jobs that a later job of their video superseded (each video keeps its latest).
async fn jobs(pool: &PgPool, keep: f64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "delete from jobs where id in (
             select j.id from jobs j where j.state in ('succeeded', 'failed', 'canceled')
                 and j.finished_at < now() - make_interval(secs => $1)
                 and (j.video_id is null or exists (select 1 from jobs newer
                     where newer.video_id = j.video_id and newer.created_at > j.created_at))
                 -- A delivery's job goes with its delivery (below): its log reads the state.
                 and not exists (select 1 from webhook_deliveries d where d.job_id = j.id)
             limit $2)",
        keep,
        BATCH,
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// Webhook deliveries made more than `keep` ago and finished, with their jobs.
async fn deliveries(pool: &PgPool, keep: f64) -> Result<u64, sqlx::Error> {
    let count = sqlx::query_scalar!(
        r#"with old as (
               select d.id, d.job_id from webhook_deliveries d join jobs j on j.id = d.job_id
               where d.created_at < now() - make_interval(secs => $1)
                   and j.state in ('succeeded', 'failed', 'canceled')
               limit $2
           ), gone as (
               delete from webhook_deliveries where id in (select id from old) returning job_id
           ), jobs_gone as (
               delete from jobs where id in (select job_id from gone)
           )
           select count(*) as "count!" from gone"#,
        keep,
        BATCH,
    )
    .fetch_one(pool)
    .await?;
    Ok(count as u64)
}

/// The videos of uploads abandoned more than `keep` ago (nothing of theirs is in storage).
async fn abandoned_videos(pool: &PgPool, keep: f64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "delete from videos where id in (
             select v.id from videos v
             where v.status = 'failed'
                 and v.upload_expires_at < now() - make_interval(secs => $1)
                 and not exists (select 1 from jobs j where j.video_id = v.id)
             limit $2)",
        keep,
        BATCH,
    )
    .execute(pool)
    .await?
    .rows_affected())
}
