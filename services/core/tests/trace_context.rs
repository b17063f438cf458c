//! The trace context a job carries (`jobs.trace_context`): the enqueuing span's `traceparent`
//! is stored with the job, returned by a claim (alone, or chained to a success) and copied to
//! the follow-up job the success enqueues.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use sqlx::PgPool;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use uuid::Uuid;
use vodnest_core::queue::{self, Claimer, JobKind, JobQueue};
use vodnest_core::trace_context;
use vodnest_core::videos::MediaFacts;

mod common;

const LEASE: Duration = Duration::from_secs(30);

/// Spans on this thread get OpenTelemetry contexts (nothing is exported).
fn traced() -> tracing::subscriber::DefaultGuard {
    let tracer = SdkTracerProvider::builder().build().tracer("test");
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
    tracing::subscriber::set_default(subscriber)
}

async fn stored(pool: &PgPool, video: Uuid, kind: JobKind) -> Option<String> {
    sqlx::query_scalar("select trace_context from jobs where video_id = $1 and kind::text = $2")
        .bind(video)
        .bind(kind.as_str())
        .fetch_one(pool)
        .await
        .expect("the job")
}

/// Enqueues a transcode job for a new video inside a span of its own; returns the video and
/// that span's `traceparent`.
async fn traced_enqueue(pool: &PgPool) -> (Uuid, String) {
    let video = common::new_video(pool).await;
    let span = tracing::info_span!("request");
    let traceparent = span
        .in_scope(trace_context::current)
        .expect("a traced span");
    let enqueued = queue::enqueue(pool, JobKind::Transcode, video)
        .instrument(span)
        .await
        .expect("enqueue");
    assert!(enqueued);
    (video, traceparent)
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_job_and_its_follow_up_carry_the_enqueuing_trace(pool: PgPool) {
    let _traced = traced();
    let (first, first_trace) = traced_enqueue(&pool).await;
    assert_eq!(
        stored(&pool, first, JobKind::Transcode).await.as_deref(),
        Some(first_trace.as_str())
    );
    let (second, second_trace) = traced_enqueue(&pool).await;
    assert_ne!(first_trace, second_trace);

    let transcode = queue::claim(&pool, "w", LEASE)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(transcode.video_id, first);
    assert_eq!(
        transcode.trace_context.as_deref(),
        Some(first_trace.as_str())
    );
    // The success enqueues the ladder job and claims the next job in one statement (which
    // cannot see the job it inserts: the ladder comes with a later claim).
    let claimer = Claimer {
        worker_id: Arc::from("w"),
        lease: LEASE,
        queue: JobQueue::Processor,
    };
    let done = queue::succeed_and_claim(
        &pool,
        &transcode,
        &MediaFacts::default(),
        Some(JobKind::Ladder),
        Some(&claimer),
    )
    .await
    .expect("succeed");
    let chained = done
        .next
        .expect("the second video's job, claimed with the success");
    assert_eq!(chained.video_id, second);
    assert_eq!(
        chained.trace_context.as_deref(),
        Some(second_trace.as_str())
    );

    assert_eq!(
        stored(&pool, first, JobKind::Ladder).await.as_deref(),
        Some(first_trace.as_str())
    );
    let ladder = queue::claim(&pool, "w", LEASE)
        .await
        .expect("claim")
        .expect("the ladder job");
    assert_eq!((ladder.video_id, ladder.kind), (first, JobKind::Ladder));
    assert_eq!(ladder.trace_context.as_deref(), Some(first_trace.as_str()));
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_untraced_enqueue_stores_no_context(pool: PgPool) {
    let video = common::new_video(&pool).await;
    assert!(
        queue::enqueue(&pool, JobKind::Transcode, video)
            .await
            .expect("enqueue")
    );
    assert_eq!(stored(&pool, video, JobKind::Transcode).await, None);
    let job = queue::claim(&pool, "w", LEASE)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(job.trace_context, None);
}
