//! `POST /api/v1/videos/{id}/clips`: a new video cut from one of the caller's videos (an
//! admin's: anyone's). Instant (the default): its playlists are the parent's cut at segment
//! boundaries, pointing at the parent's segments (`vodnest_core::clips`), written before the
//! row is committed and `ready` in the answer itself. Precise: queued for a `clip` job that
//! cuts its source at the exact instants, then processed like an upload.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;
use vodnest_core::audit::{self, Action, Actor};
use vodnest_core::caller::{Caller, Role, Scope};
use vodnest_core::clips::{self, ClipsError};
use vodnest_core::domain::{VideoRow, VideoStatus, Visibility};
use vodnest_core::media_refs;
use vodnest_core::queue::{self, JobKind};
use vodnest_core::storage::{MediaClass, media_headers, version_prefix};
use vodnest_core::videos::{self, NewClip};

use super::VideoId;
use super::videos::{One, check_quota, find, text_field, view};
use crate::auth::{Authenticated, require};
use crate::client_ip::ClientIp;
use crate::error::{ApiError, ErrorBody, Json};
use crate::openapi::{
    CrossOrigin, InsufficientScope, NoSuchVideo, NotJson, StorageFailures, Unauthorized,
};
use crate::state::AppState;

/// Shortest clip accepted: a poster's frame and a player's first segment need something.
const MIN_CLIP_S: f64 = 1.0;
/// When in a clip its poster is grabbed (at most; half of a shorter clip).
const POSTER_AT_S: f64 = 1.0;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClip {
    /// Where the clip starts, in seconds of the parent's timeline (at least 0).
    #[schema(minimum = 0)]
    start_s: f64,
    /// Where it ends: after `start_s` (by at least a second), at most the parent's duration.
    end_s: f64,
    /// 1 to 200 characters; "Clip of {the parent's title}" when absent or blank.
    #[serde(default)]
    #[schema(max_length = 200)]
    title: Option<String>,
    /// `false` (the default): cut at the parent's segment boundaries (about 6 s), nothing
    /// encoded, `ready` at once. `true`: cut at the exact instants and processed like an upload.
    #[serde(default)]
    precise: bool,
    /// `private` when absent. A public instant clip of a parent published in the signed class
    /// starts signed and gets its own copy of the segments it plays (a `republish` job).
    #[serde(default)]
    visibility: Option<Visibility>,
}

/// The checked request.
struct Checked {
    title: String,
    start_s: f64,
    end_s: f64,
    visibility: Visibility,
}

impl Checked {
    /// The clip as asked: a precise one (an instant one replaces the window and the version).
    fn clip_of(&self, caller: &Caller, parent: &VideoRow) -> NewClip {
        NewClip {
            id: Uuid::now_v7(),
            title: self.title.clone(),
            owner_id: caller.user.id,
            visibility: self.visibility,
            source_video_id: parent.id,
            source_start_s: self.start_s,
            source_end_s: self.end_s,
            duration_s: Some(self.end_s - self.start_s),
            width: parent.width,
            height: parent.height,
            renditions: Vec::new(),
            media_prefix: None,
        }
    }
}

fn checked(body: &CreateClip, parent: &VideoRow) -> Result<Checked, ApiError> {
    let playable = parent.playable && parent.status == VideoStatus::Ready;
    let duration = parent.duration_s.filter(|_| playable).ok_or_else(|| {
        ApiError::conflict(
            "not_ready",
            "the video is not ready yet: clips are cut from ready videos",
        )
    })?;
    let (start, end) = (body.start_s, body.end_s);
    if !start.is_finite() || !end.is_finite() {
        return Err(ApiError::invalid(
            "invalid_range",
            "start_s and end_s must be numbers",
        ));
    }
    if start < 0.0 {
        return Err(ApiError::invalid(
            "invalid_range",
            "start_s must be at least 0",
        ));
    }
    if end > duration + 0.001 {
        return Err(ApiError::invalid(
            "invalid_range",
            format!("end_s must be at most the video's duration, {duration:.3} s"),
        ));
    }
    if end - start < MIN_CLIP_S {
        return Err(ApiError::invalid(
            "invalid_range",
            format!("end_s must be at least {MIN_CLIP_S} s after start_s"),
        ));
    }
    let title = match body.title.as_deref().map(|t| text_field(t, "title", 200)) {
        Some(Ok(t)) if !t.is_empty() => t,
        Some(Err(e)) => return Err(e),
        _ => {
            let title: String = format!("Clip of {}", parent.title)
                .chars()
                .take(200)
                .collect();
            title
        }
    };
    Ok(Checked {
        title,
        start_s: start,
        end_s: end.min(duration),
        visibility: body.visibility.unwrap_or(Visibility::Private),
    })
}

#[utoipa::path(
    post,
    path = "/videos/{id}/clips",
    tag = "videos",
    summary = "Make a clip of a video: a new video of a part of it",
    description = "Of your own videos (admins: any). An instant clip (`precise` false, the \
                   default) plays the parent's own segments over the range widened to segment \
                   boundaries: nothing is copied or encoded and the clip is `ready` in the \
                   answer; deleting the parent keeps what its clips reference. A precise clip \
                   is cut at the exact instants and processed like an upload (`queued`). \
                   `source` on the clip says which part of the parent it covers.",
    security(("bearer" = []), ("session_cookie" = [])),
    params(VideoId),
    request_body = CreateClip,
    responses(
        (status = 201, description = "The clip: `ready` (instant) or `queued` (precise)", body = One),
        NotJson,
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        (status = 403, description = "The key or session lacks `videos:write` (`insufficient_scope`); from another site's page (`cross_origin_request`); or over a quota (`quota_exceeded`)", body = ErrorBody),
        NoSuchVideo,
        (status = 409, description = "The video is not ready, or has no version to cut from (`not_ready`)", body = ErrorBody),
        (status = 422, description = "A field is wrong (`invalid_body`, `invalid_field`, `invalid_range`)", body = ErrorBody),
        StorageFailures,
    )
)]
pub async fn create_clip(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    VideoId(id): VideoId,
    Json(body): Json<CreateClip>,
) -> Result<(StatusCode, Json<One>), ApiError> {
    require(&caller, Scope::VideosWrite)?;
    let parent = find(&state.pool, &caller, id).await?;
    let request = checked(&body, &parent)?;
    check_quota(&state.pool, &state.config.quotas, &caller, 0).await?;
    let row = if body.precise {
        precise(&state, &caller, &ip, &parent, &request).await?
    } else {
        instant(&state, &caller, &ip, &parent, &request).await?
    };
    tracing::info!(video_id = %row.id, parent = %id, precise = body.precise, "clip created");
    Ok((
        StatusCode::CREATED,
        Json(One {
            video: view(&state, row),
        }),
    ))
}

fn clip_error(err: ClipsError) -> ApiError {
    match err {
        ClipsError::Storage(err) => ApiError::Storage(err),
        ClipsError::NotPublished => ApiError::conflict(
            "not_ready",
            "the video has no published version to cut from; process it again first",
        ),
        other => ApiError::internal(format!("cutting the playlists: {other}")),
    }
}

/// The playlists are written first, then the row and its references in one transaction that
/// checks the parent still plays the version they point into (its row locked until the
/// commit, so the version can be neither replaced nor deleted meanwhile). If the transaction
/// fails, the objects are deleted again: nothing is left that no row owns.
async fn instant(
    state: &AppState,
    caller: &Caller,
    ip: &ClientIp,
    parent: &VideoRow,
    request: &Checked,
) -> Result<VideoRow, ApiError> {
    let source = clips::read_playlists(&state.storage, parent)
        .await
        .map_err(clip_error)?;
    let clip_id = Uuid::now_v7();
    // A public clip cannot point at objects only signed URLs may read: it starts in the signed
    // class and a republish gives it public copies of what it plays.
    let wanted = MediaClass::of(request.visibility);
    let class = match MediaClass::of_prefix(&source.version) {
        Some(MediaClass::Signed) => MediaClass::Signed,
        _ => wanted,
    };
    let version = version_prefix(clip_id, class, 1);
    let plan = clips::plan_instant(&source, &version, request.start_s, request.end_s)
        .map_err(clip_error)?;
    let written = write_objects(state, &plan.objects).await;
    let new = NewClip {
        id: clip_id,
        source_start_s: plan.start_s,
        source_end_s: plan.end_s,
        duration_s: Some(plan.end_s - plan.start_s),
        renditions: parent.renditions.0.clone(),
        media_prefix: Some(version.clone()),
        ..request.clip_of(caller, parent)
    };
    let committed = match written {
        Ok(_) => commit_instant(
            state,
            caller,
            ip,
            parent,
            &source.version,
            &new,
            &plan.targets,
        )
        .await
        .map(|row| (row, class != wanted)),
        Err(err) => Err(err.into()),
    };
    match committed {
        Ok((row, republish)) => {
            if republish {
                queue::enqueue(&state.pool, JobKind::Republish, row.id).await?;
            }
            Ok(row)
        }
        Err(err) => {
            if let Err(cleanup) = state.storage.delete_media_prefix(&version).await {
                tracing::warn!(error = %cleanup, version, "cannot delete a failed clip's playlists");
            }
            Err(err)
        }
    }
}

/// A handful of small playlists (the master, each rendition's, the audio's).
async fn write_objects(
    state: &AppState,
    objects: &[(String, Vec<u8>)],
) -> Result<(), vodnest_core::storage::StorageError> {
    for (key, text) in objects {
        let (content_type, cache) = media_headers(key);
        state
            .storage
            .put_media_bytes(key, text.clone(), content_type, cache)
            .await?;
    }
    Ok(())
}

async fn commit_instant(
    state: &AppState,
    caller: &Caller,
    ip: &ClientIp,
    parent: &VideoRow,
    parent_version: &str,
    new: &NewClip,
    targets: &[String],
) -> Result<VideoRow, ApiError> {
    let mut tx = state.pool.begin().await?;
    let still = videos::get_for_share(&mut *tx, parent.id).await?;
    if still.and_then(|p| p.media_prefix).as_deref() != Some(parent_version) {
        return Err(ApiError::conflict(
            "not_ready",
            "the video changed while the clip was being cut; try again",
        ));
    }
    videos::lock_usage(&mut *tx, caller.user.id).await?;
    check_quota(&mut *tx, &state.config.quotas, caller, 0).await?;
    let row = videos::insert_clip(&mut *tx, new).await?;
    let version = new.media_prefix.as_deref().unwrap_or_default();
    media_refs::add(&mut *tx, row.id, version, targets).await?;
    let poster_at = POSTER_AT_S.min(new.duration_s.unwrap_or(0.0) / 2.0);
    videos::set_poster_time(&mut *tx, row.id, poster_at).await?;
    queue::enqueue(&mut *tx, JobKind::Poster, row.id).await?;
    audited(&mut tx, caller, ip, row.id).await?;
    tx.commit().await?;
    Ok(row)
}

/// A `queued` clip with its `clip` job; it counts against the uploads in flight.
async fn precise(
    state: &AppState,
    caller: &Caller,
    ip: &ClientIp,
    parent: &VideoRow,
    request: &Checked,
) -> Result<VideoRow, ApiError> {
    let mut tx = state.pool.begin().await?;
    videos::lock_usage(&mut *tx, caller.user.id).await?;
    if caller.role != Role::Admin {
        let in_flight = videos::clips_in_flight(&mut *tx, caller.user.id).await?;
        if in_flight >= state.config.quotas.uploads_in_flight {
            return Err(ApiError::forbidden(
                "quota_exceeded",
                format!("you have {in_flight} precise clips being made, the most allowed"),
            ));
        }
    }
    let new = request.clip_of(caller, parent);
    let row = videos::insert_clip(&mut *tx, &new).await?;
    queue::enqueue(&mut *tx, JobKind::Clip, row.id).await?;
    audited(&mut tx, caller, ip, row.id).await?;
    tx.commit().await?;
    Ok(row)
}

async fn audited(
    tx: &mut sqlx::PgConnection,
    caller: &Caller,
    ip: &ClientIp,
    id: Uuid,
) -> Result<(), ApiError> {
    let ip = ip.text();
    let target = id.to_string();
    audit::record(
        &mut *tx,
        Actor::User(&caller.user),
        Action::VideoCreated,
        &target,
        ip.as_deref(),
    )
    .await?;
    Ok(())
}
