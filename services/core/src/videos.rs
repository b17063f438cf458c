//! Reads and writes of the `videos` table. Each write fires the NOTIFY trigger.

use sqlx::{Acquire, PgExecutor, Postgres};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::chapters::{self, Chapter};
use crate::domain::{Rendition, VideoRow, VideoStatus, Visibility};
use crate::edits::{Caption, Span};
use crate::encoding_progress::Encoding;
use crate::queue;
use crate::storage::MediaClass;

/// `sqlx::query_as!` into a [`VideoRow`] for a statement that names every column of `videos`
/// (after `select` or `returning`) between `$before` and `$after`: the list is written once.
macro_rules! query_video {
    ($before:literal, $after:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            VideoRow,
            $before
                + r#" id, title, filename, content_type, status as "status: VideoStatus", stage,
                progress, playable, error, size_bytes, duration_s, width, height,
                renditions as "renditions: sqlx::types::Json<Vec<Rendition>>",
                encoding as "encoding: sqlx::types::Json<Encoding>", upload_id,
                part_size, part_count, upload_expires_at, growing, has_poster, has_storyboard, media_prefix,
                created_at, updated_at, owner_id,
                (select username from users where users.id = videos.owner_id) as "owner_username!",
                visibility as "visibility: Visibility", description, view_count,
                chapters as "chapters: sqlx::types::Json<Vec<Chapter>>", chapters_set,
                trim_start_s, trim_end_s,
                captions as "captions: sqlx::types::Json<Vec<Caption>>", edit_revision,
                edited_master, window_start_s, window_end_s,
                source_video_id, source_start_s, source_end_s, poster_name "#
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
    /// The file is still being written (`size_bytes` 0, `part_count` the most it may need).
    pub growing: bool,
}

/// Inserts the video, with the chapters its description lists.
pub async fn insert(db: impl PgExecutor<'_>, new: &NewVideo) -> Result<VideoRow, sqlx::Error> {
    let listed = chapters::from_description(&new.description);
    query_video!(
        "insert into videos (id, title, filename, content_type, size_bytes, upload_id, part_size,
         part_count, upload_expires_at, owner_id, visibility, description, growing, chapters)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) returning",
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
        new.growing,
        sqlx::types::Json(&listed) as _,
    )
    .fetch_one(db)
    .await
}

/// A clip as it is created: cut from `source_video_id` over `[source_start_s, source_end_s]`.
/// An instant clip is `ready` at once on its own version (`media_prefix`, playlists written
/// already); a precise one is `queued` for its `clip` job, with no version yet.
#[derive(Debug, Clone)]
pub struct NewClip {
    pub id: Uuid,
    pub title: String,
    pub owner_id: Uuid,
    pub visibility: Visibility,
    pub source_video_id: Uuid,
    pub source_start_s: f64,
    pub source_end_s: f64,
    pub duration_s: Option<f64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub renditions: Vec<Rendition>,
    /// The instant clip's version; `None` for a precise clip.
    pub media_prefix: Option<String>,
}

pub async fn insert_clip(db: impl PgExecutor<'_>, new: &NewClip) -> Result<VideoRow, sqlx::Error> {
    let instant = new.media_prefix.is_some();
    let status = if instant {
        VideoStatus::Ready
    } else {
        VideoStatus::Queued
    };
    query_video!(
        "insert into videos (id, title, filename, content_type, size_bytes, part_size,
             part_count, upload_expires_at, owner_id, visibility, description, status,
             progress, playable, duration_s, width, height, renditions, media_prefix,
             media_versions, source_video_id, source_start_s, source_end_s)
         values ($1, $2, 'clip', 'video/mp4', 0, 0, 0, now(), $3, $4, '', $5,
             case when $6 then 1 else 0 end, $6, $7, $8, $9, $10, $11,
             case when $6 then 1 else 0 end, $12, $13, $14)
         returning",
        "",
        new.id,
        new.title,
        new.owner_id,
        new.visibility as Visibility,
        status as VideoStatus,
        instant,
        new.duration_s,
        new.width,
        new.height,
        sqlx::types::Json(&new.renditions) as _,
        new.media_prefix,
        new.source_video_id,
        new.source_start_s,
        new.source_end_s,
    )
    .fetch_one(db)
    .await
}

/// Locks the video's row until the transaction ends and reads it: its current version cannot
/// be replaced (nor the row deleted) meanwhile.
pub async fn get_for_share(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<VideoRow>, sqlx::Error> {
    query_video!("select", "from videos where id = $1 for share", id)
        .fetch_optional(db)
        .await
}

/// Sets the poster's name in `prefix` (the version it was written to): shown once that version
/// is still the current one.
pub async fn set_poster_name(
    db: impl PgExecutor<'_>,
    id: Uuid,
    prefix: &str,
    name: &str,
) -> Result<Option<VideoRow>, sqlx::Error> {
    query_video!(
        "update videos set poster_name = $3 where id = $1 and media_prefix = $2 returning",
        "",
        id,
        prefix,
        name,
    )
    .fetch_optional(db)
    .await
}

/// Asks for a poster grabbed at `time_s` (a `poster` job reads it).
pub async fn set_poster_time(
    db: impl PgExecutor<'_>,
    id: Uuid,
    time_s: f64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update videos set poster_time_s = $2 where id = $1",
        id,
        time_s
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The time a poster is to be grabbed at, if one was asked for.
pub async fn poster_time(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<f64>, sqlx::Error> {
    Ok(
        sqlx::query_scalar!("select poster_time_s from videos where id = $1", id)
            .fetch_optional(db)
            .await?
            .flatten(),
    )
}

/// A precise clip's source is in the raw bucket: its size counts as an upload's.
pub async fn record_clip_source(
    db: impl PgExecutor<'_>,
    id: Uuid,
    size_bytes: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update videos set size_bytes = $2 where id = $1 and source_video_id is not null",
        id,
        size_bytes,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Precise clips of `owner` still being made: each costs an encode, so they count against the
/// uploads-in-flight quota.
pub async fn clips_in_flight(db: impl PgExecutor<'_>, owner: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from videos where owner_id = $1
             and source_video_id is not null and status in ('queued', 'processing')"#,
        owner,
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

/// Applies an edit; returns the video as it is now, or `None` when there is no such video. A new
/// description sets the chapters it lists, unless the owner set chapters explicitly.
pub async fn edit(
    db: impl PgExecutor<'_>,
    id: Uuid,
    edit: &VideoEdit,
) -> Result<Option<VideoRow>, sqlx::Error> {
    let listed = edit.description.as_deref().map(chapters::from_description);
    query_video!(
        "update videos set title = coalesce($2, title), description = coalesce($3, description),
           visibility = coalesce($4, visibility),
           chapters = case when chapters_set or $5::jsonb is null then chapters else $5 end
         where id = $1 returning",
        "",
        id,
        edit.title,
        edit.description,
        edit.visibility as Option<Visibility>,
        listed.as_ref().map(sqlx::types::Json) as _,
    )
    .fetch_optional(db)
    .await
}

/// Sets the video's chapters: `explicit` ones the owner chose (the description no longer sets
/// them), or, not explicit, the ones its description lists. `None` when there is no such video.
pub async fn set_chapters(
    db: impl PgExecutor<'_>,
    id: Uuid,
    chapters: &[Chapter],
    explicit: bool,
) -> Result<Option<VideoRow>, sqlx::Error> {
    query_video!(
        "update videos set chapters = $2, chapters_set = $3 where id = $1 returning",
        "",
        id,
        sqlx::types::Json(chapters) as _,
        explicit,
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

/// How long a growing upload may stay open at most. The raw bucket's lifecycle rule aborts any
/// multipart upload 7 days after it began (`abort_incomplete_multipart_upload` in
/// infra/terraform/modules/storage/main.tf): a deadline that kept moving past that would leave
/// the video waiting for an upload S3 no longer has. One day short of it, the sweeper ends the
/// upload itself (the video fails with a reason) and no more part URLs are given.
pub const GROWING_UPLOAD_LIFETIME: time::Duration = time::Duration::days(6);

/// Moves a growing upload's deadline to `until` (never back): a recording that keeps sending
/// parts is not taken for abandoned however long it runs. False when the video is not a growing
/// upload still in progress.
pub async fn extend_growing_upload(
    db: impl PgExecutor<'_>,
    id: Uuid,
    until: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "update videos set upload_expires_at = greatest(upload_expires_at, $2)
         where id = $1 and growing and status = 'awaiting_upload'",
        id,
        until,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records what a growing upload turned out to be once S3 assembled it: its size and how many
/// parts it has (until then `part_count` is the most it may have).
pub async fn record_grown_size(
    db: impl PgExecutor<'_>,
    id: Uuid,
    size_bytes: i64,
    part_count: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update videos set size_bytes = $2, part_count = $3
         where id = $1 and growing and status = 'awaiting_upload'",
        id,
        size_bytes,
        part_count,
    )
    .execute(db)
    .await?;
    Ok(())
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

/// Starts a processing run's version: the next `videos/{id}/{class}/{n}/`, in the class the
/// video's visibility calls for now. `None` when the video is gone.
pub async fn start_version(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    let started = sqlx::query!(
        r#"update videos set media_versions = media_versions + 1 where id = $1
         returning media_versions, visibility as "visibility: Visibility""#,
        id,
    )
    .fetch_optional(db)
    .await?;
    Ok(started.map(|v| {
        crate::storage::version_prefix(id, MediaClass::of(v.visibility), v.media_versions)
    }))
}

/// The version players are given now, if the video exists and has one.
pub async fn current_prefix(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    let prefix = sqlx::query_scalar!("select media_prefix from videos where id = $1", id)
        .fetch_optional(db)
        .await?;
    Ok(prefix.flatten())
}

/// Whether the video exists and serves `prefix`: its current version, or one replaced within
/// the grace (players that started on it play on).
pub async fn serves_version(
    db: impl PgExecutor<'_>,
    id: Uuid,
    prefix: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select exists (
             select 1 from videos v where v.id = $1 and (v.media_prefix = $2
                 or exists (select 1 from retired_media r where r.prefix = $2 and r.video_id = $1))
         ) as "serves!""#,
        id,
        prefix,
    )
    .fetch_one(db)
    .await
}

/// At most `limit` playable videos whose current version is not in the class their visibility
/// calls for (a visibility change whose republish could not be enqueued while other work on
/// the video was live, or the layout before versions), leaving out those whose republish failed
/// within the hour.
pub async fn misplaced(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "select v.id from videos v
         where v.playable and v.media_prefix is not null
             and split_part(v.media_prefix, '/', 3)
                 <> case when v.visibility = 'public' then 'public' else 'signed' end
             and not exists (select 1 from jobs j where j.video_id = v.id
                 and j.kind = 'republish' and j.state = 'failed'
                 and j.finished_at > now() - interval '1 hour')
         limit $1",
        limit,
    )
    .fetch_all(db)
    .await
}

/// The video's versions that wait for deletion (see [`retired_due`]).
pub async fn retired_prefixes(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!("select prefix from retired_media where video_id = $1", id)
        .fetch_all(db)
        .await
}

/// At most `limit` versions replaced longer than `grace` ago, oldest first: no cached copy and
/// no signed URL can point at them any more. A version another video's playlists point into (a
/// clip's, see `media_refs`) waits until the last of them is gone.
pub async fn retired_due(
    db: impl PgExecutor<'_>,
    grace: std::time::Duration,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select prefix from retired_media
         where retired_at < now() - make_interval(secs => $1)
             and not exists (select 1 from media_references m where m.target = prefix)
         order by retired_at limit $2",
        grace.as_secs_f64(),
        limit,
    )
    .fetch_all(db)
    .await
}

/// The retired version's objects are deleted; so are the references it made (a clip's).
pub async fn forget_retired(
    db: impl sqlx::Acquire<'_, Database = Postgres>,
    prefix: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query!("delete from retired_media where prefix = $1", prefix)
        .execute(&mut *tx)
        .await?;
    crate::media_refs::forget_version(&mut *tx, prefix).await?;
    tx.commit().await
}

/// Every rendition of a first run has its first segments in `prefix`: players can start, and
/// that version becomes the one they are given. Fires the NOTIFY trigger once (a second call
/// changes nothing). A re-run of a `ready` video changes nothing here: its version becomes
/// current when its success is recorded.
pub async fn mark_playable(
    db: impl PgExecutor<'_>,
    id: Uuid,
    prefix: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update videos set playable = true, media_prefix = $2
         where id = $1 and status = 'processing' and not playable",
        id,
        prefix,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// `poster.jpg` is in `prefix`; it shows once that version is the current one.
pub async fn mark_poster(
    db: impl PgExecutor<'_>,
    id: Uuid,
    prefix: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update videos set has_poster = true
         where id = $1 and media_prefix = $2 and not has_poster",
        id,
        prefix,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// `storyboard.vtt` and its sheets are in `prefix`; they show once that version is current.
pub async fn mark_storyboard(
    db: impl PgExecutor<'_>,
    id: Uuid,
    prefix: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update videos set has_storyboard = true
         where id = $1 and media_prefix = $2 and not has_storyboard",
        id,
        prefix,
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
    /// The version a run that makes the video `ready` published, with its extras; it becomes
    /// current when the success is recorded. `None` for work that extends the current one.
    pub version: Option<PublishedVersion>,
}

/// A run's version and what it holds besides the HLS.
#[derive(Debug, Clone, Default)]
pub struct PublishedVersion {
    pub prefix: String,
    pub poster: bool,
    pub storyboard: bool,
}

/// The video's processing failed. A `ready` video (a failed re-run) stays as it was: the
/// version it plays was never touched.
pub async fn mark_failed(
    db: impl PgExecutor<'_>,
    id: Uuid,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update videos set status = 'failed', stage = null, playable = false, error = $2
         where id = $1 and status <> 'ready'",
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
        "update videos set status = 'queued', stage = 'retrying', error = $2
         where id = $1 and status <> 'ready'",
        id,
        error,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Holds the video's edit lock until the transaction ends: one revision of its edits is
/// written at a time (see [`crate::edits`]). (Seed 2: apart from the other per-video locks.)
pub async fn lock_edits(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended($1::uuid::text, 2))",
        id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A revision of a video's edits, written into its version.
#[derive(Debug, Clone)]
pub struct Revision {
    pub number: i32,
    pub trim: Option<Span>,
    pub captions: Vec<Caption>,
    pub master_key: String,
    pub window: Option<Span>,
}

/// Records the edits and the revision written for them in `prefix`, if that is still the
/// video's current version (`None` otherwise, or when the video is gone).
pub async fn record_revision(
    db: impl PgExecutor<'_>,
    id: Uuid,
    prefix: &str,
    revision: &Revision,
) -> Result<Option<VideoRow>, sqlx::Error> {
    query_video!(
        "update videos set trim_start_s = $3, trim_end_s = $4, captions = $5,
           edit_revision = $6, edited_master = $7, window_start_s = $8, window_end_s = $9
         where id = $1 and media_prefix = $2 returning",
        "",
        id,
        prefix,
        revision.trim.map(|t| t.start_s),
        revision.trim.map(|t| t.end_s),
        sqlx::types::Json(&revision.captions) as _,
        revision.number,
        revision.master_key,
        revision.window.map(|w| w.start_s),
        revision.window.map(|w| w.end_s),
    )
    .fetch_optional(db)
    .await
}
