//! `GET /api/v1/videos/{id}/events`: a websocket that sends a snapshot of the video, then a
//! status frame on every change (an `encoding` frame instead when only the renditions being
//! made or their progress changed), and a fresh snapshot after any gap in the notifications.
//! `GET /api/v1/public/videos/{id}/events` is the same stream for anyone watching a public or
//! unlisted video, as the public routes show it ([`super::public`]).
//!
//! The public socket takes no token and reads no cookie, so a page of another site that opens
//! it acts with no one's authority and learns only what `GET /api/v1/public/videos/{id}` tells
//! anyone: its `Origin` is not checked. What it costs is bounded instead: each client address
//! may hold `PUBLIC_SOCKETS_PER_IP` of them open at once.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde::Serialize;
use uuid::Uuid;
use vodnest_core::caller::Scope;
use vodnest_core::domain::{VideoRow, VideoStatus, VideoView};
use vodnest_core::encoding_progress::Encoding;
use vodnest_core::events::VideoEvent;
use vodnest_core::videos;

use super::VideoId;
use super::public::{find_watchable, is_watchable, public_view};
use super::videos::{find, view};
use crate::auth::{SocketAuthenticated, require};
use crate::client_ip::ClientIp;
use crate::error::{ApiError, ErrorBody};
use crate::openapi::{CrossOrigin, InsufficientScope, Internal, NoSuchVideo, Unauthorized};
use crate::socket_limit::SocketPermit;
use crate::state::AppState;

/// Who a socket streams to: its owner (or an admin), or anyone watching a public or unlisted
/// video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    Owner,
    Public,
}

const PING_EVERY: Duration = Duration::from_secs(20);

/// A text frame of the websocket: `snapshot` first (and after any gap), `status` on each
/// change, `encoding` when the renditions being made or their progress change (`null` once
/// none are), `deleted` last when the video is deleted.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schema(as = EventFrame)]
pub enum Frame<'a> {
    Snapshot {
        video: &'a VideoView,
    },
    Status(&'a VideoEvent),
    Encoding {
        id: Uuid,
        encoding: Option<&'a Encoding>,
    },
    Deleted {
        id: Uuid,
    },
}

/// What a socket last told its client, so that a notification sends only what changed in it:
/// the processor rewrites a video's encoding progress every second or so, and those writes
/// should not repeat an unchanged status each time.
#[derive(Debug)]
struct Told {
    /// The state of the last snapshot or notification (the encoding as the client knows it).
    last: VideoEvent,
}

/// What a status frame shows of a notification.
fn status_of(event: &VideoEvent) -> (VideoStatus, f64, bool, Option<&str>, Option<&str>) {
    let text = Option::as_deref;
    let (stage, error) = (text(&event.stage), text(&event.error));
    (event.status, event.progress, event.playable, stage, error)
}

/// The frames one notification calls for.
#[derive(Debug, PartialEq)]
struct Changes {
    status: bool,
    encoding: bool,
}

impl Told {
    /// What a snapshot of `row` told (in the notification's terms, whoever the audience).
    fn snapshot(row: &VideoRow) -> Self {
        Self {
            last: VideoEvent {
                id: row.id,
                status: row.status,
                progress: row.progress,
                playable: row.playable,
                stage: row.stage.clone(),
                error: row.error.clone(),
                deleted: false,
                encoding: row.encoding.as_ref().map(|encoding| encoding.0.clone()),
            },
        }
    }

    /// A status frame for every notification but those that only changed the encoding (other
    /// changes, such as an edited title, keep sending one as they always did).
    fn changes(&mut self, event: &VideoEvent) -> Changes {
        let last = &self.last;
        let encoding = event.encoding != last.encoding;
        let same_status = status_of(last) == status_of(event);
        self.last = event.clone();
        Changes {
            status: !(encoding && same_status),
            encoding,
        }
    }
}

const SOCKET_BUFFER: usize = 4 * 1024;
const MAX_CLIENT_MESSAGE: usize = 16 * 1024;

/// Auth and the video's existence are checked before the upgrade, so a client gets a plain
/// 401 or 404 rather than a socket that closes at once.
#[utoipa::path(
    get,
    path = "/videos/{id}/events",
    tag = "events",
    summary = "A websocket of the video's status",
    description = "Open as a websocket (`Upgrade: websocket`); browsers pass the token as \
                   `?token=`. The server sends JSON text frames, each an `EventFrame`: a \
                   `snapshot` of the video first (and again after any gap), a `status` frame \
                   on every change, an `encoding` frame when the renditions being made or \
                   their progress change (`encoding: null` once none are), and a `deleted` \
                   frame before closing if the video is deleted. Clients ignore frame types \
                   they do not know. It pings every 20 s; clients send nothing but pongs.",
    security(("bearer" = []), ("query_token" = []), ("session_cookie" = [])),
    params(VideoId),
    responses(
        (status = 101, description = "Switching to the websocket protocol; the frames follow", body = Frame),
        (status = 400, description = "Not a websocket request (`websocket_required`)", body = ErrorBody),
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        NoSuchVideo,
        Internal,
    )
)]
pub async fn subscribe(
    State(state): State<AppState>,
    SocketAuthenticated(caller): SocketAuthenticated,
    VideoId(id): VideoId,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    require(&caller, Scope::VideosRead)?;
    find(&state.pool, &caller, id).await?;
    let permit = state.sockets.try_owner(&caller)?;
    upgrade_to_stream(upgrade, state, id, Audience::Owner, permit)
}

/// The public twin of [`subscribe`]: anyone may follow a public or unlisted video.
#[utoipa::path(
    get,
    path = "/public/videos/{id}/events",
    tag = "public",
    summary = "A websocket of a public or unlisted video's status (no token)",
    description = "Open as a websocket (`Upgrade: websocket`). The same frames as \
                   `/api/v1/videos/{id}/events`, with the video as \
                   `GET /api/v1/public/videos/{id}` shows it. Any page may open it; each \
                   client address may hold a bounded number open at once.",
    security(()),
    params(VideoId),
    responses(
        (status = 101, description = "Switching to the websocket protocol; the frames follow", body = Frame),
        (status = 400, description = "Not a websocket request (`websocket_required`)", body = ErrorBody),
        (status = 404, description = "No such video, or a private one (`not_found`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn subscribe_public(
    State(state): State<AppState>,
    ip: ClientIp,
    VideoId(id): VideoId,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    find_watchable(&state.pool, id).await?;
    // Without a peer address (a router called directly) only the total counts it.
    let permit = state.sockets.try_public(ip.0)?;
    upgrade_to_stream(upgrade, state, id, Audience::Public, permit)
}

/// Upgrades once the caller and the video checked out; `permit` lives as long as the socket.
fn upgrade_to_stream(
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    state: AppState,
    id: Uuid,
    audience: Audience,
    permit: SocketPermit,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|e| {
        ApiError::bad_request(
            "websocket_required",
            format!("open this URL as a websocket: {e}"),
        )
    })?;
    // Frames are small status messages and clients only send pings, so small buffers do: the
    // defaults (128 KiB each way) would cost 256 MiB for a thousand viewers.
    Ok(upgrade
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| async move {
            stream(socket, state, id, audience).await;
            drop(permit);
        }))
}

async fn stream(mut socket: WebSocket, state: AppState, id: Uuid, audience: Audience) {
    // Subscribe before reading the snapshot so that no change falls in between.
    let mut subscription = state.hub.subscribe(id);
    let mut resyncs_seen = subscription.receiver.borrow_and_update().resyncs;
    let Some(mut told) = send_snapshot(&mut socket, &state, id, audience).await else {
        return;
    };
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    loop {
        tokio::select! {
            changed = subscription.receiver.changed() => {
                if changed.is_err() {
                    break;
                }
                let seen = subscription.receiver.borrow_and_update().clone();
                let sent = if seen.resyncs != resyncs_seen {
                    resyncs_seen = seen.resyncs;
                    match send_snapshot(&mut socket, &state, id, audience).await {
                        Some(now) => {
                            told = now;
                            true
                        }
                        None => false,
                    }
                } else if let Some(event) = &seen.event {
                    if event.deleted {
                        send_deleted(&mut socket, id).await;
                        break;
                    }
                    send_changes(&mut socket, &mut told, event, audience).await
                } else {
                    true
                };
                if !sent {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                // Pongs and client pings (answered by axum) need nothing from us.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// The frames `event` calls for; false when the socket is gone.
async fn send_changes(
    socket: &mut WebSocket,
    told: &mut Told,
    event: &VideoEvent,
    audience: Audience,
) -> bool {
    let changes = told.changes(event);
    if changes.status {
        let sent = match audience {
            Audience::Owner => send(socket, &Frame::Status(event)).await,
            Audience::Public => send(socket, &Frame::Status(&public_event(event))).await,
        };
        if !sent {
            return false;
        }
    }
    if changes.encoding {
        let encoding = event.encoding.as_ref();
        return send(
            socket,
            &Frame::Encoding {
                id: event.id,
                encoding,
            },
        )
        .await;
    }
    true
}

/// A status frame as public viewers see it: the error in the words of [`public_view`].
fn public_event(event: &VideoEvent) -> VideoEvent {
    let mut event = event.clone();
    if let Some(error) = &mut event.error {
        error.clear();
        error.push_str(super::public::FAILED);
    }
    event
}

/// Sends the current state and returns what the client now knows; `None` when the socket is
/// gone or the video was deleted. A video made private while public viewers follow it is, for
/// them, deleted.
async fn send_snapshot(
    socket: &mut WebSocket,
    state: &AppState,
    id: Uuid,
    audience: Audience,
) -> Option<Told> {
    let found = videos::get(&state.pool, id)
        .await
        .map(|row| row.filter(|row| audience == Audience::Owner || is_watchable(row)));
    match found {
        Ok(Some(row)) => {
            let told = Told::snapshot(&row);
            let video = match audience {
                Audience::Owner => view(state, row),
                Audience::Public => public_view(state, row),
            };
            let sent = send(socket, &Frame::Snapshot { video: &video }).await;
            sent.then_some(told)
        }
        Ok(None) => {
            send_deleted(socket, id).await;
            None
        }
        Err(err) => {
            tracing::warn!(video_id = %id, error = %err, "websocket snapshot");
            None
        }
    }
}

/// The last frame of a deleted video's socket.
async fn send_deleted(socket: &mut WebSocket, id: Uuid) {
    send(socket, &Frame::Deleted { id }).await;
    let _ = socket.send(Message::Close(None)).await;
}

async fn send(socket: &mut WebSocket, frame: &Frame<'_>) -> bool {
    match serde_json::to_string(frame) {
        Ok(text) => socket
            .send(Message::Text(Utf8Bytes::from(text)))
            .await
            .is_ok(),
        Err(err) => {
            tracing::error!(error = %err, "websocket frame serialisation");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(status: VideoStatus, encoding: Option<f64>) -> VideoEvent {
        VideoEvent {
            id: Uuid::nil(),
            status,
            progress: 1.0,
            playable: true,
            stage: None,
            error: None,
            deleted: false,
            encoding: encoding.map(|progress| Encoding {
                renditions: vec!["480p".into()],
                progress,
                eta_s: None,
            }),
        }
    }

    fn changes(status: bool, encoding: bool) -> Changes {
        Changes { status, encoding }
    }

    #[test]
    fn a_change_of_the_encoding_alone_sends_only_an_encoding_frame() {
        use VideoStatus::{Processing, Ready};
        let mut told = Told {
            last: event(Ready, None),
        };
        // A notification that repeats the snapshot sends its status, as before.
        assert_eq!(told.changes(&event(Ready, None)), changes(true, false));
        assert_eq!(told.changes(&event(Ready, Some(0.1))), changes(false, true));
        assert_eq!(told.changes(&event(Ready, Some(0.2))), changes(false, true));
        // Something else changed (a title, say): a status frame, as before.
        assert_eq!(told.changes(&event(Ready, Some(0.2))), changes(true, false));
        assert_eq!(told.changes(&event(Ready, None)), changes(false, true));
        // Both at once (a transcode that ends): both frames.
        told.changes(&event(Processing, Some(0.9)));
        assert_eq!(told.changes(&event(Ready, None)), changes(true, true));
    }
}
