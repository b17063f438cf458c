//! The sweep of long-dead rows against a real Postgres: what is past the retention goes, what
//! someone may still use or read stays.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;
use vodnest_core::queue::{self, JobKind};
use vodnest_core::{retention, videos};

mod common;
use common::new_video;

const KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

async fn exec(pool: &PgPool, sql: &str, id: Uuid) {
    sqlx::query(sql)
        .bind(id)
        .execute(pool)
        .await
        .expect("fixture");
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .expect("count")
}

#[sqlx::test(migrations = "../../migrations")]
async fn long_dead_rows_go_and_live_ones_stay(pool: PgPool) {
    // An upload abandoned 40 days ago (no job ever ran), and one abandoned yesterday.
    let abandoned = new_video(&pool).await;
    videos::mark_upload_failed(&pool, abandoned, "expired")
        .await
        .expect("fail");
    exec(
        &pool,
        "update videos set upload_expires_at = now() - interval '40 days' where id = $1",
        abandoned,
    )
    .await;
    let recent = new_video(&pool).await;
    videos::mark_upload_failed(&pool, recent, "expired")
        .await
        .expect("fail");

    // A video whose transcode failed 40 days ago (its raw file is still there): kept, with its
    // latest job; an older job of it that the latest superseded goes.
    let failed = new_video(&pool).await;
    for _ in 0..2 {
        assert!(
            queue::enqueue(&pool, JobKind::Transcode, failed)
                .await
                .expect("enqueue")
        );
        exec(
            &pool,
            "update jobs set state = 'failed', finished_at = now() - interval '40 days',
                 created_at = created_at - interval '40 days' where video_id = $1 and state = 'queued'",
            failed,
        )
        .await;
    }
    exec(
        &pool,
        "update videos set status = 'failed', upload_expires_at = now() - interval '40 days'
         where id = $1",
        failed,
    )
    .await;

    // Sessions and invites: expired ones go at once.
    sqlx::query(
        "insert into sessions (id_hash, expires_at, user_id, scopes)
         values ('\\x01', now() - interval '1 second', $1, '{}'),
             ('\\x02', now() + interval '1 day', $1, '{}')",
    )
    .bind(vodnest_core::caller::BUILTIN_ADMIN)
    .execute(&pool)
    .await
    .expect("sessions");

    let swept = retention::sweep(&pool, KEEP).await.expect("sweep");
    assert_eq!(swept.abandoned_videos, 1, "{swept:?}");
    assert_eq!(swept.jobs, 1, "{swept:?}");
    assert_eq!(swept.sessions, 1, "{swept:?}");
    assert!(videos::get(&pool, abandoned).await.expect("get").is_none());
    assert!(videos::get(&pool, recent).await.expect("get").is_some());
    assert!(videos::get(&pool, failed).await.expect("get").is_some());
    assert_eq!(count(&pool, "select count(*) from jobs").await, 1);
    assert_eq!(count(&pool, "select count(*) from sessions").await, 1);
    // A second pass finds nothing more.
    assert_eq!(
        retention::sweep(&pool, KEEP).await.expect("sweep").total(),
        0
    );
}
