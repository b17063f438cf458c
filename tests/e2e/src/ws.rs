//! Reading a video's websocket: frame by frame, or until it reaches a status.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// An events websocket as the tests open it.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long [`next_frame`] waits: a guard against a hung test, not a performance limit.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The next text frame of `socket`, parsed. Fails if the socket closes or nothing arrives
/// within [`PATIENCE`].
pub async fn next_frame(socket: &mut Socket) -> Result<Value> {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .context("no frame arrived")?
            .context("the socket closed")??;
        if let Message::Text(text) = message {
            return Ok(serde_json::from_str(text.as_str())?);
        }
    }
}

/// The video's state in a frame: the snapshot's video object, or the status frame itself.
pub fn state(frame: &Value) -> &Value {
    if frame["type"] == "snapshot" {
        &frame["video"]
    } else {
        frame
    }
}

/// Every frame received, in order, up to and including the one that showed a status in
/// `until`. Fails if the socket closes first or nothing ends within `deadline` (a guard
/// against a hung test, not a performance limit).
pub async fn follow(url: &str, until: &[&str], deadline: Duration) -> Result<Vec<Value>> {
    follow_until(url, deadline, |frame| {
        state(frame)["status"]
            .as_str()
            .is_some_and(|s| until.contains(&s))
    })
    .await
    .with_context(|| format!("waiting for a status in {until:?}"))
}

/// Every frame received up to and including the first snapshot or status frame `done` accepts.
pub async fn follow_until(
    url: &str,
    deadline: Duration,
    mut done: impl FnMut(&Value) -> bool,
) -> Result<Vec<Value>> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .context("websocket connect")?;
    let mut frames = Vec::new();
    let result = tokio::time::timeout(deadline, async {
        while let Some(message) = socket.next().await {
            let text = match message? {
                Message::Text(text) => text,
                Message::Close(_) => break,
                _ => continue,
            };
            let frame: Value = serde_json::from_str(text.as_str())?;
            let relevant = matches!(frame["type"].as_str(), Some("snapshot" | "status"));
            let finished = relevant && done(&frame);
            frames.push(frame);
            if finished {
                return Ok(());
            }
        }
        bail!("the websocket closed first")
    })
    .await;
    match result {
        Ok(Ok(())) => Ok(frames),
        Ok(Err(err)) => Err(err.context(format!("frames so far: {frames:?}"))),
        Err(_) => bail!("nothing matched within {deadline:?}; frames: {frames:?}"),
    }
}
