//! `GET /api/v1/playback/{id}/{version}/{token}/…`: the playlists, storyboard and poster of an
//! unlisted or private video's version, for whoever holds a URL the API signed (see
//! `crate::playback`). No token or cookie: the path is the credential, and it expires. The
//! media playlists and the storyboard come back with every segment, init segment and sheet
//! URI signed for storage; the master playlist as it is (its relative URIs resolve under the
//! same signed path); the poster as a redirect to a signed storage URL. Storage URLs are
//! CloudFront signed URLs (one policy per version and file) when `CLOUDFRONT_*` is set,
//! presigned S3 GETs otherwise.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;
use vodnest_core::cloudfront::SignedPolicy;
use vodnest_core::edits::master::{is_caption_playlist_name, is_playlist_name};
use vodnest_core::storage::media_url;
use vodnest_core::{media_refs, videos};

use crate::error::{ApiError, ErrorBody, Path};
use crate::openapi::Internal;
use crate::playback::Grant;
use crate::state::AppState;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const VTT_TYPE: &str = "text/vtt";
const STORYBOARD: &str = "storyboard.vtt";
/// The directory of a version's caption playlists and WebVTT files.
const CAPTIONS: &str = "captions";

/// `poster.jpg`, or a chosen or uploaded poster's own name (`poster-{n}.jpg`, `.png`).
fn is_poster(name: &str) -> bool {
    let Some(stem) = name
        .strip_suffix(".jpg")
        .or_else(|| name.strip_suffix(".png"))
    else {
        return false;
    };
    stem == "poster"
        || stem.strip_prefix("poster-").is_some_and(|n| {
            (1..=40).contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        })
}

/// The path of a file at the top of a version.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TopFile {
    /// The video's id.
    id: Uuid,
    /// The version of its output the URL was signed for.
    version: i32,
    /// `{expiry}-{signature}`, as the video object's `playback` URLs carry it.
    token: String,
    /// `master.m3u8` (or an edited video's `master-{k}.m3u8`), `storyboard.vtt` or `poster.jpg`.
    file: String,
}

/// The path of a rendition's playlist.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RenditionFile {
    id: Uuid,
    version: i32,
    token: String,
    /// The rendition's name, as the master playlist lists it (`720p`), or `captions`.
    rendition: String,
    /// `index.m3u8` (or a trimmed video's `index-{k}.m3u8`); in `captions`, `{lang}-{k}.m3u8`.
    file: String,
}

#[utoipa::path(
    get,
    path = "/playback/{id}/{version}/{token}/{file}",
    tag = "playback",
    summary = "The master playlist, storyboard or poster of an unlisted or private video (signed URL)",
    description = "Reached through the video object's `playback` URLs, never built by hand. \
                   `master.m3u8` and `storyboard.vtt` (sheet URIs signed) are returned; \
                   `poster.jpg` redirects to a signed storage URL. No token: the path is \
                   signed and stops working at the video's `playback.expires_at`.",
    security(()),
    params(TopFile),
    responses(
        (status = 200, description = "The playlist or storyboard", content_type = "application/vnd.apple.mpegurl"),
        (status = 302, description = "The poster: a signed storage URL"),
        (status = 403, description = "The signature is not valid or has expired (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such file, video or version (`not_found`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn top(
    State(state): State<AppState>,
    Path(p): Path<TopFile>,
) -> Result<Response, ApiError> {
    let grant = check(&state, p.id, p.version, &p.token).await?;
    match p.file.as_str() {
        master if is_playlist_name(master, "master") => playlist(&state, &grant, "", master).await,
        STORYBOARD => storyboard(&state, &grant).await,
        name if is_poster(name) => {
            let url = ObjectUrls::new(&state, &grant).await?.sign(name).await?;
            Ok((
                StatusCode::FOUND,
                [(header::LOCATION, url)],
                cache_headers(&grant, true),
            )
                .into_response())
        }
        _ => Err(ApiError::NotFound("no such file")),
    }
}

#[utoipa::path(
    get,
    path = "/playback/{id}/{version}/{token}/{rendition}/{file}",
    tag = "playback",
    summary = "A rendition's or caption's playlist of an unlisted or private video (signed URL)",
    description = "Every segment, init segment and WebVTT URI in it is a signed storage URL \
                   that expires with the path's signature.",
    security(()),
    params(RenditionFile),
    responses(
        (status = 200, description = "The media playlist", content_type = "application/vnd.apple.mpegurl"),
        (status = 403, description = "The signature is not valid or has expired (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such rendition, video or version (`not_found`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn rendition(
    State(state): State<AppState>,
    Path(p): Path<RenditionFile>,
) -> Result<Response, ApiError> {
    let grant = check(&state, p.id, p.version, &p.token).await?;
    let name_ok = !p.rendition.is_empty()
        && p.rendition.len() <= 32
        && p.rendition
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let file_ok = if p.rendition == CAPTIONS {
        is_caption_playlist_name(&p.file)
    } else {
        is_playlist_name(&p.file, "index")
    };
    if !name_ok || !file_ok {
        return Err(ApiError::NotFound("no such file"));
    }
    playlist(&state, &grant, &format!("{}/", p.rendition), &p.file).await
}

/// The signature, then whether the version is one the video still serves (its current one,
/// or a replaced one within its grace): a deleted video's URLs stop at once.
async fn check(state: &AppState, id: Uuid, version: i32, token: &str) -> Result<Grant, ApiError> {
    let grant = state
        .playback
        .check(id, version, token, OffsetDateTime::now_utc())
        .map_err(|refusal| ApiError::forbidden("forbidden", refusal.message()))?;
    if !videos::serves_version(&state.pool, id, &grant.prefix).await? {
        return Err(ApiError::NotFound("no such video or version"));
    }
    Ok(grant)
}

/// A playlist of the version: `file` in `dir` (`""` for a master, `"{rendition}/"` or
/// `"captions/"` for a media one, whose URIs are signed).
async fn playlist(
    state: &AppState,
    grant: &Grant,
    dir: &str,
    file: &str,
) -> Result<Response, ApiError> {
    let key = format!("{}{dir}{file}", grant.prefix);
    if let Some(body) = state.playback.cached(&key, grant.expires_at) {
        return Ok(respond(PLAYLIST_TYPE, grant, true, body));
    }
    let text = state
        .storage
        .get_media_bytes(&key)
        .await?
        .ok_or(ApiError::NotFound("no such file"))?;
    if dir.is_empty() {
        let fin = is_final(&text);
        return Ok(respond(PLAYLIST_TYPE, grant, fin, Arc::from(text)));
    }
    let mut media = m3u8_rs::parse_media_playlist_res(&text)
        .map_err(|_| ApiError::internal(format!("{key} is not a media playlist")))?;
    let urls = ObjectUrls::new(state, grant).await?;
    for segment in &mut media.segments {
        segment.uri = urls.sign(&format!("{dir}{}", segment.uri)).await?;
        if let Some(map) = &mut segment.map {
            map.uri = urls.sign(&format!("{dir}{}", map.uri)).await?;
        }
    }
    let mut out = Vec::new();
    media
        .write_to(&mut out)
        .map_err(|e| ApiError::internal(format!("writing {key}: {e}")))?;
    let fin = media.end_list;
    let body: Arc<[u8]> = Arc::from(out);
    if fin {
        state.playback.cache(&key, grant.expires_at, body.clone());
    }
    Ok(respond(PLAYLIST_TYPE, grant, fin, body))
}

/// The storyboard track, its sheet URIs signed (`storyboard/sheet_001.jpg#xywh=…`).
async fn storyboard(state: &AppState, grant: &Grant) -> Result<Response, ApiError> {
    let key = format!("{}{STORYBOARD}", grant.prefix);
    if let Some(body) = state.playback.cached(&key, grant.expires_at) {
        return Ok(respond(VTT_TYPE, grant, true, body));
    }
    let bytes = state
        .storage
        .get_media_bytes(&key)
        .await?
        .ok_or(ApiError::NotFound("no such file"))?;
    let text =
        String::from_utf8(bytes).map_err(|_| ApiError::internal(format!("{key} is not UTF-8")))?;
    let urls = ObjectUrls::new(state, grant).await?;
    let mut out = String::with_capacity(text.len() * 4);
    // A sheet holds 100 tiles: each is signed once (a 4-hour video has 2,880 cues, 29 sheets).
    let mut signed: HashMap<&str, String> = HashMap::new();
    for line in text.lines() {
        match line.split_once("#xywh=") {
            Some((sheet, area)) if !line.contains("-->") => {
                let url = match signed.get(sheet) {
                    Some(url) => url,
                    None => signed.entry(sheet).or_insert(urls.sign(sheet).await?),
                };
                out.push_str(&format!("{url}#xywh={area}\n"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    let body: Arc<[u8]> = Arc::from(out.into_bytes());
    state.playback.cache(&key, grant.expires_at, body.clone());
    Ok(respond(VTT_TYPE, grant, true, body))
}

/// Signs the storage URLs one file lists, all expiring with the grant: in AWS (CloudFront
/// configured) one policy per version prefix the file may name, signed once per file;
/// otherwise a presigned S3 GET per object. A clip's playlists name its parent's objects by
/// relative URIs (`../../../../{parent}/…`): each is resolved against the file's own place and
/// signed only when it lands inside the grant's version or a version this one references
/// (`media_references`); anything else is refused.
pub(crate) struct ObjectUrls<'a> {
    state: &'a AppState,
    grant: &'a Grant,
    /// The grant's version, then the versions it references.
    prefixes: Vec<String>,
    policies: Vec<Option<SignedPolicy>>,
}

impl<'a> ObjectUrls<'a> {
    pub(crate) async fn new(state: &'a AppState, grant: &'a Grant) -> Result<Self, ApiError> {
        let mut prefixes = vec![grant.prefix.clone()];
        prefixes.extend(media_refs::targets_of(&state.pool, &grant.prefix).await?);
        let policies = prefixes
            .iter()
            .map(|prefix| match state.playback.cloudfront() {
                Some(signer) => {
                    let resource = media_url(state.storage.media_base_url(), prefix, "*");
                    signer
                        .sign_policy(&resource, grant.expires_at)
                        .map(Some)
                        .map_err(|e| ApiError::internal(format!("CloudFront signing: {e}")))
                }
                None => Ok(None),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            state,
            grant,
            prefixes,
            policies,
        })
    }

    /// The signed URL of `name`, relative to the version.
    pub(crate) async fn sign(&self, name: &str) -> Result<String, ApiError> {
        let refused = || ApiError::internal(format!("refusing to sign {name:?}"));
        let key = media_refs::resolve(&self.grant.prefix, name).ok_or_else(refused)?;
        let (prefix, policy) = self
            .prefixes
            .iter()
            .zip(&self.policies)
            .find(|(prefix, _)| key.starts_with(prefix.as_str()))
            .ok_or_else(refused)?;
        let storage = &self.state.storage;
        if let Some(policy) = policy {
            let url = media_url(storage.media_base_url(), prefix, &key[prefix.len()..]);
            return Ok(policy.append_to(&url));
        }
        Ok(storage
            .presign_media_get(&key, self.grant.signed_at, self.grant.expires_at)
            .await?)
    }
}

/// Whether a playlist is complete (`#EXT-X-ENDLIST`): only those are cached for long.
fn is_final(text: &[u8]) -> bool {
    text.windows(b"#EXT-X-ENDLIST".len())
        .any(|w| w == b"#EXT-X-ENDLIST")
}

fn respond(content_type: &'static str, grant: &Grant, fin: bool, body: Arc<[u8]>) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        cache_headers(grant, fin),
        body.to_vec(),
    )
        .into_response()
}

/// Private caching until the grant expires (a playlist still growing: two seconds), and any
/// page may read it: the URL is the credential, no cookie is involved.
fn cache_headers(grant: &Grant, fin: bool) -> [(header::HeaderName, HeaderValue); 2] {
    let left = (grant.expires_at - OffsetDateTime::now_utc())
        .whole_seconds()
        .clamp(0, 3600);
    let max_age = if fin { left } else { left.min(2) };
    let cache = HeaderValue::from_str(&format!("private, max-age={max_age}"))
        .unwrap_or_else(|_| HeaderValue::from_static("no-store"));
    [
        (header::CACHE_CONTROL, cache),
        (
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ),
    ]
}
