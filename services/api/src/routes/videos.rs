//! Creating, reading, listing and deleting videos.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use vodnest_core::audit::{self, Action, Actor};
use vodnest_core::caller::{Caller, Role, Scope, UserRef};
use vodnest_core::domain::{VideoRow, VideoView, Visibility};
use vodnest_core::edits::{self, Span};
use vodnest_core::media_refs;
use vodnest_core::queue::{self, JobKind};
use vodnest_core::storage::{MediaClass, media_prefix};
use vodnest_core::videos::{self, Cursor, NewVideo, VideoEdit};

use super::VideoId;
use crate::auth::{Authenticated, require};
use crate::client_ip::ClientIp;
use crate::config::ApiConfig;
use crate::error::{ApiError, ErrorBody, Json, Query};
use crate::openapi::{
    CrossOrigin, InsufficientScope, Internal, NoSuchVideo, NotJson, StorageFailures, Unauthorized,
};
use crate::quotas::Quotas;
use crate::state::AppState;
use crate::upload_plan::{self, UploadPlan};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVideo {
    /// At most 200 characters; the filename when absent or blank.
    #[serde(default)]
    #[schema(max_length = 200)]
    title: Option<String>,
    /// At most 255 characters, not blank.
    #[schema(min_length = 1, max_length = 255)]
    filename: String,
    /// The exact size of the file; at most the server's `MAX_UPLOAD_BYTES`. Required, unless
    /// `growing` is true: then it must be `null` (or absent).
    #[serde(default)]
    #[schema(minimum = 1)]
    size_bytes: Option<i64>,
    /// The file is still being written (a recording): its size is learnt at `complete`. Parts
    /// are sized so that any length up to `MAX_UPLOAD_BYTES` fits, `part_count` is the most
    /// the upload may have (10,000), each part's size is named when its URL is asked for, and
    /// the deadline moves forward each time part URLs are asked for. `false` when absent.
    #[serde(default)]
    growing: bool,
    /// `application/octet-stream` when absent.
    #[serde(default)]
    content_type: Option<String>,
    /// `private` when absent.
    #[serde(default)]
    visibility: Option<Visibility>,
    /// At most 5000 characters.
    #[serde(default)]
    #[schema(max_length = 5000)]
    description: Option<String>,
}

/// The fields `PATCH` may change; absent ones stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditVideo {
    /// 1 to 200 characters.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    title: Option<String>,
    /// At most 5000 characters.
    #[serde(default)]
    #[schema(max_length = 5000)]
    description: Option<String>,
    #[serde(default)]
    visibility: Option<Visibility>,
    /// The part of the original timeline to keep (`0 <= start_s < end_s <= duration_s`), or
    /// `null` to restore all of it; a `ready` video only (`409 not_ready` otherwise). The
    /// playlists are cut at segment boundaries: the video's `window` is what they cover.
    /// The original stays; each change gives a new `hls_url`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Span>, nullable)]
    trim: Option<Option<Span>>,
    /// A time in the video (seconds, 0 to its duration): its frame there becomes the poster,
    /// grabbed by a `poster` job (`playback.poster_url` changes when it is done). For a ready
    /// or playable video only.
    #[serde(default)]
    #[schema(minimum = 0)]
    poster_time_s: Option<f64>,
}

/// A field that is present, `null` or not: `Some(None)` for `null`, `None` when absent.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Longest description accepted (the table's CHECK says the same).
const MAX_DESCRIPTION_CHARS: usize = 5000;

/// A description: trimmed, line breaks and tabs allowed, no other control characters.
fn checked_description(value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::invalid(
            "invalid_field",
            format!("description must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ApiError::invalid(
            "invalid_field",
            "description must not contain control characters other than line breaks and tabs",
        ));
    }
    Ok(value.to_owned())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadTicket {
    upload_id: String,
    part_size: i64,
    /// For a growing upload, the most parts it may have.
    part_count: i32,
    /// Whether each part's size must be named when its URL is asked for.
    growing: bool,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = VideoCreated)]
pub struct Created {
    video: VideoView,
    upload: UploadTicket,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct One {
    pub video: VideoView,
}

/// The video object; an unlisted or private video's playback URLs are signed.
pub fn view(state: &AppState, row: VideoRow) -> VideoView {
    let signed = state.playback.urls(&row, time::OffsetDateTime::now_utc());
    let mut view = VideoView::from_row(row, state.storage.media_base_url());
    if let Some(playback) = signed {
        view.playback = playback;
    }
    view
}

/// The video, or 404 when there is none or the caller may not see it (never 403: whether
/// someone else's video exists is not the caller's business).
pub async fn find(
    db: impl sqlx::PgExecutor<'_>,
    caller: &Caller,
    id: Uuid,
) -> Result<VideoRow, ApiError> {
    videos::get(db, id)
        .await?
        .filter(|row| caller.may_see(row.owner_id))
        .ok_or(ApiError::NotFound("no such video"))
}

pub(super) fn text_field(
    value: &str,
    field: &'static str,
    max_chars: usize,
) -> Result<String, ApiError> {
    let value = value.trim();
    if value.chars().count() > max_chars {
        return Err(ApiError::invalid(
            "invalid_field",
            format!("{field} must be at most {max_chars} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "invalid_field",
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(value.to_owned())
}

/// The trimmed, checked names of a new video: filename, title (the filename when none is
/// given) and content type.
struct Names {
    filename: String,
    title: String,
    content_type: String,
}

fn checked_names(body: &CreateVideo) -> Result<Names, ApiError> {
    let filename = text_field(&body.filename, "filename", 255)?;
    if filename.is_empty() {
        return Err(ApiError::invalid(
            "invalid_field",
            "filename must not be empty",
        ));
    }
    let title = match body.title.as_deref().map(|t| text_field(t, "title", 200)) {
        Some(Ok(t)) if !t.is_empty() => t,
        Some(Err(e)) => return Err(e),
        _ => filename.clone(),
    };
    let content_type = match body.content_type.as_deref().map(str::trim) {
        Some(ct) if !ct.is_empty() => text_field(ct, "content_type", 255)?,
        _ => "application/octet-stream".to_owned(),
    };
    Ok(Names {
        filename,
        title,
        content_type,
    })
}

/// How the file will be cut into parts, and the size recorded now (0 for a growing file,
/// whose size `complete` learns).
fn checked_upload(body: &CreateVideo, config: &ApiConfig) -> Result<(UploadPlan, i64), ApiError> {
    match (body.growing, body.size_bytes) {
        (false, Some(size)) => Ok((checked_plan(size, config)?, size)),
        (false, None) => Err(ApiError::invalid(
            "invalid_size",
            "size_bytes is required unless the upload is growing",
        )),
        (true, Some(_)) => Err(ApiError::invalid(
            "invalid_size",
            "a growing upload's size is not known yet: send size_bytes null",
        )),
        (true, None) => {
            let plan =
                upload_plan::plan_growing(config.max_upload_bytes, config.upload_min_part_bytes)
                    .ok_or_else(|| ApiError::internal("no part size fits MAX_UPLOAD_BYTES"))?;
            Ok((plan, 0))
        }
    }
}

/// How the file will be cut into parts, if this API accepts its size.
fn checked_plan(size_bytes: i64, config: &ApiConfig) -> Result<UploadPlan, ApiError> {
    if size_bytes > config.max_upload_bytes {
        return Err(ApiError::TooLarge {
            code: "upload_too_large",
            message: format!(
                "the file is {size_bytes} bytes; the largest accepted upload is {} bytes",
                config.max_upload_bytes
            ),
        });
    }
    let plan = upload_plan::plan(size_bytes, config.upload_min_part_bytes)
        .ok_or_else(|| ApiError::invalid("invalid_size", "size_bytes must be greater than 0"))?;
    if i64::from(plan.part_count) > upload_plan::MAX_PARTS {
        return Err(ApiError::invalid(
            "too_many_parts",
            "the file needs more than 10,000 parts",
        ));
    }
    Ok(plan)
}

/// 403 `quota_exceeded` unless `caller` may start an upload of `size_bytes` (admins always
/// may): the message names the limit.
pub(super) async fn check_quota(
    db: impl sqlx::PgExecutor<'_>,
    quotas: &Quotas,
    caller: &Caller,
    size_bytes: i64,
) -> Result<(), ApiError> {
    if caller.role == Role::Admin {
        return Ok(());
    }
    let usage = videos::usage(db, caller.user.id).await?;
    quotas
        .admit(&usage, size_bytes)
        .map_err(|message| ApiError::forbidden("quota_exceeded", message))
}

/// Starts the multipart upload in S3, then records the video; a failed insert leaves no
/// orphaned multipart upload behind. The quota is checked before S3 is called (most refusals
/// cost no S3 call) and again with the insert, under the caller's usage lock: two concurrent
/// creates cannot both pass a limit only one fits under, and no transaction waits on S3.
#[utoipa::path(
    post,
    path = "/videos",
    tag = "videos",
    summary = "Create a video and start its multipart upload",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = CreateVideo,
    responses(
        // Links: what a client (and Schemathesis's stateful phase) does next with the video.
        (status = 201, description = "The video, `awaiting_upload`, and how to cut the file into parts", body = Created, links(
            ("get" = (operation_id = "get", parameters(("id" = "$response.body#/video/id")))),
            ("edit" = (operation_id = "edit", parameters(("id" = "$response.body#/video/id")))),
            ("delete" = (operation_id = "delete", parameters(("id" = "$response.body#/video/id")))),
            ("status" = (operation_id = "status", parameters(("id" = "$response.body#/video/id")))),
            ("abort" = (operation_id = "abort", parameters(("id" = "$response.body#/video/id")))),
            ("presign_parts" = (operation_id = "presign_parts", parameters(("id" = "$response.body#/video/id")))),
            ("complete" = (operation_id = "complete", parameters(("id" = "$response.body#/video/id")))),
            ("get_public_video" = (operation_id = "get_public_video", parameters(("id" = "$response.body#/video/id")))),
            ("subscribe" = (operation_id = "subscribe", parameters(("id" = "$response.body#/video/id")))),
            ("subscribe_public" = (operation_id = "subscribe_public", parameters(("id" = "$response.body#/video/id")))),
        )),
        NotJson,
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        // Listed after the other 403s, which it repeats: of several answers with one status
        // the document keeps the last.
        (status = 403, description = "The key or session lacks the scope this needs (`insufficient_scope`); made with the session cookie from another site's page (`cross_origin_request`); or over a quota, uploads in progress, bytes per day or storage, the message says which (`quota_exceeded`)", body = ErrorBody),
        (status = 413, description = "Larger than this server accepts (`upload_too_large`)", body = ErrorBody),
        (status = 422, description = "A field is wrong (`invalid_body`, `invalid_field`, `invalid_size`, `too_many_parts`)", body = ErrorBody),
        StorageFailures,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    Json(body): Json<CreateVideo>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    require(&caller, Scope::VideosWrite)?;
    let names = checked_names(&body)?;
    let description = checked_description(body.description.as_deref().unwrap_or(""))?;
    let (plan, size_bytes) = checked_upload(&body, &state.config)?;
    check_quota(&state.pool, &state.config.quotas, &caller, size_bytes).await?;
    let id = Uuid::now_v7();
    let upload_id = state
        .storage
        .create_multipart_upload(id, &names.content_type)
        .await?;
    let expires_at = OffsetDateTime::now_utc() + state.config.upload_expiry();
    let new = NewVideo {
        id,
        title: names.title,
        filename: names.filename,
        content_type: names.content_type,
        size_bytes,
        upload_id: upload_id.clone(),
        part_size: plan.part_size,
        part_count: plan.part_count,
        upload_expires_at: expires_at,
        owner_id: caller.user.id,
        visibility: body.visibility.unwrap_or(Visibility::Private),
        description,
        growing: body.growing,
    };
    let row = match insert_within_quota(&state, &caller, ip, &new).await {
        Ok(row) => row,
        Err(err) => {
            if let Err(abort) = state.storage.abort_multipart_upload(id, &upload_id).await {
                tracing::warn!(video_id = %id, error = %abort, "abort after failed insert");
            }
            return Err(err);
        }
    };
    tracing::info!(video_id = %id, size_bytes = new.size_bytes, parts = plan.part_count, "video created");
    let upload = UploadTicket {
        upload_id,
        part_size: plan.part_size,
        part_count: plan.part_count,
        growing: new.growing,
        expires_at,
    };
    let video = view(&state, row);
    Ok((StatusCode::CREATED, Json(Created { video, upload })))
}

#[utoipa::path(
    get,
    path = "/videos/{id}",
    tag = "videos",
    summary = "Read a video",
    security(("bearer" = []), ("session_cookie" = [])),
    params(VideoId),
    responses(
        (status = 200, description = "The video", body = One),
        Unauthorized,
        InsufficientScope,
        NoSuchVideo,
        Internal,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    VideoId(id): VideoId,
) -> Result<Json<One>, ApiError> {
    require(&caller, Scope::VideosRead)?;
    let row = find(&state.pool, &caller, id).await?;
    Ok(Json(One {
        video: view(&state, row),
    }))
}

/// Changes the title, description, visibility or trim. The trim is applied first: a trim that
/// is refused leaves the other fields as they were.
#[utoipa::path(
    patch,
    path = "/videos/{id}",
    tag = "videos",
    summary = "Edit a video's title, description, visibility, trim or poster time",
    security(("bearer" = []), ("session_cookie" = [])),
    params(VideoId),
    request_body = EditVideo,
    responses(
        (status = 200, description = "The video as it is now", body = One),
        NotJson,
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        InsufficientScope,
        NoSuchVideo,
        (status = 409, description = "A trim of a video that is not ready, or `poster_time_s` for a video with nothing published yet (`not_ready`)", body = ErrorBody),
        (status = 422, description = "A field is wrong or unknown (`invalid_body`, `invalid_field`); a trim outside the video (`invalid_trim`)", body = ErrorBody),
        StorageFailures,
    )
)]
pub async fn edit(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    VideoId(id): VideoId,
    Json(body): Json<EditVideo>,
) -> Result<Json<One>, ApiError> {
    require(&caller, Scope::VideosWrite)?;
    let title = match body.title.as_deref().map(|t| text_field(t, "title", 200)) {
        Some(Ok(t)) if t.is_empty() => {
            return Err(ApiError::invalid(
                "invalid_field",
                "title must not be empty",
            ));
        }
        other => other.transpose()?,
    };
    let edit = VideoEdit {
        title,
        description: body
            .description
            .as_deref()
            .map(checked_description)
            .transpose()?,
        visibility: body.visibility,
    };
    let before = find(&state.pool, &caller, id).await?;
    let poster_time = body
        .poster_time_s
        .map(|t| checked_poster_time(&before, t))
        .transpose()?;
    if let Some(trim) = body.trim {
        edits::set_trim(&state.pool, &state.storage, id, trim).await?;
    }
    let mut tx = state.pool.begin().await?;
    let row = videos::edit(&mut *tx, id, &edit)
        .await?
        .ok_or(ApiError::NotFound("no such video"))?;
    if let Some(at) = poster_time {
        videos::set_poster_time(&mut *tx, id, at).await?;
        queue::enqueue(&mut *tx, JobKind::Poster, id).await?;
    }
    let target = id.to_string();
    let ip = ip.text();
    let ip = ip.as_deref();
    audit::record(
        &mut *tx,
        Actor::User(&caller.user),
        Action::VideoEdited,
        &target,
        ip,
    )
    .await?;
    if before.visibility != row.visibility {
        let action = Action::VisibilityChanged;
        audit::record(&mut *tx, Actor::User(&caller.user), action, &target, ip).await?;
    }
    // Published output moves to the other class (public or signed) by a republish job; while
    // other work on the video is live the enqueue does nothing and the sweeper catches up.
    let moved = MediaClass::of(before.visibility) != MediaClass::of(row.visibility);
    if moved && row.media_prefix.is_some() {
        queue::enqueue(&mut *tx, JobKind::Republish, id).await?;
    }
    tx.commit().await?;
    Ok(Json(One {
        video: view(&state, row),
    }))
}

/// A poster time inside a video that has something to grab it from.
fn checked_poster_time(row: &VideoRow, at: f64) -> Result<f64, ApiError> {
    let duration = row
        .duration_s
        .filter(|_| row.playable && row.media_prefix.is_some())
        .ok_or_else(|| {
            ApiError::conflict(
                "not_ready",
                "the video has nothing published to grab a poster from",
            )
        })?;
    if !at.is_finite() || at < 0.0 || at > duration {
        return Err(ApiError::invalid(
            "invalid_field",
            format!("poster_time_s must be between 0 and the video's duration, {duration:.3} s"),
        ));
    }
    Ok(at)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Videos per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub videos: Vec<VideoView>,
    pub next_cursor: Option<String>,
}

/// A cursor is `{created_at as unix nanoseconds}.{id}` of the last video of a page.
fn encode_cursor(row: &VideoRow) -> String {
    cursor_at(row.created_at, row.id)
}

/// The cursor of a page that ends at the row made at `at` with `id` (lists newest first).
pub(crate) fn cursor_at(at: OffsetDateTime, id: Uuid) -> String {
    format!("{}.{}", at.unix_timestamp_nanos(), id)
}

fn decode_cursor(cursor: &str) -> Option<(OffsetDateTime, Uuid)> {
    let (nanos, id) = cursor.split_once('.')?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
    Some((at, id.parse().ok()?))
}

/// Videos per page: 1 to 100, 20 when not given.
pub(crate) fn checked_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    checked_page_size(limit, 20, 100)
}

/// A page size: `default` when absent, else 1 to `max` (422 `invalid_limit`).
pub(crate) fn checked_page_size(
    limit: Option<i64>,
    default: i64,
    max: i64,
) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid(
            "invalid_limit",
            format!("limit must be between 1 and {max}"),
        ))
    }
}

/// Where the page starts: after the `cursor` a previous page returned, or at the newest.
pub(crate) fn checked_cursor(cursor: Option<&str>) -> Result<Cursor, ApiError> {
    cursor
        .map(|c| {
            decode_cursor(c).ok_or_else(|| {
                ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
            })
        })
        .transpose()
}

/// The first `limit` of `rows` (read with a limit of `limit + 1`, so that one more tells
/// whether a next page exists) and the cursor of that next page.
pub(crate) fn paged(rows: Vec<VideoRow>, limit: i64) -> (Vec<VideoRow>, Option<String>) {
    page_of(rows, limit, encode_cursor)
}

/// The first `limit` of `rows` (read with one more than `limit`), and the cursor of the next
/// page, `cursor_of` its last row, when there is one.
pub(crate) fn page_of<T>(
    mut rows: Vec<T>,
    limit: i64,
    cursor_of: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = has_more.then(|| rows.last().map(cursor_of)).flatten();
    (rows, next_cursor)
}

/// Newest first, a page at a time.
/// Inserts the video, audited, if the owner's quotas still allow it (checked again under the
/// owner's lock: two creates at once cannot both slip under a limit).
async fn insert_within_quota(
    state: &AppState,
    caller: &Caller,
    ip: ClientIp,
    new: &NewVideo,
) -> Result<VideoRow, ApiError> {
    let mut tx = state.pool.begin().await?;
    videos::lock_usage(&mut *tx, caller.user.id).await?;
    check_quota(&mut *tx, &state.config.quotas, caller, new.size_bytes).await?;
    let row = videos::insert(&mut *tx, new).await?;
    let ip = ip.text();
    let target = new.id.to_string();
    let actor = Actor::User(&caller.user);
    audit::record(
        &mut *tx,
        actor,
        Action::VideoCreated,
        &target,
        ip.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

#[utoipa::path(
    get,
    path = "/videos",
    tag = "videos",
    summary = "List videos, newest first",
    security(("bearer" = []), ("session_cookie" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of videos; `next_cursor` is null on the last page", body = Page),
        (status = 400, description = "A malformed query or a cursor this API did not return (`invalid_query`, `invalid_cursor`)", body = ErrorBody),
        Unauthorized,
        InsufficientScope,
        (status = 422, description = "`limit` out of range (`invalid_limit`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<ListQuery>,
) -> Result<Json<Page>, ApiError> {
    require(&caller, Scope::VideosRead)?;
    let limit = checked_limit(query.limit)?;
    let before = checked_cursor(query.cursor.as_deref())?;
    let rows = videos::list(&state.pool, caller.owner_filter(), limit + 1, before).await?;
    let (page, next_cursor) = paged(rows, limit);
    Ok(Json(Page {
        videos: page.into_iter().map(|r| view(&state, r)).collect(),
        next_cursor,
    }))
}

/// Deletes the video, its job (the processor's lease renewal then fails and it stops) and
/// every object it has in S3, except the versions its clips still play.
#[utoipa::path(
    delete,
    path = "/videos/{id}",
    tag = "videos",
    summary = "Delete a video, its job and its files",
    security(("bearer" = []), ("session_cookie" = [])),
    params(VideoId),
    responses(
        (status = 204, description = "Deleted"),
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        NoSuchVideo,
        StorageFailures,
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    VideoId(id): VideoId,
) -> Result<StatusCode, ApiError> {
    require(&caller, Scope::VideosWrite)?;
    let row = find(&state.pool, &caller, id).await?;
    remove(&state, &caller.user, ip.text().as_deref(), &row).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a video the way `DELETE /videos/{id}` does (also when its owner is removed): its
/// multipart upload is aborted, the row goes (with its job: the processor's lease renewal then
/// fails and it stops), the deletion is audited as done by `actor`, and its S3 objects go.
pub async fn remove(
    state: &AppState,
    actor: &UserRef,
    ip: Option<&str>,
    row: &VideoRow,
) -> Result<(), ApiError> {
    let id = row.id;
    if let Some(upload_id) = &row.upload_id
        && let Err(err) = state.storage.abort_multipart_upload(id, upload_id).await
    {
        tracing::warn!(video_id = %id, error = %err, "abort on delete");
    }
    // The versions its clips still reference are kept (recorded for the sweeper, which deletes
    // each when its last reference goes) in the transaction that deletes the row.
    let mut tx = state.pool.begin().await?;
    let kept = media_refs::keep_for_deletion(&mut tx, id).await?;
    videos::delete(&mut *tx, id).await?;
    let target = id.to_string();
    audit::record(
        &mut *tx,
        Actor::User(actor),
        Action::VideoDeleted,
        &target,
        ip,
    )
    .await?;
    tx.commit().await?;
    state.storage.delete_raw(id).await?;
    state.storage.delete_media_keeping(id, &kept).await?;
    state.invalidate(&media_prefix(id)).await;
    if !kept.is_empty() {
        tracing::info!(video_id = %id, kept = ?kept, "versions kept for clips");
    }
    tracing::info!(video_id = %id, "video deleted");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::decode_cursor;

    #[test]
    fn cursors_must_be_well_formed() {
        assert!(decode_cursor("nope").is_none());
        assert!(decode_cursor("12.not-a-uuid").is_none());
        assert!(
            decode_cursor("1700000000000000000.67e55044-10b1-426f-9247-bb680e5fe0c8").is_some()
        );
    }
}
