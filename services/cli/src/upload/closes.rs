//! When a followed file's writer is done: inotify's `CLOSE_WRITE` for that file. The parent
//! directory is watched (not the file), so the watch exists before the file does and survives
//! a recorder that creates it after `--follow` started. [`names_in`] is the one place an
//! inotify watch on a folder is set up (`vodnest watch` uses it for new files).

use std::ffi::OsString;
use std::path::Path;

use futures::StreamExt;
use futures::stream::BoxStream;
use inotify::{Inotify, WatchMask};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Room for a few events at a time, each at most 16 bytes and a file name.
const EVENT_BUFFER_BYTES: usize = 4096;

/// The names of the entries of `dir` that `events` happen to, as they happen. The stream
/// ends when inotify fails (a queue overflow drops events but does not end it). An error when
/// inotify is not available here.
pub fn names_in(dir: &Path, events: WatchMask) -> std::io::Result<BoxStream<'static, OsString>> {
    let inotify = Inotify::init()?;
    inotify.watches().add(dir, events)?;
    let stream = inotify.into_event_stream([0u8; EVENT_BUFFER_BYTES])?;
    Ok(stream
        .take_while(|event| std::future::ready(event.is_ok()))
        .filter_map(|event| std::future::ready(event.ok().and_then(|e| e.name)))
        .boxed())
}

/// "The writer is done", told from outside the file system (OBS said its recording stopped):
/// the same effect on a follower as a close seen by inotify. It is a state, not an event: a
/// follower that looks after it was told (still waiting for its file, say) sees it too.
#[derive(Clone, Default)]
pub struct ToldDone(Option<watch::Receiver<bool>>);

impl ToldDone {
    /// A signal that is never told (`upload --follow`).
    pub fn never() -> Self {
        Self::default()
    }

    /// A signal, and the sender that tells it (`send_replace(true)`).
    pub fn channel() -> (watch::Sender<bool>, Self) {
        let (tell, told) = watch::channel(false);
        (tell, Self(Some(told)))
    }

    /// Returns once told; never when it cannot be told any more.
    pub async fn wait(&mut self) {
        if let Some(told) = &mut self.0
            && told.wait_for(|done| *done).await.is_ok()
        {
            return;
        }
        self.0 = None;
        std::future::pending().await
    }
}

/// Counts the times a writer closed the file. Dropping it stops the watch.
pub struct WriterCloses {
    count: watch::Receiver<u64>,
    reader: JoinHandle<()>,
}

impl WriterCloses {
    /// Watches `file`'s directory for closes of `file`; `None` (with a warning) when inotify
    /// is not available, and the caller relies on its quiet period.
    pub fn watch(file: &Path) -> Option<Self> {
        let dir = match file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let name = file.file_name()?.to_owned();
        match names_in(dir, WatchMask::CLOSE_WRITE) {
            Ok(names) => {
                let (counter, count) = watch::channel(0u64);
                let reader = tokio::spawn(count_closes(names, name, counter));
                Some(Self { count, reader })
            }
            Err(err) => {
                eprintln!(
                    "cannot watch {} for the writer's close ({err}); the file counts as finished once it stops growing for the quiet period",
                    dir.display()
                );
                None
            }
        }
    }

    /// Waits for the next close; `false` once no more can be seen.
    pub async fn next(&mut self) -> bool {
        self.count.changed().await.is_ok()
    }
}

impl Drop for WriterCloses {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn count_closes(
    mut names: BoxStream<'static, OsString>,
    name: OsString,
    counter: watch::Sender<u64>,
) {
    while let Some(closed) = names.next().await {
        if closed == name {
            counter.send_modify(|n| *n += 1);
        }
    }
}
