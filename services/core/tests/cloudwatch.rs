//! The failures the CloudWatch emitter reports for a minute, counted by a real Postgres: the
//! processors' jobs that ended `failed` inside that minute, not before or after it, no other
//! outcome, and no webhook delivery the API gave up on.

use sqlx::PgPool;
use vodnest_core::cloudwatch::jobs_failed_in_minute;
use vodnest_core::queue::{self, JobKind};

mod common;
use common::new_video;

/// A minute boundary (Unix seconds).
const MINUTE: i64 = 1_800_000_000;
const _: () = assert!(MINUTE % 60 == 0);

/// A job of a new video that ended in `state` at `finished` (Unix seconds).
async fn job_ended(pool: &PgPool, state: &str, finished: i64) {
    let video = new_video(pool).await;
    assert!(
        queue::enqueue(pool, JobKind::Transcode, video)
            .await
            .expect("enqueue")
    );
    sqlx::query(
        "update jobs set state = $2, finished_at = to_timestamp($3), lease_expires_at = null
         where video_id = $1",
    )
    .bind(video)
    .bind(state)
    .bind(finished as f64)
    .execute(pool)
    .await
    .expect("end the job");
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_minute_counts_the_jobs_that_failed_within_it(pool: PgPool) {
    job_ended(&pool, "failed", MINUTE - 1).await;
    job_ended(&pool, "failed", MINUTE).await;
    job_ended(&pool, "failed", MINUTE + 59).await;
    job_ended(&pool, "succeeded", MINUTE + 10).await;
    job_ended(&pool, "canceled", MINUTE + 20).await;
    job_ended(&pool, "failed", MINUTE + 60).await;
    sqlx::query(
        "insert into jobs (id, kind, queue, owner_key, state, finished_at)
         values (gen_random_uuid(), 'webhook', 'api', gen_random_uuid(), 'failed', to_timestamp($1))",
    )
    .bind((MINUTE + 30) as f64)
    .execute(&pool)
    .await
    .expect("a webhook delivery given up");
    let count = async |start| jobs_failed_in_minute(&pool, start).await.expect("count");
    assert_eq!(count(MINUTE - 60).await, 1);
    assert_eq!(count(MINUTE).await, 2);
    assert_eq!(count(MINUTE + 60).await, 1);
    assert_eq!(count(MINUTE + 120).await, 0);
}
