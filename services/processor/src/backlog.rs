//! Holding ffmpeg back while its output outruns the uploads: a copy writes far faster than
//! storage takes it, and the disk must hold a few segments, not the whole video.
//!
//! The output is measured each time ffmpeg closes or renames a file in a rendition directory
//! ([`FileCloses`], inotify), so ffmpeg stops within a segment of the limit however fast it
//! writes. Polling let a copy running at hundreds of megabytes a second write 17 segments
//! (40 MB) between two looks 50 ms apart. Without inotify (its limits reached), the output is
//! polled. The same events tell the publisher when a video's first segments are closed.

use std::convert::Infallible;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use inotify::{EventMask, EventStream, Inotify, WatchMask};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;

/// ffmpeg is paused while the output it wrote and we did not upload yet exceeds this: a few
/// segments.
pub const MAX_BACKLOG_BYTES: u64 = 16 << 20;
/// How often the output is measured when inotify is not available.
const POLL_EVERY: Duration = Duration::from_millis(50);
/// Room for a few events at a time, each at most 16 bytes and a file name.
const EVENT_BUFFER_BYTES: usize = 4096;

/// Sets `pause` whenever the bytes under `out_dir` exceed [`MAX_BACKLOG_BYTES`]; whoever
/// uploads the backlog clears it. Measures on each change of `closes` (see [`FileCloses`]), or
/// every 50 ms without it. Runs until dropped.
pub async fn hold_back(
    out_dir: &Path,
    mut closes: Option<watch::Receiver<u64>>,
    pause: &watch::Sender<bool>,
) -> Infallible {
    loop {
        if !next_close(&mut closes).await {
            tokio::time::sleep(POLL_EVERY).await;
        }
        if !*pause.borrow() && local_bytes(out_dir).await > MAX_BACKLOG_BYTES {
            pause.send_replace(true);
        }
    }
}

/// Bytes under `dir` (ffmpeg's output not uploaded yet); unreadable entries count as nothing.
pub async fn local_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(mut entries) = tokio::fs::read_dir(&current).await else {
            continue;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            match entry.metadata().await {
                Ok(meta) if meta.is_dir() => stack.push(entry.path()),
                Ok(meta) => total += meta.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// Waits for the next change of `closes` (a [`FileCloses::subscribe`] count). Returns `false`
/// at once when there is none to wait for: no inotify, or its reader has stopped (`closes`
/// then becomes `None`); the caller falls back to a timer.
pub async fn next_close(closes: &mut Option<watch::Receiver<u64>>) -> bool {
    let Some(count) = closes else {
        return false;
    };
    if count.changed().await.is_ok() {
        return true;
    }
    tracing::warn!("inotify stopped; the output is polled instead");
    *closes = None;
    false
}

/// Counts the files ffmpeg closes after writing or renames into the watched directories
/// (segments and playlists: ffmpeg writes them as temporary files it renames). A task reads
/// inotify's event stream and bumps the count; it ends, and the count's receivers see the
/// channel close, when this is dropped, when every watched directory is gone, or when reading
/// fails.
pub struct FileCloses {
    count: watch::Receiver<u64>,
    reader: JoinHandle<()>,
}

impl FileCloses {
    /// Watches `dirs`, which must exist. Needs a Tokio runtime.
    pub fn watch(dirs: &[PathBuf]) -> io::Result<Self> {
        let inotify = Inotify::init()?;
        for dir in dirs {
            inotify
                .watches()
                .add(dir, WatchMask::CLOSE_WRITE | WatchMask::MOVED_TO)?;
        }
        let events = inotify.into_event_stream([0u8; EVENT_BUFFER_BYTES])?;
        let (counter, count) = watch::channel(0u64);
        let reader = tokio::spawn(count_closes(events, counter, dirs.len()));
        Ok(Self { count, reader })
    }

    /// Changes each time files were closed; `changed()` fails once no more will be seen.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.count.clone()
    }
}

impl Drop for FileCloses {
    fn drop(&mut self) {
        // Dropping the stream closes inotify, and the counter with it.
        self.reader.abort();
    }
}

/// Bumps `counter` on each event until the `live` watches are all gone (`IGNORED`: their
/// directory was deleted) or reading fails.
async fn count_closes(
    mut events: EventStream<[u8; EVENT_BUFFER_BYTES]>,
    counter: watch::Sender<u64>,
    mut live: usize,
) {
    while live > 0 {
        match events.next().await {
            Some(Ok(event)) => {
                if event.mask.contains(EventMask::IGNORED) {
                    live -= 1;
                }
                counter.send_modify(|n| *n += 1);
            }
            Some(Err(err)) => {
                tracing::warn!(error = %err, "cannot read inotify events");
                return;
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn seen(count: &mut watch::Receiver<u64>) -> Result<(), tokio::time::error::Elapsed> {
        tokio::time::timeout(Duration::from_secs(5), count.changed())
            .await
            .map(|changed| changed.expect("inotify is read"))
    }

    #[tokio::test]
    async fn a_closed_or_renamed_file_is_an_event() {
        let dir = tempfile::tempdir().expect("temp dir");
        let closes = FileCloses::watch(&[dir.path().to_path_buf()]).expect("inotify");
        let mut count = closes.subscribe();
        tokio::fs::write(dir.path().join("seg.m4s.tmp"), b"x")
            .await
            .expect("write");
        seen(&mut count).await.expect("a close is seen");
        // A watch that starts after the file was written sees the rename alone.
        let closes = FileCloses::watch(&[dir.path().to_path_buf()]).expect("inotify");
        let mut count = closes.subscribe();
        tokio::fs::rename(dir.path().join("seg.m4s.tmp"), dir.path().join("seg.m4s"))
            .await
            .expect("rename");
        seen(&mut count).await.expect("a rename is seen");
    }

    #[tokio::test]
    async fn dropping_the_watch_ends_its_events() {
        let dir = tempfile::tempdir().expect("temp dir");
        let closes = FileCloses::watch(&[dir.path().to_path_buf()]).expect("inotify");
        let mut count = closes.subscribe();
        drop(closes);
        // The reader task ends with it: the count's channel closes.
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            while count.changed().await.is_ok() {}
        });
        ended.await.expect("the reader ends");
    }

    #[tokio::test]
    async fn pauses_as_soon_as_a_closed_file_takes_the_output_past_the_limit() {
        let out = tempfile::tempdir().expect("temp dir");
        let dir = out.path().join("720p");
        std::fs::create_dir(&dir).expect("mkdir");
        let (pause, mut paused) = watch::channel(false);
        let closes = FileCloses::watch(std::slice::from_ref(&dir)).expect("inotify");
        let watching = hold_back(out.path(), Some(closes.subscribe()), &pause);
        let writing = async {
            // Under the limit: no pause.
            tokio::fs::write(dir.join("a.m4s"), vec![0u8; 8 << 20])
                .await
                .expect("write");
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(!*paused.borrow(), "paused under the limit");
            // Over it, written as ffmpeg does (a temporary file renamed).
            tokio::fs::write(dir.join("b.m4s.tmp"), vec![0u8; 9 << 20])
                .await
                .expect("write");
            tokio::fs::rename(dir.join("b.m4s.tmp"), dir.join("b.m4s"))
                .await
                .expect("rename");
            tokio::time::timeout(Duration::from_secs(5), paused.wait_for(|p| *p))
                .await
                .expect("paused once past the limit")
                .expect("the pause channel is open");
        };
        tokio::select! {
            () = writing => {}
            never = watching => match never {},
        }
    }
}
