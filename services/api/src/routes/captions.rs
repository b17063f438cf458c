//! `PUT /api/v1/videos/{id}/captions/{lang}` and `DELETE …`: captions of a ready video, one file
//! per language, given as WebVTT or SRT and stored as WebVTT (see `vodnest_core::captions`).
//! Each change writes a new revision of the video's master (see `vodnest_core::edits`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use uuid::Uuid;
use vodnest_core::audit::{self, Action, Actor};
use vodnest_core::caller::{Caller, Scope};
use vodnest_core::captions::{self, Format};
use vodnest_core::domain::{VideoRow, VideoStatus};
use vodnest_core::edits::{self, MAX_LABEL_CHARS};

use super::videos::{One, find, view};
use crate::auth::{Authenticated, require};
use crate::client_ip::ClientIp;
use crate::error::{ApiError, ErrorBody, Json, Path, Query};
use crate::openapi::{
    BodyTooLarge, CrossOrigin, InsufficientScope, NoSuchVideo, StorageFailures, Unauthorized,
};
use crate::state::AppState;

/// The path of one language's captions.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CaptionPath {
    /// The video's id.
    id: String,
    /// A BCP 47 language tag: 2–3 lowercase letters, then subtags of 2–8 letters or digits
    /// (`en`, `pt-BR`), at most 35 characters.
    lang: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaptionQuery {
    /// What players show in their captions menu; the language tag when absent. At most 64
    /// characters, no control characters or double quotes.
    label: Option<String>,
}

/// The video (404 when the caller may not see it) and the checked language.
async fn target(
    state: &AppState,
    caller: &Caller,
    path: &CaptionPath,
) -> Result<(VideoRow, String), ApiError> {
    let id: Uuid = path
        .id
        .parse()
        .map_err(|_| ApiError::NotFound("no such video"))?;
    let row = find(&state.pool, caller, id).await?;
    if !captions::valid_lang(&path.lang) {
        return Err(ApiError::invalid(
            "invalid_lang",
            "the language must be a BCP 47 tag such as en or pt-BR (at most 35 characters)",
        ));
    }
    Ok((row, path.lang.clone()))
}

fn checked_label(label: Option<&str>, lang: &str) -> Result<String, ApiError> {
    let label = label
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or(lang);
    if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(|c| c.is_control() || c == '"')
    {
        return Err(ApiError::invalid(
            "invalid_label",
            format!(
                "label must be at most {MAX_LABEL_CHARS} characters, without control characters or double quotes"
            ),
        ));
    }
    Ok(label.to_owned())
}

#[utoipa::path(
    put,
    path = "/videos/{id}/captions/{lang}",
    tag = "videos",
    summary = "Add or replace a ready video's captions in one language",
    description = "The body is the caption file, WebVTT (`Content-Type: text/vtt`) or SRT \
                   (`application/x-subrip`), UTF-8. It is checked (a malformed file is refused \
                   with the line that is wrong; a cue that starts after the video ends is \
                   refused), converted to WebVTT, and listed in a new master playlist as a \
                   subtitle rendition: the video's `hls_url` changes. Cue times are on the \
                   original timeline, also when the video is trimmed. WebVTT's own tags are \
                   kept; other markup is escaped. At most 20 languages per video.",
    security(("bearer" = []), ("session_cookie" = [])),
    params(CaptionPath, CaptionQuery),
    request_body(content = String, content_type = "text/vtt", description = "WebVTT or SRT"),
    responses(
        (status = 200, description = "The video as it is now", body = One),
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        NoSuchVideo,
        (status = 409, description = "The video is not ready yet (`not_ready`)", body = ErrorBody),
        BodyTooLarge,
        (status = 422, description = "A malformed file, the message names the line (`invalid_captions`); another content type (`unsupported_caption_format`); a bad language or label (`invalid_lang`, `invalid_label`); too many languages (`too_many_captions`)", body = ErrorBody),
        StorageFailures,
    )
)]
pub async fn put_captions(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    Path(path): Path<CaptionPath>,
    Query(query): Query<CaptionQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<One>, ApiError> {
    require(&caller, Scope::VideosWrite)?;
    let (row, lang) = target(&state, &caller, &path).await?;
    let label = checked_label(query.label.as_deref(), &lang)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let format = Format::of_content_type(content_type).ok_or_else(|| {
        ApiError::invalid(
            "unsupported_caption_format",
            "send WebVTT (Content-Type: text/vtt) or SRT (Content-Type: application/x-subrip)",
        )
    })?;
    if row.status != VideoStatus::Ready || !row.playable {
        return Err(edits::EditError::NotReady(row.status).into());
    }
    let vtt = captions::convert(format, &body, row.duration_s.unwrap_or(0.0))
        .map_err(|err| ApiError::invalid("invalid_captions", err.to_string()))?;
    let row =
        edits::attach_caption(&state.pool, &state.storage, row.id, &lang, &label, vtt).await?;
    record(&state, &caller, ip, row.id).await?;
    Ok(Json(One {
        video: view(&state, row),
    }))
}

#[utoipa::path(
    delete,
    path = "/videos/{id}/captions/{lang}",
    tag = "videos",
    summary = "Remove a video's captions in one language",
    description = "A new master playlist without them: the video's `hls_url` changes.",
    security(("bearer" = []), ("session_cookie" = [])),
    params(CaptionPath),
    responses(
        (status = 204, description = "Removed"),
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        (status = 404, description = "No such video, or no captions in that language (`not_found`)", body = ErrorBody),
        (status = 409, description = "The video is not ready (`not_ready`)", body = ErrorBody),
        (status = 422, description = "Not a language tag (`invalid_lang`)", body = ErrorBody),
        StorageFailures,
    )
)]
pub async fn delete_captions(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    Path(path): Path<CaptionPath>,
) -> Result<StatusCode, ApiError> {
    require(&caller, Scope::VideosWrite)?;
    let (row, lang) = target(&state, &caller, &path).await?;
    edits::detach_caption(&state.pool, &state.storage, row.id, &lang).await?;
    record(&state, &caller, ip, row.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn record(state: &AppState, caller: &Caller, ip: ClientIp, id: Uuid) -> Result<(), ApiError> {
    let target = id.to_string();
    let ip = ip.text();
    audit::record(
        &state.pool,
        Actor::User(&caller.user),
        Action::VideoEdited,
        &target,
        ip.as_deref(),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::checked_label;

    #[test]
    fn labels() {
        assert_eq!(checked_label(None, "en").ok().as_deref(), Some("en"));
        assert_eq!(
            checked_label(Some("  English "), "en").ok().as_deref(),
            Some("English")
        );
        assert!(checked_label(Some("a\"b"), "en").is_err());
        assert!(checked_label(Some("a\nb"), "en").is_err());
        assert!(checked_label(Some(&"x".repeat(65)), "en").is_err());
    }
}
