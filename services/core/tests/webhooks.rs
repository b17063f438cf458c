//! Webhook deliveries against a real Postgres: the trigger that makes them in the video
//! change's transaction, the queue that keeps them from the processors, and the recording of
//! attempts (`#[sqlx::test]` gives each test a fresh database).

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;
use vodnest_core::caller::Role;
use vodnest_core::queue::{self, Claimer, JobKind, JobQueue, QueueError};
use vodnest_core::users;
use vodnest_core::videos;
use vodnest_core::webhooks::{self, Attempt, DeliveryStatus, Event, Redelivery};

mod common;
use common::{new_video, new_video_of};

const LEASE: Duration = Duration::from_secs(30);

fn api_claimer() -> Claimer {
    Claimer {
        worker_id: "api".into(),
        lease: LEASE,
        queue: JobQueue::Api,
    }
}

async fn creator_with_webhook(pool: &PgPool, events: &[Event]) -> (Uuid, Uuid) {
    let user = users::create(pool, "hooked", Role::Creator, None)
        .await
        .expect("create a user")
        .expect("a free username")
        .id;
    let (hook, secret) = webhooks::create(pool, user, "https://hooks.example.com/x", events)
        .await
        .expect("create a webhook");
    assert!(secret.starts_with("whsec_"));
    (user, hook.id)
}

async fn log(pool: &PgPool, hook: Uuid) -> Vec<webhooks::Delivery> {
    webhooks::deliveries(pool, hook, 100, None)
        .await
        .expect("read the log")
}

#[sqlx::test(migrations = "../../migrations")]
async fn video_changes_make_deliveries_with_the_webhook_kinds_settings(pool: PgPool) {
    let (user, hook) = creator_with_webhook(&pool, Event::ALL).await;
    let video = new_video_of(&pool, user).await;
    assert!(log(&pool, hook).await.is_empty(), "a new video is no event");
    videos::mark_uploaded_and_enqueue(&pool, video)
        .await
        .expect("complete the upload");
    videos::mark_failed(&pool, video, "broken")
        .await
        .expect("fail");
    assert!(videos::delete(&pool, video).await.expect("delete"));

    let mut events: Vec<Event> = log(&pool, hook).await.iter().map(|d| d.event).collect();
    events.reverse();
    assert_eq!(
        events,
        [
            Event::UploadCompleted,
            Event::VideoFailed,
            Event::VideoDeleted
        ]
    );
    // Migration 0015's trigger writes the job; its settings are the kind's.
    let kind = JobKind::Webhook;
    let jobs = sqlx::query!(
        "select j.queue, j.priority, j.max_attempts, j.live_key, d.id as delivery, j.video_id
         from jobs j join webhook_deliveries d on d.job_id = j.id"
    )
    .fetch_all(&pool)
    .await
    .expect("read the jobs");
    assert_eq!(jobs.len(), 3, "the deliveries outlive the deleted video");
    for job in jobs {
        assert_eq!(job.queue, kind.queue().as_str());
        assert_eq!(job.priority, kind.priority());
        assert_eq!(job.max_attempts, kind.retry().max_attempts);
        assert_eq!(job.live_key, kind.live_key(Some(job.delivery)));
        assert_eq!(job.video_id, None);
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn only_subscribed_events_of_the_owners_videos_are_delivered(pool: PgPool) {
    let (user, hook) = creator_with_webhook(&pool, &[Event::VideoDeleted]).await;
    let other = new_video(&pool).await;
    assert!(videos::delete(&pool, other).await.expect("delete"));
    let video = new_video_of(&pool, user).await;
    videos::mark_uploaded_and_enqueue(&pool, video)
        .await
        .expect("complete the upload");
    assert!(log(&pool, hook).await.is_empty());
    assert!(videos::delete(&pool, video).await.expect("delete"));
    let deliveries = log(&pool, hook).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].event, Event::VideoDeleted);
    assert_eq!(deliveries[0].status, DeliveryStatus::Pending);
}

#[sqlx::test(migrations = "../../migrations")]
async fn processors_never_claim_deliveries_and_the_api_claims_only_them(pool: PgPool) {
    let (user, hook) = creator_with_webhook(&pool, Event::ALL).await;
    let video = new_video_of(&pool, user).await;
    videos::mark_uploaded_and_enqueue(&pool, video)
        .await
        .expect("complete the upload");
    let tasks = queue::claim_tasks(&pool, &api_claimer(), 10)
        .await
        .expect("claim");
    assert_eq!(tasks.len(), 1, "the upload.completed delivery");
    assert_eq!(tasks[0].kind, JobKind::Webhook);
    let transcode = queue::claim(&pool, "processor", LEASE)
        .await
        .expect("claim")
        .expect("the transcode");
    assert_eq!(transcode.kind, JobKind::Transcode);
    assert!(
        queue::claim(&pool, "processor", LEASE)
            .await
            .expect("claim")
            .is_none()
    );
    assert!(
        queue::claim_tasks(&pool, &api_claimer(), 10)
            .await
            .expect("claim")
            .is_empty()
    );
    assert_eq!(log(&pool, hook).await[0].status, DeliveryStatus::Pending);
}

#[sqlx::test(migrations = "../../migrations")]
async fn attempts_are_recorded_fenced_and_redelivered(pool: PgPool) {
    let (user, hook) = creator_with_webhook(&pool, &[Event::VideoDeleted]).await;
    let video = new_video_of(&pool, user).await;
    assert!(videos::delete(&pool, video).await.expect("delete"));
    let task = queue::claim_tasks(&pool, &api_claimer(), 1)
        .await
        .expect("claim")
        .pop()
        .expect("a delivery");
    let out = webhooks::outgoing(&pool, &task)
        .await
        .expect("read")
        .expect("the delivery");
    assert_eq!(out.event, Event::VideoDeleted);
    assert_eq!(out.video_id, video);
    assert!(
        out.video.is_some(),
        "the deleted video is kept for the body"
    );
    assert_eq!(
        webhooks::fix_body(&pool, out.delivery_id, "first")
            .await
            .expect("fix"),
        "first"
    );
    assert_eq!(
        webhooks::fix_body(&pool, out.delivery_id, "second")
            .await
            .expect("fix"),
        "first",
        "the first body stays"
    );

    let retry = Attempt::Retry {
        status: Some(500),
        error: "the endpoint answered 500".into(),
        after: Duration::ZERO,
    };
    webhooks::record(&pool, &task, &retry)
        .await
        .expect("record");
    let line = &log(&pool, hook).await[0];
    assert_eq!(
        (line.status, line.attempts, line.response_status),
        (DeliveryStatus::Pending, 1, Some(500))
    );
    assert!(matches!(
        webhooks::record(&pool, &task, &retry).await,
        Err(QueueError::Fenced(_))
    ));
    assert_eq!(
        webhooks::redeliver(&pool, hook, out.delivery_id)
            .await
            .expect("redeliver"),
        Redelivery::AlreadyPending
    );

    let again = queue::claim_tasks(&pool, &api_claimer(), 1)
        .await
        .expect("claim")
        .pop()
        .expect("the retry");
    assert_eq!(again.id, task.id);
    let gave_up = Attempt::GiveUp {
        status: None,
        error: "timed out".into(),
    };
    webhooks::record(&pool, &again, &gave_up)
        .await
        .expect("record");
    let line = &log(&pool, hook).await[0];
    assert_eq!(
        (line.status, line.attempts, line.error.as_deref()),
        (DeliveryStatus::Failed, 2, Some("timed out"))
    );

    assert_eq!(
        webhooks::redeliver(&pool, hook, out.delivery_id)
            .await
            .expect("redeliver"),
        Redelivery::Queued
    );
    assert_eq!(
        webhooks::redeliver(&pool, hook, Uuid::now_v7())
            .await
            .expect("redeliver"),
        Redelivery::NotFound
    );
    let third = queue::claim_tasks(&pool, &api_claimer(), 1)
        .await
        .expect("claim")
        .pop()
        .expect("the redelivery");
    assert_ne!(third.id, task.id, "a redelivery is a new job");
    let same = webhooks::outgoing(&pool, &third)
        .await
        .expect("read")
        .expect("the delivery");
    assert_eq!(same.delivery_id, out.delivery_id);
    assert_eq!(same.body.as_deref(), Some("first"));
    webhooks::record(&pool, &third, &Attempt::Delivered { status: 204 })
        .await
        .expect("record");
    let line = &log(&pool, hook).await[0];
    assert_eq!(
        (line.status, line.attempts, line.response_status),
        (DeliveryStatus::Succeeded, 3, Some(204))
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn removing_a_webhook_cancels_its_pending_deliveries(pool: PgPool) {
    let (user, hook) = creator_with_webhook(&pool, &[Event::VideoDeleted]).await;
    let video = new_video_of(&pool, user).await;
    assert!(videos::delete(&pool, video).await.expect("delete"));
    let stranger = users::create(&pool, "stranger", Role::Creator, None)
        .await
        .expect("create")
        .expect("free")
        .id;
    assert!(
        !webhooks::delete(&pool, hook, Some(stranger))
            .await
            .expect("delete")
    );
    assert!(
        webhooks::delete(&pool, hook, Some(user))
            .await
            .expect("delete")
    );
    assert!(
        queue::claim_tasks(&pool, &api_claimer(), 10)
            .await
            .expect("claim")
            .is_empty()
    );
}
