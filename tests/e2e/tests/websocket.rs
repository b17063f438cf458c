//! The events websocket: refused before the upgrade without a token or for an unknown video,
//! a snapshot first, a status frame per change, and a fresh snapshot after the API's LISTEN
//! connection is killed (notifications sent meanwhile are lost); a deleted video's socket gets
//! a `deleted` frame and closes at once.

use anyhow::{Context, Result, bail, ensure};
use futures::StreamExt;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use vodnest_e2e::ws::{PATIENCE, Socket, next_frame};
use vodnest_e2e::{TestApp, TestDatabase, TestSettings};

async fn app_without_processor() -> Result<TestApp> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    TestApp::spawn_with(db, settings).await
}

async fn set_progress(app: &TestApp, id: &str, progress: f64) -> Result<()> {
    sqlx::query("update videos set status = 'processing', stage = 'transcoding', progress = $2 where id = $1::uuid")
        .bind(id)
        .bind(progress)
        .execute(&app.pool)
        .await?;
    Ok(())
}

fn handshake_status(err: WsError) -> Result<u16> {
    match err {
        WsError::Http(response) => Ok(response.status().as_u16()),
        other => bail!("expected an HTTP refusal, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_before_the_upgrade() -> Result<()> {
    let app = app_without_processor().await?;
    let created = app.create_video("ws", "a.mp4", 100).await?;
    let id = created["video"]["id"].as_str().context("id")?;
    let without_token = app
        .events_url(id)
        .replace(&format!("?token={}", app.token), "");
    let err = tokio_tungstenite::connect_async(&without_token)
        .await
        .err()
        .context("connected without a token")?;
    ensure!(handshake_status(err)? == 401);
    let unknown = app.events_url(&uuid::Uuid::new_v4().to_string());
    let err = tokio_tungstenite::connect_async(&unknown)
        .await
        .err()
        .context("connected to an unknown video")?;
    ensure!(handshake_status(err)? == 404);
    app.stop().await
}

/// A new video and a socket on it, past its first frame (a snapshot of the new video).
async fn new_video_followed(app: &TestApp) -> Result<(String, Socket)> {
    let created = app.create_video("ws", "a.mp4", 100).await?;
    let id = created["video"]["id"].as_str().context("id")?.to_owned();
    let (mut socket, _) = tokio_tungstenite::connect_async(app.events_url(&id)).await?;
    let first = next_frame(&mut socket).await?;
    ensure!(first["type"] == "snapshot", "{first}");
    ensure!(first["video"]["status"] == "awaiting_upload", "{first}");
    Ok((id, socket))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_status_frames_then_a_snapshot_after_a_lost_listener() -> Result<()> {
    let app = app_without_processor().await?;
    let (id, mut socket) = new_video_followed(&app).await?;

    set_progress(&app, &id, 0.25).await?;
    // The INSERT's own notification may reach the API after the snapshot was sent: a status
    // frame that repeats the snapshot. Anything else before the update is wrong.
    let mut status = next_frame(&mut socket).await?;
    while status["type"] == "status" && status["status"] == "awaiting_upload" {
        status = next_frame(&mut socket).await?;
    }
    ensure!(status["type"] == "status", "{status}");
    ensure!(
        status["id"] == id.as_str() && status["progress"] == 0.25,
        "{status}"
    );
    ensure!(
        status["stage"] == "transcoding" && status["status"] == "processing",
        "{status}"
    );

    // Kill the API's LISTEN connection; a change made while it reconnects would be lost, so
    // the API must send a fresh snapshot once it listens again.
    let killed: Vec<(bool,)> = sqlx::query_as(
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where datname = current_database() and query ilike 'listen%'",
    )
    .fetch_all(&app.pool)
    .await?;
    ensure!(
        killed.len() == 1,
        "one LISTEN connection per API process, found {}",
        killed.len()
    );
    set_progress(&app, &id, 0.5).await?;
    // The change may land before or after the listener is back: either the snapshot shows it,
    // or a status frame follows the snapshot.
    let (mut resynced, mut current) = (false, false);
    while !(resynced && current) {
        let frame = next_frame(&mut socket).await?;
        match frame["type"].as_str() {
            Some("snapshot") => {
                resynced = true;
                current = frame["video"]["progress"] == 0.5;
            }
            Some("status") => current = resynced && frame["progress"] == 0.5,
            _ => bail!("unexpected frame {frame}"),
        }
    }

    // And the stream goes on after the reconnection.
    set_progress(&app, &id, 0.75).await?;
    let after = loop {
        let frame = next_frame(&mut socket).await?;
        if frame["type"] == "status" && frame["progress"] == 0.75 {
            break frame;
        }
    };
    ensure!(after["status"] == "processing", "{after}");
    app.stop().await
}

/// Deleting a video NOTIFYs its subscribers like any other change: the socket gets a `deleted`
/// frame and is closed, without waiting for a snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_video_ends_its_socket_with_a_deleted_frame() -> Result<()> {
    let app = app_without_processor().await?;
    let (id, mut socket) = new_video_followed(&app).await?;
    let deleted = app.delete(&format!("/api/v1/videos/{id}")).send().await?;
    ensure!(deleted.status() == 204, "{}", deleted.status());
    // The INSERT's own notification may still arrive first, as a status frame.
    let mut frame = next_frame(&mut socket).await?;
    while frame["type"] == "status" && frame["status"] == "awaiting_upload" {
        frame = next_frame(&mut socket).await?;
    }
    ensure!(
        frame["type"] == "deleted" && frame["id"] == id.as_str(),
        "{frame}"
    );
    let closed = tokio::time::timeout(PATIENCE, socket.next())
        .await
        .context("the socket stayed open")?;
    ensure!(
        matches!(closed, None | Some(Ok(Message::Close(_))) | Some(Err(_))),
        "{closed:?}"
    );
    app.stop().await
}
