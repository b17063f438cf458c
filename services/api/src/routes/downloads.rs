//! `GET /api/v1/videos/{id}/download`: an MP4 of one rendition with its audio, made on the
//! first request by a `download` job (the processor's `job/download.rs`), then a redirect to
//! it. Only the owner (and admins) may download: viewers of a public video watch it, they do
//! not get its file, so the route sits with the owner's routes (`videos:read`).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use vodnest_core::caller::Scope;
use vodnest_core::domain::{VideoRow, VideoStatus};
use vodnest_core::downloads::{self, Download, DownloadState, NewDownload};
use vodnest_core::edits::master_key;
use vodnest_core::storage::media_url;
use vodnest_core::videos;

use super::VideoId;
use super::playback::ObjectUrls;
use super::videos::find;
use crate::auth::{Authenticated, require};
use crate::error::{ApiError, ErrorBody, Json, Query};
use crate::openapi::{InsufficientScope, NoSuchVideo, StorageFailures, Unauthorized};
use crate::state::AppState;

/// Downloads one user may have being prepared at once: each is a job reading and writing the
/// whole rendition.
const MAX_PREPARING_PER_USER: i64 = 3;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// A rendition of the video (`720p`); the top one when absent.
    #[param(max_length = 32)]
    rendition: Option<String>,
}

/// The answer while the file is being made.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preparing {
    /// `preparing`: ask again in a few seconds.
    status: &'static str,
}

#[utoipa::path(
    get,
    path = "/videos/{id}/download",
    tag = "videos",
    summary = "Download a rendition of a video as one MP4 file",
    description = "The first request starts making the file (a fragmented MP4 of the rendition \
                   and its audio, nothing re-encoded) and answers `202`; ask again every few \
                   seconds until a `302` to the file (a signed URL that expires when the video \
                   is not public). The file is made once per rendition and playlist revision: \
                   after the video changes, the next request makes a new one. Owners only \
                   (admins: any video).",
    security(("bearer" = []), ("session_cookie" = [])),
    params(VideoId, DownloadQuery),
    responses(
        (status = 302, description = "The file: `Location` is its URL", headers(("Location" = String, description = "The MP4's URL"))),
        (status = 202, description = "Being made: ask again", body = Preparing),
        Unauthorized,
        InsufficientScope,
        NoSuchVideo,
        (status = 409, description = "The video is not ready (`not_ready`), or making the file failed (`download_failed`: asking again retries)", body = ErrorBody),
        (status = 422, description = "No such rendition; the message lists the video's (`invalid_rendition`)", body = ErrorBody),
        (status = 429, description = "Three downloads are being made for this user already, or another rate limit (`rate_limited`; the message says which)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
        StorageFailures,
    )
)]
pub async fn download(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    VideoId(id): VideoId,
    Query(query): Query<DownloadQuery>,
) -> Result<Response, ApiError> {
    require(&caller, Scope::VideosRead)?;
    let row = find(&state.pool, &caller, id).await?;
    let master = master_key(&row)
        .filter(|_| row.status == VideoStatus::Ready)
        .ok_or_else(|| {
            ApiError::conflict(
                "not_ready",
                format!(
                    "the video is {}; it can be downloaded once ready",
                    row.status
                ),
            )
        })?;
    let rendition = checked_rendition(&row, query.rendition.as_deref())?;
    let existing = downloads::find(&state.pool, id, &rendition, &master).await?;
    let download = match existing {
        Some(download) => download,
        None => {
            let new = NewDownload {
                video_id: id,
                rendition: &rendition,
                master_key: &master,
                requested_by: caller.user.id,
            };
            start(&state, &new).await?;
            return Ok(preparing());
        }
    };
    match download.state {
        DownloadState::Preparing => Ok(preparing()),
        DownloadState::Ready => redirect(&state, &row, &download).await,
        DownloadState::Failed => {
            // Reported once; the next request makes it again.
            downloads::forget_failed(&state.pool, download.id).await?;
            tracing::warn!(video_id = %id, rendition, error = download.error.as_deref().unwrap_or(""), "download failed");
            Err(ApiError::conflict(
                "download_failed",
                format!("the MP4 of {rendition} could not be made; ask again to retry"),
            ))
        }
    }
}

/// The rendition asked for, one of the video's; the top one when none is named.
fn checked_rendition(row: &VideoRow, asked: Option<&str>) -> Result<String, ApiError> {
    let renditions = &row.renditions.0;
    let name = match asked {
        Some(name) => renditions.iter().find(|r| r.name == name),
        None => renditions.iter().max_by_key(|r| (r.height, r.bandwidth)),
    };
    name.map(|r| r.name.clone()).ok_or_else(|| {
        let valid: Vec<&str> = renditions.iter().map(|r| r.name.as_str()).collect();
        ApiError::invalid(
            "invalid_rendition",
            format!("no such rendition; this video has: {}", valid.join(", ")),
        )
    })
}

/// Records the download and enqueues its job, under the caller's limit of downloads being
/// prepared at once (counted under the caller's lock: two requests at once cannot both pass).
async fn start(state: &AppState, new: &NewDownload<'_>) -> Result<(), ApiError> {
    let mut tx = state.pool.begin().await?;
    videos::lock_usage(&mut *tx, new.requested_by).await?;
    let preparing = downloads::preparing_for(&mut *tx, new.requested_by).await?;
    if preparing >= MAX_PREPARING_PER_USER {
        return Err(ApiError::RateLimited {
            message: format!(
                "{preparing} downloads are being made for you already; at most \
                 {MAX_PREPARING_PER_USER} at once"
            ),
            retry_after_secs: 10,
        });
    }
    // `None`: a concurrent request made it first; it is being prepared either way.
    let _ = downloads::create(&mut *tx, new).await?;
    tx.commit().await?;
    Ok(())
}

fn preparing() -> Response {
    (
        StatusCode::ACCEPTED,
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::RETRY_AFTER, HeaderValue::from_static("2")),
        ],
        Json(Preparing {
            status: "preparing",
        }),
    )
        .into_response()
}

/// A redirect to the file: a plain URL in a public version, else a signed one that expires
/// as the video's playback URLs do.
async fn redirect(
    state: &AppState,
    row: &VideoRow,
    download: &Download,
) -> Result<Response, ApiError> {
    let prefix = row.media_prefix.as_deref().unwrap_or_default();
    let name = download
        .object_key
        .strip_prefix(prefix)
        .ok_or_else(|| ApiError::internal("the download is not in the video's version"))?;
    let url = match state.playback.grant(row, OffsetDateTime::now_utc()) {
        Some(grant) => ObjectUrls::new(state, &grant).await?.sign(name).await?,
        None => media_url(state.storage.media_base_url(), prefix, name),
    };
    let location = HeaderValue::from_str(&url)
        .map_err(|_| ApiError::internal("the download URL is not a header value"))?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response())
}
