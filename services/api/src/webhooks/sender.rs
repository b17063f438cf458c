//! The webhook sender: a worker in every API process (the processors' network reaches
//! storage only) that claims `webhook` jobs from the `api` queue and POSTs each delivery, signed
//! with its endpoint's secret. A 2xx answer delivers it; anything else (another status, a
//! timeout, a refused address) is retried with the kind's backoff until a day has passed, then
//! the delivery is given up. Jobs are claimed under a lease, so a process that dies mid-send
//! leaves the delivery to another one: a receiver may see a delivery twice, never zero times,
//! and tells them apart by the delivery id.

use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vodnest_core::queue::{self, ClaimedTask, Claimer, JobQueue, QueueError};
use vodnest_core::videos;
use vodnest_core::webhooks::{self, Attempt, Event, Outgoing};

use super::WebhookSettings;
use super::targets::{self, CheckedResolver};
use crate::state::AppState;

/// The longest an idle sender waits before looking again: it sleeps until the next retry is
/// due, or a video change wakes it, but another process's redelivery wakes nobody here.
const POLL: Duration = Duration::from_secs(2);

/// The client every delivery goes through: names resolve to checked addresses only, no
/// redirects are followed (a 3xx is a failed attempt), no proxy from the environment.
pub fn client(settings: &WebhookSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(CheckedResolver {
            resolver: settings.resolver.clone(),
            policy: settings.policy(),
        }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(settings.timeout().min(Duration::from_secs(5)))
        .timeout(settings.timeout())
        .user_agent(concat!("vodnest-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Sends deliveries until `stop`; then waits for those in flight (at most one timeout).
pub async fn run(state: AppState, client: reqwest::Client, stop: CancellationToken) {
    let settings = &state.config.webhooks;
    let claimer = Claimer {
        worker_id: format!("api-webhooks-{}", Uuid::now_v7()).into(),
        // An attempt ends within the timeout; the margin covers recording it.
        lease: settings.timeout() + Duration::from_secs(30),
        queue: JobQueue::Api,
    };
    let most = settings.concurrency as usize;
    let wake = state.hub.video_changes();
    let mut running = JoinSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let free = most.saturating_sub(running.len());
        if free > 0 {
            match queue::claim_tasks(&state.pool, &claimer, free as i64).await {
                Ok(tasks) if !tasks.is_empty() => {
                    for task in tasks {
                        running.spawn(deliver(state.clone(), client.clone(), task));
                    }
                    continue;
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "cannot claim webhook deliveries"),
            }
        }
        // With every slot busy, the next free one wakes the loop (not the next due retry).
        let idle = if free == 0 {
            POLL
        } else {
            until_next_due(&state).await
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(idle) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    let grace = settings.timeout() + Duration::from_secs(1);
    if tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        // Their leases run out and another process sends them.
        running.abort_all();
    }
}

/// How long to sleep: until the next retry is due, at most [`POLL`].
async fn until_next_due(state: &AppState) -> Duration {
    match queue::next_due(&state.pool, JobQueue::Api).await {
        Ok(Some(at)) => {
            between(OffsetDateTime::now_utc(), at).clamp(Duration::from_millis(10), POLL)
        }
        Ok(None) => POLL,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read when the next delivery is due");
            POLL
        }
    }
}

/// One attempt at one delivery, recorded.
async fn deliver(state: AppState, client: reqwest::Client, task: ClaimedTask) {
    let started = Instant::now();
    let attempt = match attempt(&state, &client, &task).await {
        Ok(attempt) => attempt,
        Err(err) => {
            tracing::warn!(job = %task.id, error = %err, "webhook delivery could not be prepared");
            retry_or_give_up(&state.config.webhooks, &task, None, None, err.to_string())
        }
    };
    let outcome = match &attempt {
        Attempt::Delivered { .. } => "delivered",
        Attempt::Retry { .. } => "retry",
        Attempt::GiveUp { .. } => "gave_up",
        Attempt::Dropped => "dropped",
    };
    metrics::counter!("vodnest_webhook_deliveries_total", "outcome" => outcome).increment(1);
    metrics::histogram!("vodnest_webhook_attempt_seconds").record(started.elapsed().as_secs_f64());
    match webhooks::record(&state.pool, &task, &attempt).await {
        Ok(()) => {}
        Err(QueueError::Fenced(_)) => {
            tracing::info!(job = %task.id, "webhook delivery was canceled or taken over meanwhile");
        }
        Err(err) => tracing::warn!(job = %task.id, error = %err, "cannot record a webhook attempt"),
    }
}

#[derive(Debug, thiserror::Error)]
enum PrepareError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("payload: {0}")]
    Json(#[from] serde_json::Error),
}

async fn attempt(
    state: &AppState,
    client: &reqwest::Client,
    task: &ClaimedTask,
) -> Result<Attempt, PrepareError> {
    let Some(out) = webhooks::outgoing(&state.pool, task).await? else {
        return Ok(Attempt::Dropped);
    };
    let body = match &out.body {
        Some(body) => body.clone(),
        None => {
            let body = payload(state, &out).await?;
            webhooks::fix_body(&state.pool, out.delivery_id, &body).await?
        }
    };
    let settings = &state.config.webhooks;
    let fail = |status: Option<u16>, error: String| {
        retry_or_give_up(settings, task, Some(&out), status, error)
    };
    // A URL with an address for a host skips the client's resolver: checked here.
    let url = match targets::parse(&out.url) {
        Ok(url) => url,
        Err(err) => return Ok(fail(None, err.to_string())),
    };
    if url
        .host()
        .is_some_and(|h| !matches!(h, url::Host::Domain(_)))
        && let Err(err) = targets::resolve(&url, &settings.resolver, settings.policy()).await
    {
        return Ok(fail(None, err.to_string()));
    }
    let t = OffsetDateTime::now_utc().unix_timestamp();
    let sent = client
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header(
            "Vodnest-Signature",
            webhooks::signature(&out.secret, t, &body),
        )
        .header("Vodnest-Delivery", out.delivery_id.to_string())
        .header("Vodnest-Event", out.event.as_str())
        .body(body)
        .send()
        .await;
    // The answer's body is never read: a receiver cannot make the API hold or store it.
    Ok(match sent {
        Ok(answer) if answer.status().is_success() => Attempt::Delivered {
            status: answer.status().as_u16(),
        },
        Ok(answer) => {
            let status = answer.status();
            fail(
                Some(status.as_u16()),
                format!("the endpoint answered {status}"),
            )
        }
        Err(err) => fail(None, describe(&err)),
    })
}

/// Retried with backoff while the delivery's day (from its job's making) is not over and
/// attempts remain; else given up.
fn retry_or_give_up(
    settings: &WebhookSettings,
    task: &ClaimedTask,
    out: Option<&Outgoing>,
    status: Option<u16>,
    error: String,
) -> Attempt {
    let age = out.map_or(Duration::ZERO, |o| {
        between(o.job_created_at, OffsetDateTime::now_utc())
    });
    if age >= settings.give_up_after() || task.attempt >= task.max_attempts {
        return Attempt::GiveUp { status, error };
    }
    Attempt::Retry {
        status,
        error,
        after: settings.retry().backoff(task.attempt),
    }
}

/// From `earlier` to `later`; zero when `later` is not later.
fn between(earlier: OffsetDateTime, later: OffsetDateTime) -> Duration {
    (later - earlier).try_into().unwrap_or(Duration::ZERO)
}

/// An error and its causes, which name what failed (a refused address, a timeout).
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}

#[derive(Serialize)]
struct Payload {
    id: Uuid,
    #[serde(rename = "type")]
    event: Event,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    data: Data,
}

#[derive(Serialize)]
struct Data {
    video: serde_json::Value,
}

/// The body: the video object as the API shows it now (signed playback URLs included), or what
/// the video was when it was deleted.
async fn payload(state: &AppState, out: &Outgoing) -> Result<String, PrepareError> {
    let video = match &out.video {
        Some(deleted) => deleted.clone(),
        None => match videos::get(&state.pool, out.video_id).await? {
            Some(row) => serde_json::to_value(crate::routes::view(state, row))?,
            None => serde_json::json!({ "id": out.video_id, "deleted": true }),
        },
    };
    Ok(serde_json::to_string(&Payload {
        id: out.delivery_id,
        event: out.event,
        created_at: out.created_at,
        data: Data { video },
    })?)
}
