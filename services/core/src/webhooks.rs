//! Webhooks: a user's endpoints and the deliveries made to them.
//!
//! Deliveries are made by the database itself, in the transaction of the video change that
//! causes them (migration 0015), each with a `webhook` job on the `api` queue. This module
//! keeps the endpoints, reads the delivery log, and records what each attempt to send got.

use std::time::Duration;

use base64::Engine;
use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::queue::{self, ClaimedTask, JobKind, JobState, QueueError};
use crate::signing;
use crate::text_enum::text_enum;

text_enum! {
    /// What happened, as a webhook names it (`type` in a delivery's body).
    pub enum Event {
        /// The upload finished and the video is queued for processing.
        UploadCompleted = "upload.completed",
        /// The video can be watched (its first rendition is published).
        VideoPlayable = "video.playable",
        /// Processing is done.
        VideoReady = "video.ready",
        /// Processing failed for good (`error` says why).
        VideoFailed = "video.failed",
        /// The video was deleted.
        VideoDeleted = "video.deleted",
    }
}

/// An endpoint, as its owner sees it (never its secret, but once).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<Event>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

text_enum! {
    /// Where a delivery stands.
    pub enum DeliveryStatus {
        /// Waiting for its next attempt, or being sent.
        Pending = "pending",
        /// The endpoint answered 2xx.
        Succeeded = "succeeded",
        /// Given up after a day of failed attempts (or its endpoint was removed meanwhile).
        Failed = "failed",
    }
}

/// One line of the delivery log.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Also the body's `id` and the `Vodnest-Delivery` header: the receiver's idempotency key.
    pub id: Uuid,
    pub event: Event,
    pub status: DeliveryStatus,
    /// Attempts made so far, redeliveries included.
    pub attempts: i32,
    /// The HTTP status of the last answer, if one came.
    pub response_status: Option<i32>,
    /// Why the last attempt failed, when it did.
    pub error: Option<String>,
    /// The last attempt, or when the delivery was made if none was yet.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// When the next attempt is due, while one is.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A secret to sign with: `whsec_` and 32 random bytes, base64url.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The `Vodnest-Signature` header of `body` sent at unix time `t`:
/// `t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let tag = signing::sign(secret.as_bytes(), format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", signing::hex(&tag))
}

/// Adds an endpoint for `user`; returns it and its secret.
pub async fn create(
    db: impl PgExecutor<'_>,
    user: Uuid,
    url: &str,
    events: &[Event],
) -> Result<(Webhook, String), sqlx::Error> {
    let secret = new_secret();
    let webhook = sqlx::query_as!(
        Webhook,
        r#"insert into webhooks (id, user_id, url, events, secret) values ($1, $2, $3, $4, $5)
           returning id, url, events as "events: Vec<Event>", created_at"#,
        Uuid::now_v7(),
        user,
        url,
        events as &[Event],
        secret,
    )
    .fetch_one(db)
    .await?;
    Ok((webhook, secret))
}

/// `user`'s endpoints, newest first.
pub async fn list(db: impl PgExecutor<'_>, user: Uuid) -> Result<Vec<Webhook>, sqlx::Error> {
    sqlx::query_as!(
        Webhook,
        r#"select id, url, events as "events: Vec<Event>", created_at from webhooks
           where user_id = $1 order by created_at desc, id desc"#,
        user,
    )
    .fetch_all(db)
    .await
}

pub async fn count(db: impl PgExecutor<'_>, user: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from webhooks where user_id = $1"#,
        user
    )
    .fetch_one(db)
    .await
}

/// The endpoint `id`, if it exists and is `only_of`'s (any owner's with `None`).
pub async fn get(
    db: impl PgExecutor<'_>,
    id: Uuid,
    only_of: Option<Uuid>,
) -> Result<Option<Webhook>, sqlx::Error> {
    sqlx::query_as!(
        Webhook,
        r#"select id, url, events as "events: Vec<Event>", created_at from webhooks
           where id = $1 and ($2::uuid is null or user_id = $2)"#,
        id,
        only_of,
    )
    .fetch_optional(db)
    .await
}

/// Removes an endpoint (if it is `only_of`'s) with its log; its pending deliveries are
/// canceled. False when there was none.
pub async fn delete(
    db: impl PgExecutor<'_>,
    id: Uuid,
    only_of: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    let gone = sqlx::query_scalar!(
        r#"with gone as (
               delete from webhooks where id = $1 and ($2::uuid is null or user_id = $2)
               returning id
           ), stopped as (
               update jobs set state = 'canceled', lease_expires_at = null, finished_at = now()
               where id in (select job_id from webhook_deliveries
                            where webhook_id in (select id from gone))
                   and state in ('queued', 'running')
           )
           select count(*) as "count!" from gone"#,
        id,
        only_of,
    )
    .fetch_one(db)
    .await?;
    Ok(gone > 0)
}

/// A page of an endpoint's log, newest first, after the (created_at, id) of the last line of
/// the previous page.
pub async fn deliveries(
    db: impl PgExecutor<'_>,
    webhook: Uuid,
    limit: i64,
    after: Option<(OffsetDateTime, Uuid)>,
) -> Result<Vec<Delivery>, sqlx::Error> {
    let (at, id) = after.unzip();
    sqlx::query_as!(
        Delivery,
        r#"select d.id, d.event as "event: Event",
               case when j.state in ('queued', 'running') then 'pending'
                    when j.state = 'succeeded' then 'succeeded'
                    else 'failed' end as "status!: DeliveryStatus",
               d.attempts, d.response_status, d.last_error as error,
               coalesce(d.last_attempt_at, d.created_at) as "at!",
               case when j.state = 'queued' then j.run_at end as next_attempt_at,
               d.created_at
           from webhook_deliveries d left join jobs j on j.id = d.job_id
           where d.webhook_id = $1
               and ($2::timestamptz is null or (d.created_at, d.id) < ($2, $3))
           order by d.created_at desc, d.id desc limit $4"#,
        webhook,
        at,
        id,
        limit,
    )
    .fetch_all(db)
    .await
}

/// What the sender needs to make an attempt.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub delivery_id: Uuid,
    pub url: String,
    pub secret: String,
    pub event: Event,
    pub video_id: Uuid,
    /// The deleted video, for `video.deleted`.
    pub video: Option<serde_json::Value>,
    /// The body of the first attempt, which every later one sends again.
    pub body: Option<String>,
    pub created_at: OffsetDateTime,
    /// When the job sending it was made: the day of retries counts from it.
    pub job_created_at: OffsetDateTime,
}

/// The delivery the claimed job sends; `None` when it is gone (its endpoint was removed).
pub async fn outgoing(
    db: impl PgExecutor<'_>,
    job: &ClaimedTask,
) -> Result<Option<Outgoing>, sqlx::Error> {
    sqlx::query_as!(
        Outgoing,
        r#"select d.id as delivery_id, w.url, w.secret, d.event as "event: Event", d.video_id,
               d.video, d.body, d.created_at, j.created_at as job_created_at
           from webhook_deliveries d
           join webhooks w on w.id = d.webhook_id
           join jobs j on j.id = d.job_id
           where d.job_id = $1"#,
        job.id,
    )
    .fetch_optional(db)
    .await
}

/// Fixes the delivery's body the first time; returns the body every attempt sends.
pub async fn fix_body(
    db: impl PgExecutor<'_>,
    delivery: Uuid,
    body: &str,
) -> Result<String, sqlx::Error> {
    let fixed = sqlx::query_scalar!(
        "update webhook_deliveries set body = coalesce(body, $2) where id = $1 returning body",
        delivery,
        body,
    )
    .fetch_optional(db)
    .await?
    .flatten();
    Ok(fixed.unwrap_or_else(|| body.to_owned()))
}

/// What an attempt got.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// A 2xx answer.
    Delivered { status: u16 },
    /// No 2xx: try again after `after`.
    Retry {
        status: Option<u16>,
        error: String,
        after: Duration,
    },
    /// No 2xx, and the day of retries is over.
    GiveUp { status: Option<u16>, error: String },
    /// The delivery is gone: nothing was sent.
    Dropped,
}

/// Records an attempt on the delivery and moves its job on, fenced by the attempt number:
/// `Fenced` when the job is no longer this attempt's (its lease ran out, or it was canceled).
pub async fn record(pool: &PgPool, job: &ClaimedTask, attempt: &Attempt) -> Result<(), QueueError> {
    let (state, status, error, after) = match attempt {
        Attempt::Delivered { status } => (JobState::Succeeded, Some(*status), None, None),
        Attempt::Retry {
            status,
            error,
            after,
        } => (
            JobState::Queued,
            *status,
            Some(error.as_str()),
            Some(*after),
        ),
        Attempt::GiveUp { status, error } => {
            (JobState::Failed, *status, Some(error.as_str()), None)
        }
        Attempt::Dropped => (JobState::Canceled, None, None, None),
    };
    let moved = sqlx::query_scalar!(
        r#"with job as (
               update jobs set state = $3, last_error = coalesce($4, last_error),
                   lease_expires_at = null,
                   run_at = case when $3 = 'queued'
                       then now() + make_interval(secs => $5) else run_at end,
                   finished_at = case when $3 = 'queued' then null else now() end
               where id = $1 and attempt = $2 and state = 'running'
               returning id
           ), logged as (
               update webhook_deliveries set attempts = attempts + 1, response_status = $6,
                   last_error = $4, last_attempt_at = now()
               where job_id in (select id from job) and $3 <> 'canceled'
           )
           select count(*) as "count!" from job"#,
        job.id,
        job.attempt,
        state as JobState,
        error,
        after.map_or(0.0, |d| d.as_secs_f64()),
        status.map(i32::from),
    )
    .fetch_one(pool)
    .await?;
    if moved == 0 {
        return Err(QueueError::Fenced(job.id));
    }
    Ok(())
}

/// What a redelivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redelivery {
    /// A new job sends it again, now.
    Queued,
    /// It is still pending: nothing was done.
    AlreadyPending,
    NotFound,
}

/// Sends a finished delivery of endpoint `webhook` again (same id, same body), with a fresh
/// day of retries.
pub async fn redeliver(
    pool: &PgPool,
    webhook: Uuid,
    delivery: Uuid,
) -> Result<Redelivery, QueueError> {
    let mut tx = pool.begin().await?;
    let found = sqlx::query!(
        r#"select j.state as "state?: JobState" from webhook_deliveries d
           left join jobs j on j.id = d.job_id
           where d.id = $1 and d.webhook_id = $2 for update of d"#,
        delivery,
        webhook,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(found) = found else {
        return Ok(Redelivery::NotFound);
    };
    if found.state.is_some_and(|s| !s.is_terminal()) {
        return Ok(Redelivery::AlreadyPending);
    }
    let Some(job) = queue::enqueue_task(&mut *tx, JobKind::Webhook, delivery, webhook).await?
    else {
        return Ok(Redelivery::AlreadyPending);
    };
    sqlx::query!(
        "update webhook_deliveries set job_id = $2 where id = $1",
        delivery,
        job
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Redelivery::Queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        let header = signature("whsec_test", 1_700_000_000, r#"{"id":"x"}"#);
        let expected = signing::hex(&signing::sign(b"whsec_test", br#"1700000000.{"id":"x"}"#));
        assert_eq!(header, format!("t=1700000000,v1={expected}"));
    }

    #[test]
    fn secrets_are_long_and_differ() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with("whsec_") && a.len() == 6 + 43, "{a}");
        assert_ne!(a, b);
    }
}
