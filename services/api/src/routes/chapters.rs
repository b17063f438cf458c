//! A video's chapters: its owner sets them (`PUT /videos/{id}/chapters`), and players read them
//! as a WebVTT chapters track, from the owner's routes or, for a public or unlisted video, from
//! the public ones.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use vodnest_core::audit::{self, Action, Actor};
use vodnest_core::caller::Scope;
use vodnest_core::chapters::{self, Chapter};
use vodnest_core::domain::VideoRow;
use vodnest_core::videos;

use super::VideoId;
use super::public::find_watchable;
use super::videos::{One, find, view};
use crate::auth::{Authenticated, require};
use crate::client_ip::ClientIp;
use crate::error::{ApiError, ErrorBody, Json};
use crate::openapi::{
    CrossOrigin, InsufficientScope, Internal, NoSuchVideo, NotJson, Unauthorized,
};
use crate::state::AppState;

const VTT_TYPE: &str = "text/vtt; charset=utf-8";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetChapters {
    /// Sorted by `start_s`, strictly increasing, the first at 0, each inside the video when its
    /// duration is known; at most 500. An empty list clears them: the description's chapters
    /// apply again.
    #[schema(max_items = 500)]
    chapters: Vec<Chapter>,
}

#[utoipa::path(
    put,
    path = "/videos/{id}/chapters",
    tag = "videos",
    summary = "Set a video's chapters",
    description = "Times are seconds of the original video. Until chapters are set here, a \
                   description with lines like `0:00 Intro`, `1:02:03 Boss fight` sets them \
                   (YouTube's rules: the first at 0:00, at least three, each at least 10 s \
                   after the one before).",
    security(("bearer" = []), ("session_cookie" = [])),
    params(VideoId),
    request_body = SetChapters,
    responses(
        (status = 200, description = "The video with its chapters", body = One),
        NotJson,
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        NoSuchVideo,
        (status = 422, description = "A chapter is wrong; the message names it, as `chapters[3]: …` (`invalid_chapters`, `invalid_body`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn set(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    VideoId(id): VideoId,
    Json(body): Json<SetChapters>,
) -> Result<Json<One>, ApiError> {
    require(&caller, Scope::VideosWrite)?;
    let row = find(&state.pool, &caller, id).await?;
    let (chapters, explicit) = if body.chapters.is_empty() {
        (chapters::from_description(&row.description), false)
    } else {
        let checked = chapters::checked(body.chapters, row.duration_s)
            .map_err(|message| ApiError::invalid("invalid_chapters", message))?;
        (checked, true)
    };
    let mut tx = state.pool.begin().await?;
    let row = videos::set_chapters(&mut *tx, id, &chapters, explicit)
        .await?
        .ok_or(ApiError::NotFound("no such video"))?;
    let target = id.to_string();
    let ip = ip.text();
    let actor = Actor::User(&caller.user);
    audit::record(&mut *tx, actor, Action::VideoEdited, &target, ip.as_deref()).await?;
    tx.commit().await?;
    Ok(Json(One {
        video: view(&state, row),
    }))
}

#[utoipa::path(
    get,
    path = "/videos/{id}/chapters.vtt",
    tag = "videos",
    summary = "A video's chapters as a WebVTT chapters track",
    description = "One cue per chapter, each ending where the next starts and the last at the \
                   end of the video, on the player's timeline. No cues when there are no chapters.",
    security(("bearer" = []), ("session_cookie" = [])),
    params(VideoId),
    responses(
        (status = 200, description = "The track", content_type = "text/vtt", body = String),
        Unauthorized,
        InsufficientScope,
        NoSuchVideo,
        Internal,
    )
)]
pub async fn track(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    VideoId(id): VideoId,
) -> Result<Response, ApiError> {
    require(&caller, Scope::VideosRead)?;
    let row = find(&state.pool, &caller, id).await?;
    Ok(vtt_response(&row, "private, no-cache"))
}

#[utoipa::path(
    get,
    path = "/public/videos/{id}/chapters.vtt",
    operation_id = "get_public_chapters_track",
    tag = "public",
    summary = "A public or unlisted video's chapters as a WebVTT chapters track (no token)",
    description = "As `GET /videos/{id}/chapters.vtt`; readable from any origin.",
    security(()),
    params(VideoId),
    responses(
        (status = 200, description = "The track", content_type = "text/vtt", body = String),
        (status = 404, description = "No such video, or a private one (`not_found`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn public_track(
    State(state): State<AppState>,
    VideoId(id): VideoId,
) -> Result<Response, ApiError> {
    let row = find_watchable(&state.pool, id).await?;
    let mut response = vtt_response(&row, "public, max-age=60");
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(response)
}

/// The part of the original timeline the video's players play: a trimmed video's window, or
/// all of it.
fn player_window(row: &VideoRow) -> (f64, f64) {
    if let Some(window) = vodnest_core::edits::window(row) {
        return (window.start_s, window.end_s);
    }
    let last_start = row.chapters.0.last().map_or(0.0, |c| c.start_s);
    (0.0, row.duration_s.unwrap_or(last_start + 1.0))
}

fn vtt_response(row: &VideoRow, cache: &'static str) -> Response {
    let (from_s, to_s) = player_window(row);
    let body = chapters::vtt(&row.chapters.0, from_s, to_s);
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(VTT_TYPE)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}
