//! Reads and writes of the `videos` table. Each write fires the NOTIFY trigger.

use sqlx::{Acquire, PgExecutor, Postgres};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{Rendition, VideoRow, VideoStatus, Visibility};
use crate::queue;

/// `sqlx::query_as!` into a [`VideoRow`] for a statement that names every column of `videos`
/// (after `select` or `returning`) between `$before` and `$after`: the list is written once.
macro_rules! query_video {
    ($before:literal, $after:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            VideoRow,
            $before
                + r#" id, title, filename, content_type, status as "status: VideoStatus", stage,
                progress, playable, error, size_bytes, duration_s, width, height,
                renditions as "renditions: sqlx::types::Json<Vec<Rendition>>", upload_id,
                part_size, part_count, upload_expires_at, has_poster, has_storyboard, created_at,
                updated_at, owner_id,
                (select username from users where users.id = videos.owner_id) as "owner_username!",
                visibility as "visibility: Visibility", description, view_count "#
                + $after
            $(, $arg)*
        )
    };
}

/// What the API knows when an upload starts.
#[derive(Debug, Clone)]
pub struct NewVideo {
    pub id: Uuid,
    pub title: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub upload_id: String,
    pub part_size: i64,
    pub part_count: i32,
    pub upload_expires_at: OffsetDateTime,
    pub owner_id: Uuid,
    pub visibility: Visibility,
    pub description: String,
}

pub async fn insert(db: impl PgExecutor<'_>, new: &NewVideo) -> Result<VideoRow, sqlx::Error> {
    query_video!(
        "insert into videos (id, title, filename, content_type, size_bytes, upload_id, part_size,
         part_count, upload_expires_at, owner_id, visibility, description)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning",
        "",
        new.id,
        new.title,
        new.filename,
        new.content_type,
        new.size_bytes,
        new.upload_id,
        new.part_size,
        new.part_count,
        new.upload_expires_at,
        new.owner_id,
        new.visibility as Visibility,
        new.description,
    )
    .fetch_one(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<VideoRow>, sqlx::Error> {
    query_video!("select", "from videos where id = $1", id)
        .fetch_optional(db)
        .await
}

/// Where a page of a newest-first list starts: after the (created_at, id) of the last video of
/// the previous page, or at the newest.
pub type Cursor = Option<(OffsetDateTime, Uuid)>;

/// Newest first: the videos of `owner`, or everyone's when `owner` is `None` (an admin).
pub async fn list(
    db: impl PgExecutor<'_>,
    owner: Option<Uuid>,
    limit: i64,
    before: Cursor,
) -> Result<Vec<VideoRow>, sqlx::Error> {
    // One statement for every case: the skipped conditions cost nothing.
    let (created_at, id) = before.unzip();
    query_video!(
        "select",
        "from videos where ($1::timestamptz is null or (created_at, id) < ($1, $2))
           and ($4::uuid is null or owner_id = $4)
         order by created_at desc, id desc limit $3",
        created_at,
        id,
        limit,
        owner,
    )
    .fetch_all(db)
    .await
}

/// What anyone may list: public, playable videos, newest first, of one user when `owner` names
/// one, whose title contains `query` (case-insensitive) when given.
pub async fn list_public(
    db: impl PgExecutor<'_>,
    owner: Option<&str>,
    query: Option<&str>,
    limit: i64,
    before: Cursor,
) -> Result<Vec<VideoRow>, sqlx::Error> {
    let (created_at, id) = before.unzip();
    let pattern = query.map(like_pattern);
    query_video!(
        "select",
        r"from videos where visibility = 'public' and playable
           and ($1::timestamptz is null or (created_at, id) < ($1, $2))
           and ($4::text is null
                or owner_id = (select id from users where username = $4))
           and ($5::text is null or title ilike $5 escape '\')
         order by created_at desc, id desc limit $3",
        created_at,
        id,
        limit,
        owner,
        pattern,
    )
    .fetch_all(db)
    .await
}

/// `%text%` for `ilike`, with the pattern's own characters escaped.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The editable fields of a video; `None` leaves one as it is.
#[derive(Debug, Clone, Default)]
pub struct VideoEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
}

/// Applies an edit; returns the video as it is now, or `None` when there is no such video.
pub async fn edit(
    db: impl PgExecutor<'_>,
    id: Uuid,
    edit: &VideoEdit,
) -> Result<Option<VideoRow>, sqlx::Error> {
    query_video!(
        "update videos set title = coalesce($2, title), description = coalesce($3, description),
           visibility = coalesce($4, visibility)
         where id = $1 returning",
        "",
        id,
        edit.title,
        edit.description,
        edit.visibility as Option<Visibility>,
    )
    .fetch_optional(db)
    .await
}

/// Counts a view once per viewer per day. `viewer` is a keyed digest the caller derives from
/// the request and the day, so that nothing personal is kept. Returns whether it counted.
pub async fn count_view(
    db: impl PgExecutor<'_>,
    id: Uuid,
    viewer: &[u8],
) -> Result<bool, sqlx::Error> {
    let counted = sqlx::query_scalar!(
        "with seen as (
             insert into video_views (video_id, day, viewer) values ($1, current_date, $2)
             on conflict do nothing returning video_id
         )
         update videos set view_count = view_count + 1 where id in (select video_id from seen)
         returning id",
        id,
        viewer,
    )
    .fetch_optional(db)
    .await?;
    Ok(counted.is_some())
}

/// Forgets the viewer digests of days before yesterday (the counts stay).
pub async fn sweep_views(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!("delete from video_views where day < current_date - 1")
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// A user's usage, against which quotas are checked.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// Uploads created and not completed yet.
    pub uploads_in_flight: i64,
    /// Bytes of the videos created in the last 24 hours.
    pub bytes_last_day: i64,
    /// Bytes of all the user's videos.
    pub bytes_total: i64,
}

pub async fn usage(db: impl PgExecutor<'_>, owner: Uuid) -> Result<Usage, sqlx::Error> {
    let row = sqlx::query!(
        r#"select
             count(*) filter (where status = 'awaiting_upload') as "in_flight!",
             coalesce(sum(size_bytes) filter (where created_at > now() - interval '1 day'), 0)::bigint
               as "last_day!",
             coalesce(sum(size_bytes), 0)::bigint as "total!"
           from videos where owner_id = $1"#,
        owner,
    )
    .fetch_one(db)
    .await?;
    Ok(Usage {
        uploads_in_flight: row.in_flight,
        bytes_last_day: row.last_day,
        bytes_total: row.total,
    })
}

/// Holds `owner`'s usage still until the transaction ends: of two creates of one user, the
/// second reads the usage after the first committed, so both cannot pass a quota that only
/// one fits under. (Seed 1 keeps these locks apart from the per-video ones, seed 0.)
pub async fn lock_usage(db: impl PgExecutor<'_>, owner: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended($1::uuid::text, 1))",
        owner
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!("delete from videos where id = $1", id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Marks an uploaded video `queued` and enqueues its job in the same transaction. Returns the
/// video as this call left it, or `None` when a previous (or concurrent) call already did it:
/// the video is then no longer `awaiting_upload` and nothing changes.
pub async fn mark_uploaded_and_enqueue<'c>(
    db: impl Acquire<'c, Database = Postgres>,
    id: Uuid,
) -> Result<Option<VideoRow>, sqlx::Error> {
    // A transaction of its own, or a savepoint inside the caller's.
    let mut tx = db.begin().await?;
    let row = query_video!(
        "update videos set status = 'queued', stage = null, progress = 0, upload_id = null
         where id = $1 and status = 'awaiting_upload' returning",
        "",
        id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if row.is_some() {
        queue::enqueue(&mut *tx, queue::JobKind::Transcode, id).await?;
    }
    tx.commit().await?;
    Ok(row)
}

/// Ends an upload that cannot be processed (for example, the object is missing or too small).
pub async fn mark_upload_failed(
    db: impl PgExecutor<'_>,
    id: Uuid,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update videos set status = 'failed', error = $2, upload_id = null
         where id = $1 and status = 'awaiting_upload'",
        id,
        error,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// An upload whose deadline passed while it was still `awaiting_upload`.
#[derive(Debug, sqlx::FromRow)]
pub struct ExpiredUpload {
    pub id: Uuid,
    pub upload_id: String,
}

/// At most `limit` uploads left unfinished past their deadline, oldest first.
pub async fn expired_uploads(
    db: impl PgExecutor<'_>,
    limit: i64,
) -> Result<Vec<ExpiredUpload>, sqlx::Error> {
    sqlx::query_as!(
        ExpiredUpload,
        r#"select id, upload_id as "upload_id!" from videos
         where status = 'awaiting_upload' and upload_expires_at < now() and upload_id is not null
         order by upload_expires_at limit $1"#,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Progress of a running job; `stage` is a short word such as `transcoding`.
pub async fn set_progress(
    db: impl PgExecutor<'_>,
    id: Uuid,
    stage: &str,
    progress: f64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update videos set status = 'processing', stage = $2, progress = $3
         where id = $1 and status in ('queued', 'processing')",
        id,
        stage,
        progress.clamp(0.0, 1.0),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Every rendition has its first segments in storage: players can start. Fires the NOTIFY
/// trigger once (a second call changes nothing).
pub async fn mark_playable(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update videos set playable = true
         where id = $1 and status = 'processing' and not playable",
        id,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// `poster.jpg` is in storage.
pub async fn mark_poster(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update videos set has_poster = true where id = $1 and not has_poster",
        id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// `storyboard.vtt` and its sheets are in storage.
pub async fn mark_storyboard(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update videos set has_storyboard = true where id = $1 and not has_storyboard",
        id,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// What probing and transcoding learnt about the video.
#[derive(Debug, Clone, Default)]
pub struct MediaFacts {
    pub duration_s: Option<f64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub renditions: Vec<Rendition>,
}

pub async fn mark_failed(
    db: impl PgExecutor<'_>,
    id: Uuid,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update videos set status = 'failed', stage = null, playable = false, error = $2
         where id = $1",
        id,
        error,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Back to `queued` after a failed attempt that will be retried.
pub async fn mark_requeued(
    db: impl PgExecutor<'_>,
    id: Uuid,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update videos set status = 'queued', stage = 'retrying', error = $2 where id = $1",
        id,
        error,
    )
    .execute(db)
    .await?;
    Ok(())
}
