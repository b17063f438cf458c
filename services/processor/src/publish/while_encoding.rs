//! The publishing passes while ffmpeg runs: until the video is playable, a pass starts on each
//! file ffmpeg closes (or every 200 ms without inotify), then every second; and ffmpeg is held
//! (paused) whenever its output outruns the uploads, until a pass has caught up.

use std::path::Path;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vodnest_core::videos;

use super::{PublishError, Published, Publisher};
use crate::backlog;

const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// Until the video is playable, its first segments are looked for this often.
const PUBLISH_FIRST_EVERY: Duration = Duration::from_millis(200);

/// Runs `encoding` (the ffmpeg run, paused while `pause` is set) while publishing what it has
/// closed so far, and holds it whenever its output outruns the uploads.
pub async fn publish_while_encoding<T, E: From<PublishError>>(
    pool: &PgPool,
    id: Uuid,
    publisher: &mut Publisher<'_>,
    out_dir: &Path,
    encoding: impl Future<Output = Result<T, E>>,
    pause: &watch::Sender<bool>,
) -> Result<T, E> {
    // ffmpeg would make them; made (and watched) before it starts, no closed file is missed.
    let rendition_dirs = publisher.rendition_dirs();
    for dir in &rendition_dirs {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|err| E::from(PublishError::from(err)))?;
    }
    let closes = backlog::FileCloses::watch(&rendition_dirs)
        .inspect_err(|err| tracing::warn!(error = %err, "no inotify; polling the output instead"))
        .ok();
    let subscribe = || closes.as_ref().map(backlog::FileCloses::subscribe);
    let finished = CancellationToken::new();
    let encode = async {
        let result = encoding.await;
        finished.cancel();
        result
    };
    let passes = passes(pool, id, publisher, pause, subscribe(), &finished);
    let watching = backlog::hold_back(out_dir, subscribe(), pause);
    let publishing = async {
        tokio::select! {
            done = passes => done.map_err(E::from),
            never = watching => match never {},
        }
    };
    let (done, ()) = tokio::try_join!(encode, publishing)?;
    Ok(done)
}

/// Publishing passes until `finished` fires. A pass starts at once when ffmpeg is paused (it
/// waits for that pass), and lets it go on once everything it closed is uploaded.
async fn passes(
    pool: &PgPool,
    id: Uuid,
    publisher: &mut Publisher<'_>,
    pause: &watch::Sender<bool>,
    mut first_segments: Option<watch::Receiver<u64>>,
    finished: &CancellationToken,
) -> Result<(), PublishError> {
    let mut paused = pause.subscribe();
    let mut playable = false;
    loop {
        if !*pause.borrow() {
            let wait = if playable {
                PUBLISH_EVERY
            } else {
                PUBLISH_FIRST_EVERY
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                // Until playable, every file ffmpeg closes may be a first segment.
                _ = backlog::next_close(&mut first_segments),
                    if !playable && first_segments.is_some() => {}
                _ = paused.wait_for(|paused| *paused) => {}
                _ = finished.cancelled() => return Ok(()),
            }
        }
        playable |= publish(pool, id, publisher, false).await?;
        // Everything ffmpeg closed is uploaded: it may go on.
        pause.send_replace(false);
    }
}

/// One publishing pass; the pass that puts the master playlist up marks the video playable.
/// Returns whether the video is playable.
pub async fn publish(
    pool: &PgPool,
    id: Uuid,
    publisher: &mut Publisher<'_>,
    last: bool,
) -> Result<bool, PublishError> {
    Ok(match publisher.pass(last).await? {
        Published::BecamePlayable => {
            videos::mark_playable(pool, id, publisher.prefix()).await?;
            tracing::info!("playable");
            true
        }
        Published::Playable => true,
        Published::NotYet => false,
    })
}
