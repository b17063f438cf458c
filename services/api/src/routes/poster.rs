//! `PUT /api/v1/videos/{id}/poster`: an uploaded JPEG or PNG becomes the video's poster, under
//! a new name in its current version (`poster-{n}.jpg|png`), so that no cached poster lies.
//! A poster chosen by time is `PATCH … {"poster_time_s"}` (a `poster` job grabs the frame).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use uuid::Uuid;
use vodnest_core::caller::Scope;
use vodnest_core::storage::media_headers;
use vodnest_core::videos;

use super::VideoId;
use super::videos::{One, find, view};
use crate::auth::{Authenticated, require};
use crate::error::{ApiError, ErrorBody, Json};
use crate::openapi::{CrossOrigin, InsufficientScope, NoSuchVideo, StorageFailures, Unauthorized};
use crate::poster_image;
use crate::state::AppState;

#[utoipa::path(
    put,
    path = "/videos/{id}/poster",
    tag = "videos",
    summary = "Upload the video's poster (JPEG or PNG)",
    description = "The body is the image, its `Content-Type` `image/jpeg` or `image/png`. \
                   Checked from its header (no decoding): the type must match the file's magic \
                   bytes, its dimensions be 1 to 4096 pixels a side, its size at most 5 MiB \
                   (and at most the server's `MAX_BODY_BYTES`). It is stored under a new name \
                   in the video's current version and `playback.poster_url` names it.",
    security(("bearer" = []), ("session_cookie" = [])),
    params(VideoId),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "A JPEG or PNG image"),
    responses(
        (status = 200, description = "The video with its new poster", body = One),
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        NoSuchVideo,
        (status = 409, description = "The video has no published version yet (`not_ready`), or it changed during the upload (`conflict`)", body = ErrorBody),
        (status = 413, description = "Over `MAX_BODY_BYTES` (`body_too_large`)", body = ErrorBody),
        (status = 422, description = "Not a JPEG or PNG of the declared type, or too large (`invalid_image`)", body = ErrorBody),
        StorageFailures,
    )
)]
pub async fn upload_poster(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    VideoId(id): VideoId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<One>, ApiError> {
    require(&caller, Scope::VideosWrite)?;
    let row = find(&state.pool, &caller, id).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let image = poster_image::check(content_type, &body)
        .map_err(|message| ApiError::invalid("invalid_image", message))?;
    let prefix = row
        .media_prefix
        .clone()
        .filter(|_| row.playable)
        .ok_or_else(|| ApiError::conflict("not_ready", "the video has nothing published yet"))?;
    let name = format!(
        "poster-{}.{}",
        Uuid::now_v7().simple(),
        image.format.extension()
    );
    let (content_type, cache) = media_headers(&name);
    state
        .storage
        .put_media_bytes(
            &format!("{prefix}{name}"),
            body.to_vec(),
            content_type,
            cache,
        )
        .await?;
    let row = videos::set_poster_name(&state.pool, id, &prefix, &name)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "conflict",
                "the video changed during the upload; send it again",
            )
        })?;
    tracing::info!(video_id = %id, name, width = image.width, height = image.height, "poster uploaded");
    Ok(Json(One {
        video: view(&state, row),
    }))
}
