//! What the database tests share: videos made straight in Postgres.

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;
use vodnest_core::videos::{self, NewVideo};

pub async fn new_video(pool: &PgPool) -> Uuid {
    new_video_of(pool, vodnest_core::caller::BUILTIN_ADMIN).await
}

pub async fn new_video_of(pool: &PgPool, owner: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    let new = NewVideo {
        id,
        title: "t".into(),
        filename: "t.mp4".into(),
        content_type: "video/mp4".into(),
        size_bytes: 1,
        upload_id: "upload".into(),
        part_size: 8 << 20,
        part_count: 1,
        upload_expires_at: OffsetDateTime::now_utc(),
        owner_id: owner,
        visibility: vodnest_core::domain::Visibility::Private,
        description: String::new(),
        growing: false,
    };
    videos::insert(pool, &new).await.expect("insert video");
    id
}
