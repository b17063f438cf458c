//! Following a video's websocket until it reaches a status.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// Every frame received, in order, up to and including the one that showed a status in
/// `until`. Fails if the socket closes first or nothing ends within `deadline` (a guard
/// against a hung test, not a performance limit).
pub async fn follow(url: &str, until: &[&str], deadline: Duration) -> Result<Vec<Value>> {
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
            let status = match frame["type"].as_str() {
                Some("snapshot") => frame["video"]["status"].as_str().map(str::to_owned),
                Some("status") => frame["status"].as_str().map(str::to_owned),
                _ => None,
            };
            frames.push(frame);
            if status.is_some_and(|s| until.contains(&s.as_str())) {
                return Ok(());
            }
        }
        bail!("the websocket closed before reaching {until:?}")
    })
    .await;
    match result {
        Ok(Ok(())) => Ok(frames),
        Ok(Err(err)) => Err(err.context(format!("frames so far: {frames:?}"))),
        Err(_) => bail!("no status in {until:?} within {deadline:?}; frames: {frames:?}"),
    }
}
