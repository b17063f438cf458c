//! The multipart upload of a video's raw file: presigned part URLs, resume information,
//! completion (which enqueues processing) and abort. Bytes go from the client straight to S3.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;
use vodnest_core::caller::{Caller, Role, Scope};
use vodnest_core::domain::{VideoRow, VideoStatus};
use vodnest_core::storage::UploadedPart;
use vodnest_core::{users, videos};

use super::VideoId;
use super::videos::{One, find, view};
use crate::auth::{Authenticated, require};
use crate::error::{ApiError, ErrorBody, Json};
use crate::openapi::{
    CrossOrigin, InsufficientScope, NoActiveUpload, NoSuchVideo, NotJson, StorageFailures,
    Unauthorized,
};
use crate::state::AppState;
use crate::upload_plan::UploadPlan;

const MAX_PARTS_PER_REQUEST: usize = 100;

/// The upload id of a video still waiting for its file, or 409.
fn active_upload(row: &VideoRow) -> Result<&str, ApiError> {
    match (&row.upload_id, row.status) {
        (Some(upload_id), VideoStatus::AwaitingUpload) => Ok(upload_id),
        (_, status) => Err(ApiError::conflict(
            "upload_not_active",
            format!("the video is {status}; it has no upload in progress"),
        )),
    }
}

fn check_part_number(row: &VideoRow, n: i32) -> Result<(), ApiError> {
    if (1..=row.part_count).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "invalid_part_number",
            format!("part numbers run from 1 to {}; got {n}", row.part_count),
        ))
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PartsRequest {
    /// 1 to 100 part numbers, each between 1 and the video's `part_count`.
    #[schema(min_items = 1, max_items = 100)]
    part_numbers: Vec<i32>,
    /// The length of each part, in the order of `part_numbers` (the URL signs it, so S3 takes
    /// exactly that many bytes). Required for a growing upload: each between 1 and `part_size`
    /// (only the last part may be shorter than 5 MiB, which S3 checks at complete). Optional
    /// otherwise; when given it must be what the plan says.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 100)]
    sizes: Option<Vec<i64>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartUrl {
    part_number: i32,
    url: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartUrls {
    parts: Vec<PartUrl>,
}

/// Presigned `PUT` URLs for parts of the file; send each part's bytes to its URL.
#[utoipa::path(
    post,
    path = "/videos/{id}/upload/parts",
    tag = "uploads",
    summary = "Presigned URLs for upload parts",
    security(("bearer" = []), ("session_cookie" = [])),
    params(VideoId),
    request_body = PartsRequest,
    responses(
        (status = 200, description = "One URL per part asked for", body = PartUrls),
        NotJson,
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        NoSuchVideo,
        NoActiveUpload,
        (status = 422, description = "Too few or too many parts, a part number out of range, or part sizes missing (a growing upload), of the wrong count or length (`invalid_body`, `invalid_part_numbers`, `invalid_part_number`, `part_sizes_required`, `invalid_part_size`)", body = ErrorBody),
        StorageFailures,
    )
)]
pub async fn presign_parts(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    VideoId(id): VideoId,
    Json(body): Json<PartsRequest>,
) -> Result<Json<PartUrls>, ApiError> {
    require(&caller, Scope::VideosWrite)?;
    if body.part_numbers.is_empty() || body.part_numbers.len() > MAX_PARTS_PER_REQUEST {
        return Err(ApiError::invalid(
            "invalid_part_numbers",
            format!("ask for between 1 and {MAX_PARTS_PER_REQUEST} parts at a time"),
        ));
    }
    let row = find(&state.pool, &caller, id).await?;
    let upload_id = active_upload(&row)?;
    for &n in &body.part_numbers {
        check_part_number(&row, n)?;
    }
    let lengths = part_lengths(&row, &body)?;
    if row.growing {
        // Parts keep coming: the recording is alive, whatever its length so far, up to the
        // most a multipart upload may live.
        let now = OffsetDateTime::now_utc();
        let last = row.created_at + videos::GROWING_UPLOAD_LIFETIME;
        if now >= last {
            return Err(ApiError::conflict(
                "upload_not_active",
                format!(
                    "a growing upload stays open at most {} days and this one began {}: complete \
                     it with the parts sent, or start a new upload",
                    videos::GROWING_UPLOAD_LIFETIME.whole_days(),
                    row.created_at.date()
                ),
            ));
        }
        let until = (now + state.config.upload_expiry()).min(last);
        videos::extend_growing_upload(&state.pool, id, until).await?;
    }
    let ttl = state.config.upload_url_ttl();
    let mut parts = Vec::with_capacity(body.part_numbers.len());
    for (n, length) in body.part_numbers.into_iter().zip(lengths) {
        let presigned = state
            .storage
            .presign_upload_part(id, upload_id, n, length, ttl)
            .await?;
        parts.push(PartUrl {
            part_number: presigned.part_number,
            url: presigned.url,
            expires_at: presigned.expires_at,
        });
    }
    Ok(Json(PartUrls { parts }))
}

/// The length each asked-for part's URL signs: the one the client names for a growing upload
/// (required), the plan's otherwise (a named one must agree).
fn part_lengths(row: &VideoRow, body: &PartsRequest) -> Result<Vec<i64>, ApiError> {
    let plan = UploadPlan {
        part_size: row.part_size,
        part_count: row.part_count,
    };
    let Some(sizes) = &body.sizes else {
        if row.growing {
            return Err(ApiError::invalid(
                "part_sizes_required",
                "this upload is growing: name each part's size in `sizes`",
            ));
        }
        let planned = body.part_numbers.iter();
        return Ok(planned
            .map(|&n| plan.part_length(row.size_bytes, n))
            .collect());
    };
    if sizes.len() != body.part_numbers.len() {
        return Err(ApiError::invalid(
            "invalid_part_size",
            format!(
                "sizes has {} entries for {} part numbers; give one size per part",
                sizes.len(),
                body.part_numbers.len()
            ),
        ));
    }
    for (&n, &size) in body.part_numbers.iter().zip(sizes) {
        let fits = if row.growing {
            (1..=row.part_size).contains(&size)
        } else {
            size == plan.part_length(row.size_bytes, n)
        };
        if !fits {
            let expected = if row.growing {
                format!("between 1 and {}", row.part_size)
            } else {
                plan.part_length(row.size_bytes, n).to_string()
            };
            return Err(ApiError::invalid(
                "invalid_part_size",
                format!("part {n} must be {expected} bytes; got {size}"),
            ));
        }
    }
    Ok(sizes.clone())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadStatus {
    upload_id: String,
    part_size: i64,
    /// For a growing upload, the most parts it may have.
    part_count: i32,
    /// Whether the upload is growing (each part's size is named when its URL is asked for).
    growing: bool,
    parts_done: Vec<UploadedPart>,
}

/// What S3 already holds, so that a client can resume by sending only the missing parts.
#[utoipa::path(
    get,
    path = "/videos/{id}/upload",
    tag = "uploads",
    summary = "The parts S3 already holds (to resume an upload)",
    security(("bearer" = []), ("session_cookie" = [])),
    params(VideoId),
    responses(
        (status = 200, description = "The upload and its parts done", body = UploadStatus),
        Unauthorized,
        InsufficientScope,
        NoSuchVideo,
        NoActiveUpload,
        StorageFailures,
    )
)]
pub async fn status(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    VideoId(id): VideoId,
) -> Result<Json<UploadStatus>, ApiError> {
    require(&caller, Scope::VideosRead)?;
    let row = find(&state.pool, &caller, id).await?;
    let upload_id = active_upload(&row)?;
    let parts_done = state.storage.list_parts(id, upload_id).await?;
    Ok(Json(UploadStatus {
        upload_id: upload_id.to_owned(),
        part_size: row.part_size,
        part_count: row.part_count,
        growing: row.growing,
        parts_done,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CompletedPart {
    #[schema(minimum = 1, maximum = 10000)]
    part_number: i32,
    /// The `ETag` header S3 answered the part's PUT with, quotes included.
    #[schema(min_length = 1, max_length = 256, pattern = "^[!-~]+$")]
    etag: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CompleteRequest {
    parts: Vec<CompletedPart>,
}

/// S3 codes that mean the client's part list is wrong, not that S3 is unwell.
const CLIENT_PART_ERRORS: [&str; 3] = ["InvalidPart", "InvalidPartOrder", "EntityTooSmall"];

/// Completes the upload and enqueues processing in the same transaction as the status
/// change. Calling it again (or concurrently) is harmless: completes of one video take turns
/// (see [`crate::complete_turns`]), so a second one sees the first's result instead of racing
/// it in S3. Waiting for the turn holds no connection of the pool other requests use, and
/// every database step runs on the turn's own connection.
#[utoipa::path(
    post,
    path = "/videos/{id}/upload/complete",
    tag = "uploads",
    summary = "Complete the upload and queue the video for processing",
    security(("bearer" = []), ("session_cookie" = [])),
    params(VideoId),
    request_body = CompleteRequest,
    responses(
        (status = 202, description = "The video, now `queued` (or further along if completed before)", body = One),
        NotJson,
        Unauthorized,
        (status = 403, description = "The key or session lacks the scope this needs (`insufficient_scope`); made with the session cookie from another site's page (`cross_origin_request`); or a growing upload's file would take its owner past a byte quota: it is deleted and the video fails (`quota_exceeded`, the message names the limit)", body = ErrorBody),
        NoSuchVideo,
        (status = 409, description = "The upload was aborted, expired or failed (`upload_not_active`)", body = ErrorBody),
        (status = 413, description = "A growing upload's file is larger than this server accepts; it is deleted and the video fails (`upload_too_large`); or the request body is larger than the server allows (`body_too_large`)", body = ErrorBody),
        (status = 422, description = "The part list is wrong or the file's size differs from the one declared (`invalid_body`, `invalid_part_number`, `invalid_parts`, `missing_parts`, `size_mismatch`)", body = ErrorBody),
        StorageFailures,
    )
)]
pub async fn complete(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    VideoId(id): VideoId,
    Json(body): Json<CompleteRequest>,
) -> Result<(StatusCode, Json<One>), ApiError> {
    require(&caller, Scope::VideosWrite)?;
    let mut turn = state.complete_turns.take(id).await?;
    let answer = complete_in_turn(&state, &caller, turn.db(), id, body).await;
    turn.end().await?;
    answer
}

async fn complete_in_turn(
    state: &AppState,
    caller: &Caller,
    db: &mut PgConnection,
    id: Uuid,
    body: CompleteRequest,
) -> Result<(StatusCode, Json<One>), ApiError> {
    let row = find(&mut *db, caller, id).await?;
    match row.status {
        VideoStatus::AwaitingUpload => {}
        VideoStatus::Failed => {
            return Err(ApiError::conflict(
                "upload_not_active",
                "the video failed; it has no upload in progress",
            ));
        }
        // Already completed: answer as the first call did.
        _ => return Ok(accepted(state, row)),
    }
    let upload_id = active_upload(&row)?;
    let parts = checked_parts(&row, body.parts)?;
    let assembling = std::time::Instant::now();
    complete_in_s3(state, id, upload_id, &parts).await?;
    // How long the storage took to assemble the parts (LocalStack copies every byte there; the
    // stop-to-playable bench reads it off this log to tell the storage's share from ours).
    let s3_complete_s = assembling.elapsed().as_secs_f64();
    if row.growing {
        let part_count = i32::try_from(parts.len()).unwrap_or(i32::MAX);
        check_grown_size(state, &mut *db, &row, part_count).await?;
    } else {
        check_uploaded_size(state, &mut *db, &row).await?;
    }

    let row = match videos::mark_uploaded_and_enqueue(&mut *db, id).await? {
        Some(row) => {
            tracing::info!(video_id = %id, s3_complete_s, "upload complete; job enqueued");
            row
        }
        None => find(&mut *db, caller, id).await?,
    };
    Ok(accepted(state, row))
}

fn accepted(state: &AppState, row: VideoRow) -> (StatusCode, Json<One>) {
    let video = view(state, row);
    (StatusCode::ACCEPTED, Json(One { video }))
}

/// Asks S3 to assemble the parts. A part list S3 refuses is the client's error (422); an
/// upload S3 no longer knows is fine if a concurrent complete assembled it first.
async fn complete_in_s3(
    state: &AppState,
    id: Uuid,
    upload_id: &str,
    parts: &[(i32, String)],
) -> Result<(), ApiError> {
    match state
        .storage
        .complete_multipart_upload(id, upload_id, parts)
        .await
    {
        Ok(()) => Ok(()),
        Err(err) if err.code().is_some_and(|c| CLIENT_PART_ERRORS.contains(&c)) => {
            Err(ApiError::invalid(
                "invalid_parts",
                format!(
                    "S3 refused the part list ({}); check each part's ETag and upload missing parts",
                    err.code().unwrap_or("InvalidPart")
                ),
            ))
        }
        Err(err) if err.code() == Some("NoSuchUpload") => match state.storage.raw_size(id).await? {
            Some(_) => Ok(()),
            None => Err(ApiError::conflict(
                "upload_not_active",
                "the upload was aborted or expired",
            )),
        },
        Err(err) => Err(err.into()),
    }
}

/// The assembled file must be as long as declared; if not, it is deleted and the video fails.
async fn check_uploaded_size(
    state: &AppState,
    db: &mut PgConnection,
    row: &VideoRow,
) -> Result<(), ApiError> {
    let size = state.storage.raw_size(row.id).await?;
    if size == Some(row.size_bytes) {
        return Ok(());
    }
    let error = format!(
        "the uploaded file is {} bytes but {} were declared",
        size.unwrap_or(0),
        row.size_bytes
    );
    state.storage.delete_raw(row.id).await?;
    videos::mark_upload_failed(db, row.id, &error).await?;
    Err(ApiError::invalid("size_mismatch", error))
}

/// A growing upload's assembled file must fit `MAX_UPLOAD_BYTES` and its owner's byte quotas
/// (checked now that its size is known; admins are exempt); if it does, its size and part
/// count are recorded, if not it is deleted and the video fails.
async fn check_grown_size(
    state: &AppState,
    db: &mut PgConnection,
    row: &VideoRow,
    part_count: i32,
) -> Result<(), ApiError> {
    let size = state.storage.raw_size(row.id).await?.unwrap_or(0);
    let max = state.config.max_upload_bytes;
    let refused = if !(1..=max).contains(&size) {
        ApiError::TooLarge {
            code: "upload_too_large",
            message: format!("the uploaded file is {size} bytes; accepted are 1 to {max}"),
        }
    } else {
        // The usage lock holds until the size is recorded: two growing uploads of one owner
        // completed at once cannot both fit where only one does.
        let mut tx = sqlx::Connection::begin(&mut *db).await?;
        match over_quota(state, &mut tx, row.owner_id, size).await? {
            Some(message) => ApiError::forbidden("quota_exceeded", message),
            None => {
                videos::record_grown_size(&mut *tx, row.id, size, part_count).await?;
                tx.commit().await?;
                return Ok(());
            }
        }
    };
    state.storage.delete_raw(row.id).await?;
    videos::mark_upload_failed(db, row.id, &refused.to_string()).await?;
    Err(refused)
}

/// Why `size` more bytes would take `owner` past a byte quota, under the owner's usage lock
/// (as a create checks it); `None` when they fit or the owner is an admin.
async fn over_quota(
    state: &AppState,
    db: &mut PgConnection,
    owner: Uuid,
    size: i64,
) -> Result<Option<String>, ApiError> {
    let role = users::get(&mut *db, owner).await?.map(|user| user.role);
    if role == Some(Role::Admin) {
        return Ok(None);
    }
    videos::lock_usage(&mut *db, owner).await?;
    let usage = videos::usage(&mut *db, owner).await?;
    Ok(state.config.quotas.admit_bytes(&usage, size).err())
}

/// Every part from 1 to `part_count` exactly once, sorted, as S3 wants them (for a growing
/// upload, every part from 1 to the highest one listed: its length is not known before).
fn checked_parts(
    row: &VideoRow,
    parts: Vec<CompletedPart>,
) -> Result<Vec<(i32, String)>, ApiError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        check_part_number(row, part.part_number)?;
        if !seen.insert(part.part_number) {
            return Err(ApiError::invalid(
                "invalid_parts",
                format!("part {} is listed twice", part.part_number),
            ));
        }
        let etag = part.etag.trim();
        // S3's ETags are quoted hex (and `-N`): visible ASCII. Anything else cannot be a part's,
        // and a control character would make the request S3 gets malformed XML.
        if etag.is_empty() || etag.len() > 256 || !etag.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::invalid(
                "invalid_parts",
                format!("part {} has no valid ETag", part.part_number),
            ));
        }
        out.push((part.part_number, etag.to_owned()));
    }
    let last = if row.growing {
        seen.last().copied().unwrap_or(1)
    } else {
        row.part_count
    };
    if let Some(missing) = (1..=last).find(|n| !seen.contains(n)) {
        return Err(ApiError::invalid(
            "missing_parts",
            format!("part {missing} of {last} is missing; upload every part before completing"),
        ));
    }
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

/// Aborts the multipart upload; the video ends `failed`.
#[utoipa::path(
    delete,
    path = "/videos/{id}/upload",
    tag = "uploads",
    summary = "Abort the upload (the video ends failed)",
    security(("bearer" = []), ("session_cookie" = [])),
    params(VideoId),
    responses(
        (status = 204, description = "Aborted"),
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        NoSuchVideo,
        NoActiveUpload,
        StorageFailures,
    )
)]
pub async fn abort(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    VideoId(id): VideoId,
) -> Result<StatusCode, ApiError> {
    require(&caller, Scope::VideosWrite)?;
    let row = find(&state.pool, &caller, id).await?;
    let upload_id = active_upload(&row)?;
    abort_upload(&state, id, upload_id, "the upload was canceled").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Aborts the multipart upload (already gone is fine) and marks the video `failed` with `reason`.
pub(crate) async fn abort_upload(
    state: &AppState,
    id: Uuid,
    upload_id: &str,
    reason: &str,
) -> Result<(), ApiError> {
    match state.storage.abort_multipart_upload(id, upload_id).await {
        Ok(()) => {}
        Err(err) if err.code() == Some("NoSuchUpload") => {}
        Err(err) => return Err(err.into()),
    }
    videos::mark_upload_failed(&state.pool, id, reason).await?;
    Ok(())
}
