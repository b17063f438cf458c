//! When a followed file's writer is done: inotify's `CLOSE_WRITE` for that file. The parent
//! directory is watched (not the file), so the watch exists before the file does and survives
//! a recorder that creates it after `--follow` started.

use std::ffi::OsString;
use std::path::Path;

use futures::StreamExt;
use inotify::{EventStream, Inotify, WatchMask};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Room for a few events at a time, each at most 16 bytes and a file name.
const EVENT_BUFFER_BYTES: usize = 4096;

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
        let started = (|| {
            let inotify = Inotify::init()?;
            inotify.watches().add(dir, WatchMask::CLOSE_WRITE)?;
            inotify.into_event_stream([0u8; EVENT_BUFFER_BYTES])
        })();
        match started {
            Ok(events) => {
                let (counter, count) = watch::channel(0u64);
                let reader = tokio::spawn(count_closes(events, name, counter));
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
    mut events: EventStream<[u8; EVENT_BUFFER_BYTES]>,
    name: OsString,
    counter: watch::Sender<u64>,
) {
    while let Some(Ok(event)) = events.next().await {
        if event.name.as_deref() == Some(name.as_os_str()) {
            counter.send_modify(|n| *n += 1);
        }
    }
}
