//! The pages anyone may see: the library of public videos (and, signed in, one's own), a
//! creator's public videos, the watch page and the embed player. A private video is a 404 page
//! for everyone but its owner and admins, exactly as a missing one.
//!
//! The embed player reads no session at all: other sites may frame it, and a frame of another
//! site gets no Lax cookie anyway, so it shows public and unlisted videos only. With no
//! ambient authority in it, framing it lets no other site act for the viewer.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vodnest_core::caller::Caller;
use vodnest_core::domain::{VideoRow, VideoView};
use vodnest_core::{users, videos};

use super::PageError;
use crate::auth::page_caller;
use crate::error::Query;
use crate::routes::{self, checked_cursor, is_watchable, paged, public_view};
use crate::state::AppState;

/// Public videos per page.
const PAGE: i64 = 24;
/// Own videos shown above the public ones (the API lists them all, page by page).
const OWN_SHOWN: i64 = 100;
/// Longest description shown in link previews.
const SUMMARY_CHARS: usize = 200;
const NO_SUCH_VIDEO: &str = "There is no such video.";

/// The signed-in caller of a page, if any; a page for viewers needs none.
pub struct Viewer(pub Option<Caller>);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match page_caller(parts, state).await {
            Ok(caller) => Ok(Self(caller)),
            Err(err) => Err(PageError::from(err).into_response()),
        }
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    cursor: Option<String>,
}

/// A page of public videos (of `owner` when given) matching the query, and the link to the
/// next page under `path`.
struct PublicPage {
    videos: Vec<VideoView>,
    next_url: Option<String>,
    q: Option<String>,
}

async fn public_page(
    state: &AppState,
    path: &str,
    owner: Option<&str>,
    query: &ListQuery,
) -> Result<PublicPage, PageError> {
    let q = routes::checked_search(query.q.as_deref())
        .map_err(|_| PageError::BadRequest("That search is too long."))?;
    let before = checked_cursor(query.cursor.as_deref())
        .map_err(|_| PageError::BadRequest("That page link is not valid."))?;
    let rows = videos::list_public(&state.pool, owner, q.as_deref(), PAGE + 1, before).await?;
    let (rows, next_cursor) = paged(rows, PAGE);
    let next_url = next_cursor.map(|cursor| {
        let search = q
            .as_deref()
            .map(|q| format!("q={}&", encode(q)))
            .unwrap_or_default();
        format!("{path}?{search}cursor={}", encode(&cursor))
    });
    Ok(PublicPage {
        videos: rows.into_iter().map(|r| public_view(state, r)).collect(),
        next_url,
        q,
    })
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// `/`: public videos for anyone; above them, on the first page, the caller's own (every
/// video, for an admin).
pub async fn home(
    State(state): State<AppState>,
    Viewer(caller): Viewer,
    Query(query): Query<ListQuery>,
) -> Result<Html<String>, PageError> {
    let public = public_page(&state, "/", None, &query).await?;
    let first_page = query.cursor.is_none() && public.q.is_none();
    let own_videos = match &caller {
        Some(caller) if first_page => {
            let rows = videos::list(&state.pool, caller.owner_filter(), OWN_SHOWN, None).await?;
            Some(
                rows.into_iter()
                    .map(|r| routes::view(&state, r))
                    .collect::<Vec<_>>(),
            )
        }
        _ => None,
    };
    state.site.render(
        "library.html",
        context! {
            own_videos,
            public_videos => public.videos,
            next_url => public.next_url,
            q => public.q,
            signed_in => caller.is_some(),
            sees_all => caller.as_ref().is_some_and(Caller::sees_all),
        },
    )
}

/// `/u/{username}`: a creator's public videos; 404 for a name no one has.
pub async fn creator(
    State(state): State<AppState>,
    Viewer(caller): Viewer,
    Path(username): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Html<String>, PageError> {
    let user = users::by_username(&state.pool, &username)
        .await?
        .ok_or(PageError::NotFound("There is no such user."))?;
    let path = format!("/u/{}", encode(&user.username));
    let public = public_page(&state, &path, Some(&user.username), &query).await?;
    state.site.render(
        "creator.html",
        context! {
            creator => user.username,
            videos => public.videos,
            next_url => public.next_url,
            q => public.q,
            signed_in => caller.is_some(),
        },
    )
}

#[derive(Deserialize)]
pub struct WatchQuery {
    v: Option<String>,
}

/// What the page's script needs to know about who is watching.
#[derive(Serialize)]
struct ViewerInfo {
    /// The owner or an admin: the script uses the authenticated routes, others the public ones.
    owner: bool,
}

/// `/watch?v=`: anyone may watch a public or unlisted video; a private one exists only for its
/// owner and admins.
pub async fn watch(
    State(state): State<AppState>,
    Viewer(caller): Viewer,
    Query(query): Query<WatchQuery>,
) -> Result<Html<String>, PageError> {
    let id: Uuid = query
        .v
        .as_deref()
        .and_then(|v| v.parse().ok())
        .ok_or(PageError::NotFound(NO_SUCH_VIDEO))?;
    let row = videos::get(&state.pool, id)
        .await?
        .ok_or(PageError::NotFound(NO_SUCH_VIDEO))?;
    let owner = caller.as_ref().is_some_and(|c| c.may_see(row.owner_id));
    if !owner && !is_watchable(&row) {
        return Err(PageError::NotFound(NO_SUCH_VIDEO));
    }
    let parent = clip_parent(&state, caller.as_ref(), &row).await?;
    let video = if owner {
        routes::view(&state, row)
    } else {
        public_view(&state, row)
    };
    let share = Share::of(&state, &video);
    state.site.render(
        "watch.html",
        context! {
            video,
            share,
            viewer => ViewerInfo { owner },
            signed_in => caller.is_some(),
            parent,
        },
    )
}

/// What a clip's page says of its parent: its title and link when the viewer may see it
/// (their own, or public or unlisted); `None` for a video that is no clip. A parent the viewer
/// may not see (or one deleted since) is named without a title or a link.
#[derive(Serialize)]
struct ClipParent {
    id: Option<Uuid>,
    title: Option<String>,
}

async fn clip_parent(
    state: &AppState,
    caller: Option<&Caller>,
    row: &VideoRow,
) -> Result<Option<ClipParent>, PageError> {
    let Some(parent_id) = row.source_video_id else {
        return Ok(None);
    };
    let parent = videos::get(&state.pool, parent_id).await?.filter(|parent| {
        caller.is_some_and(|c| c.may_see(parent.owner_id)) || is_watchable(parent)
    });
    Ok(Some(ClipParent {
        id: parent.as_ref().map(|p| p.id),
        title: parent.map(|p| p.title),
    }))
}

/// `/embed/{id}`: the bare player of a public or unlisted video, for iframes.
pub async fn embed(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let row: VideoRow = match id.parse::<Uuid>() {
        Ok(id) => videos::get(&state.pool, id).await?,
        Err(_) => None,
    }
    .filter(is_watchable)
    .ok_or(PageError::NotFound(NO_SUCH_VIDEO))?;
    let video = public_view(&state, row);
    let share = Share::of(&state, &video);
    state.site.render(
        "embed.html",
        context! { video, share, viewer => ViewerInfo { owner: false } },
    )
}

/// A video's links on the site's public origin, and what link previews show.
#[derive(Serialize)]
struct Share {
    watch_url: String,
    embed_url: String,
    /// The `<iframe>` snippet to paste in another site.
    embed_code: String,
    /// The description in one line, shortened, or a sentence naming the creator.
    summary: String,
    /// The length as `h:mm:ss` or `m:ss`.
    duration: Option<String>,
}

impl Share {
    fn of(state: &AppState, video: &VideoView) -> Self {
        let origin = state.own_origin.primary();
        let watch_url = format!("{origin}/watch?v={}", video.id);
        let embed_url = format!("{origin}/embed/{}", video.id);
        // Attribute values are escaped by the template; the snippet is shown as text.
        let embed_code = format!(
            "<iframe src=\"{embed_url}\" width=\"640\" height=\"360\" \
             allow=\"autoplay; fullscreen; picture-in-picture\" allowfullscreen \
             style=\"border:0\"></iframe>"
        );
        Self {
            watch_url,
            embed_url,
            embed_code,
            summary: summary(&video.description, &video.owner.username),
            duration: video.duration_s.map(clock),
        }
    }
}

fn summary(description: &str, owner: &str) -> String {
    let words: Vec<&str> = description.split_whitespace().collect();
    if words.is_empty() {
        return format!("A video by {owner} on vodnest.");
    }
    let line = words.join(" ");
    if line.chars().count() <= SUMMARY_CHARS {
        return line;
    }
    let cut: String = line.chars().take(SUMMARY_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// `1:02:05`, `3:07`: whole seconds, as `static/time.js` writes them.
fn clock(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::{clock, summary};

    #[test]
    fn lengths_read_like_clocks() {
        assert_eq!(clock(0.2), "0:00");
        assert_eq!(clock(187.4), "3:07");
        assert_eq!(clock(3725.0), "1:02:05");
        assert_eq!(clock(-3.0), "0:00");
    }

    #[test]
    fn summaries_are_one_short_line() {
        assert_eq!(summary("", "ana"), "A video by ana on vodnest.");
        assert_eq!(
            summary("  Boss\nfight \t today ", "ana"),
            "Boss fight today"
        );
        let long = summary(&"word ".repeat(100), "ana");
        assert!(long.ends_with('…') && long.chars().count() <= 200, "{long}");
    }
}
