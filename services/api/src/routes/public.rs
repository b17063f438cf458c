//! What anyone may read without an account: public videos (listed) and unlisted ones (by
//! id), under `/api/v1/public/`. A private video answers 404 exactly as a missing one. The
//! video object shown here hides what only its owner should see: a failed video's error (the
//! processor's own words, which may name files and tools) becomes a plain sentence. The raw
//! upload's filename is never part of the video object.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::USER_AGENT;
use serde::Deserialize;
use vodnest_core::domain::{VideoRow, VideoView, Visibility};
use vodnest_core::{users, videos, viewers};

use super::VideoId;
use super::videos::{One, Page, checked_cursor, checked_limit, paged, view};
use crate::client_ip::ClientIp;
use crate::error::{ApiError, ErrorBody, Json, Query};
use crate::openapi::{CrossOrigin, Internal};
use crate::same_origin::SameOrigin;
use crate::state::AppState;

/// What a public viewer reads instead of a failed video's error.
pub(super) const FAILED: &str = "this video could not be processed";
/// Longest title search; longer ones are refused rather than scanned.
pub const MAX_QUERY_CHARS: usize = 100;

/// Whether anyone may watch `row`: public and unlisted videos.
pub fn is_watchable(row: &VideoRow) -> bool {
    row.visibility != Visibility::Private
}

/// The video as someone who is neither its owner nor an admin sees it.
pub fn public_view(state: &AppState, row: VideoRow) -> VideoView {
    let mut video = view(state, row);
    video.error = video.error.map(|_| FAILED.to_owned());
    video
}

/// A public or unlisted video; 404 for a private or missing one.
pub async fn find_watchable(
    db: impl sqlx::PgExecutor<'_>,
    id: uuid::Uuid,
) -> Result<VideoRow, ApiError> {
    videos::get(db, id)
        .await?
        .filter(is_watchable)
        .ok_or(ApiError::NotFound("no such video"))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PublicListQuery {
    /// Videos per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only videos whose title contains this text (case-insensitive; at most 100 characters).
    #[param(max_length = 100)]
    q: Option<String>,
    /// Only the videos of the user with this username.
    owner: Option<String>,
}

/// A title search: trimmed, `None` when blank; 422 when too long or with control characters.
pub fn checked_search(q: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if q.chars().count() > MAX_QUERY_CHARS || q.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "invalid_search",
            format!("q must be at most {MAX_QUERY_CHARS} characters, without control characters"),
        ));
    }
    Ok(Some(q.to_owned()))
}

/// Newest first, a page at a time: public videos that can be played.
#[utoipa::path(
    get,
    path = "/public/videos",
    operation_id = "list_public_videos",
    tag = "public",
    summary = "List public videos, newest first (no token)",
    security(()),
    params(PublicListQuery),
    responses(
        (status = 200, description = "A page of public, playable videos; `next_cursor` is null on the last page", body = Page),
        (status = 400, description = "A malformed query or a cursor this API did not return (`invalid_query`, `invalid_cursor`)", body = ErrorBody),
        (status = 422, description = "`limit` out of range, or `q` too long (`invalid_limit`, `invalid_search`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<PublicListQuery>,
) -> Result<Json<Page>, ApiError> {
    let limit = checked_limit(query.limit)?;
    let before = checked_cursor(query.cursor.as_deref())?;
    let q = checked_search(query.q.as_deref())?;
    let owner = query.owner.as_deref().map(str::trim);
    // A name no user can have lists nothing: no need to ask the database (which would refuse
    // a NUL byte in a text parameter outright).
    if owner.is_some_and(|o| users::check_username(o).is_err()) {
        return Ok(Json(Page {
            videos: Vec::new(),
            next_cursor: None,
        }));
    }
    let rows = videos::list_public(&state.pool, owner, q.as_deref(), limit + 1, before).await?;
    let (page, next_cursor) = paged(rows, limit);
    Ok(Json(Page {
        videos: page.into_iter().map(|r| public_view(&state, r)).collect(),
        next_cursor,
    }))
}

#[utoipa::path(
    get,
    path = "/public/videos/{id}",
    operation_id = "get_public_video",
    tag = "public",
    summary = "Read a public or unlisted video (no token)",
    security(()),
    params(VideoId),
    responses(
        (status = 200, description = "The video", body = One),
        (status = 404, description = "No such video, or a private one (`not_found`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    VideoId(id): VideoId,
) -> Result<Json<One>, ApiError> {
    let row = find_watchable(&state.pool, id).await?;
    Ok(Json(One {
        video: public_view(&state, row),
    }))
}

/// The player calls this when playback starts. Counting there rather than when the page is
/// served keeps out the link-preview robots that fetch `/watch` for its Open Graph tags, and
/// viewers who open the page but never play. Only this site's own pages may call it (a page of
/// another site cannot make its visitors count views); the count takes one view per viewer
/// per day.
#[utoipa::path(
    post,
    path = "/public/videos/{id}/views",
    tag = "public",
    summary = "Count a view of a playable public or unlisted video (no token)",
    security(()),
    params(VideoId),
    responses(
        (status = 204, description = "Counted, unless this viewer was counted today already"),
        CrossOrigin,
        (status = 404, description = "No such video, a private one, or one that cannot be played yet (`not_found`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn count_view(
    State(state): State<AppState>,
    _: SameOrigin,
    ip: ClientIp,
    headers: HeaderMap,
    VideoId(id): VideoId,
) -> Result<StatusCode, ApiError> {
    let row = find_watchable(&state.pool, id).await?;
    if !row.playable {
        return Err(ApiError::NotFound("no such video"));
    }
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    viewers::count(&state.pool, id, ip.0, user_agent).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::checked_search;

    #[test]
    fn searches_are_bounded() {
        assert_eq!(checked_search(None).ok(), Some(None));
        assert_eq!(checked_search(Some("  ")).ok(), Some(None));
        assert_eq!(
            checked_search(Some(" cats ")).ok(),
            Some(Some("cats".to_owned()))
        );
        assert!(checked_search(Some(&"é".repeat(101))).is_err());
        assert!(checked_search(Some(&"é".repeat(100))).is_ok());
        assert!(checked_search(Some("a\u{0}b")).is_err());
    }
}
