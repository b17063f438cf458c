//! `vodnest upload --follow FILE`: the upload of a file still being written (a recording).
//!
//! The upload is a growing one (the API sizes its parts from `MAX_UPLOAD_BYTES`): each whole
//! part goes up as soon as the file holds its bytes, while the file grows. The writer is done
//! when it closes the file ([`WriterCloses`]), when someone who knows says so ([`ToldDone`]:
//! `vodnest watch --obs` when OBS reports its recording stopped) or, when neither can be seen,
//! once the file has not grown for `--quiet-period`. Recorders rewrite bytes they wrote before
//! when they stop (Matroska's sizes and cues, MP4's moov), so before completing every part
//! sent is read again and sent again if its bytes changed (S3 keeps the last body of a part
//! number); then the tail goes, and the object equals the final file byte for byte. A file
//! that shrinks below what was sent, or is replaced, ends the upload with an error and nothing
//! completed.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use reqwest::{Method, StatusCode};
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

use super::closes::{ToldDone, WriterCloses};
use super::pace::Pace;
use super::parts::{Cut, Layout, PartSender};
use super::resume::{self, ResumeBook};
use super::{AfterStop, UploadArgs, Uploaded, create_video, progress_bar};
use crate::CliError;
use crate::api::{ApiClient, ApiError};

/// How often the file's length is looked at while it grows.
const POLL: Duration = Duration::from_millis(250);

/// What went up as part `n`: the fingerprint of its bytes, their length and S3's ETag.
struct Sent {
    fingerprint: String,
    size: u64,
    etag: String,
}

/// One followed upload.
struct Follower<'a> {
    api: &'a ApiClient,
    args: &'a UploadArgs,
    book: ResumeBook,
    video_id: String,
    layout: Layout,
    /// The file's device and inode: another file at the same path is not this recording.
    identity: (u64, u64),
    sent: BTreeMap<u32, Sent>,
    pace: Option<Arc<Pace>>,
    progress: ProgressBar,
    parts_sent: usize,
    /// Bytes sent, re-sent parts included (the bar stops at the file's length).
    bytes_sent: u64,
}

pub(super) async fn upload(
    api: &ApiClient,
    args: &UploadArgs,
    json_out: bool,
    mut told: ToldDone,
) -> Result<(String, Uploaded), CliError> {
    // Watch before the first look, so that a close right after it is not missed.
    let mut closes = WriterCloses::watch(&args.file);
    let quiet = Duration::from_secs(args.quiet_period);
    let identity = wait_for_file(&args.file, quiet).await?;
    let mut follower = Follower::start(api, args, identity, json_out).await?;
    let parts_resumed = follower.sent.len();
    let began = Instant::now();

    let mut length = None;
    let mut grew_at = Instant::now();
    let mut closed = false;
    loop {
        let now = follower.length().await?;
        if length != Some(now) {
            length = Some(now);
            grew_at = Instant::now();
            follower.progress.set_length(now);
        }
        // Once the writer is done, what is left goes in `finish`: these parts, then, all went
        // up while the file was still being written.
        if closed || grew_at.elapsed() >= quiet {
            break;
        }
        follower.send_whole_parts(now).await?;
        tokio::select! {
            seen = next_close(&mut closes) => closed = seen,
            () = told.wait() => closed = true,
            _ = tokio::time::sleep(POLL) => {}
        }
    }
    let parts_sent_while_growing = follower.parts_sent;
    let finishing = Instant::now();
    let (parts, parts_resent) = follower.finish().await?;
    let completing = Instant::now();
    let video = api.complete(&follower.video_id, &parts).await?;
    let after_stop = Some(AfterStop {
        finish_seconds: (completing - finishing).as_secs_f64(),
        complete_seconds: completing.elapsed().as_secs_f64(),
    });
    follower.progress.finish();
    follower.book.forget();
    let uploaded = Uploaded {
        video,
        parts_sent: follower.parts_sent,
        parts_resumed,
        parts_resent,
        parts_sent_while_growing,
        bytes_sent: follower.bytes_sent,
        seconds: began.elapsed().as_secs_f64(),
        after_stop,
    };
    Ok((follower.video_id, uploaded))
}

/// Waits for the next close of the file by its writer; never returns when closes cannot be
/// seen (any more), so the quiet period decides.
async fn next_close(closes: &mut Option<WriterCloses>) -> bool {
    if let Some(watch) = closes
        && watch.next().await
    {
        return true;
    }
    *closes = None;
    std::future::pending().await
}

/// The recorder may not have created the file yet when `--follow` starts: waits up to the quiet
/// period for it, and answers its identity.
async fn wait_for_file(path: &Path, quiet: Duration) -> Result<(u64, u64), CliError> {
    let since = Instant::now();
    loop {
        match tokio::fs::metadata(path).await {
            Ok(meta) if meta.is_file() => return Ok((meta.dev(), meta.ino())),
            Ok(_) => return Err(CliError(format!("{} is not a file", path.display()))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && since.elapsed() < quiet => {
                tokio::time::sleep(POLL).await;
            }
            Err(err) => return Err(CliError(format!("cannot read {}: {err}", path.display()))),
        }
    }
}

impl<'a> Follower<'a> {
    /// Goes on with the upload an earlier run began on this path, or starts a growing one.
    async fn start(
        api: &'a ApiClient,
        args: &'a UploadArgs,
        identity: (u64, u64),
        json_out: bool,
    ) -> Result<Self, CliError> {
        let dir = args.state_dir.clone().unwrap_or_else(resume::default_dir);
        let book = ResumeBook::open_growing(&dir, api.base(), &args.file)?;
        let (video_id, part_size, sent) = match resumed(api, &book).await? {
            Some(found) => found,
            None => {
                let created = create_video(api, args, None).await?;
                book.forget();
                // Remember the video before sending a byte, so an interrupted run can resume.
                book.save(&created.video.id)?;
                (created.video.id, created.upload.part_size, BTreeMap::new())
            }
        };
        if !json_out {
            eprintln!("following {} as video {video_id}", args.file.display());
        }
        Ok(Self {
            api,
            args,
            book,
            video_id,
            layout: Layout::growing(part_size),
            identity,
            sent,
            pace: args.limit_rate.map(|rate| Arc::new(Pace::new(rate))),
            progress: progress_bar(0, 0, json_out),
            parts_sent: 0,
            bytes_sent: 0,
        })
    }

    /// The file's length now. When it is gone, replaced, or shorter than what was already
    /// sent (truncated), the recording is not what went up: the upload is aborted.
    async fn length(&self) -> Result<u64, CliError> {
        let meta = match tokio::fs::metadata(&self.args.file).await {
            Ok(meta) => meta,
            Err(e) => return Err(self.abandon(&format!("it went away ({e})")).await),
        };
        if (meta.dev(), meta.ino()) != self.identity {
            return Err(self.abandon("another file replaced it").await);
        }
        let sent_up_to = self
            .sent
            .iter()
            .next_back()
            .map_or(0, |(&n, sent)| self.layout.offset(n) + sent.size);
        if meta.len() < sent_up_to {
            let why = format!(
                "it was truncated to {} bytes, after {sent_up_to} had been sent",
                meta.len()
            );
            return Err(self.abandon(&why).await);
        }
        Ok(meta.len())
    }

    /// Sends the whole parts the file holds now that were not sent yet.
    async fn send_whole_parts(&mut self, length: u64) -> Result<(), CliError> {
        let whole = u32::try_from(self.layout.whole_parts(length)).unwrap_or(u32::MAX);
        let todo: Vec<u32> = (1..=whole).filter(|n| !self.sent.contains_key(n)).collect();
        self.send(todo, length).await
    }

    /// Sends `parts` of the file as it is `length` bytes long, noting what went.
    async fn send(&mut self, parts: Vec<u32>, length: u64) -> Result<(), CliError> {
        if parts.is_empty() {
            return Ok(());
        }
        let cut = Cut::growing(self.layout, length)?;
        let sender = PartSender::new(
            self.api,
            &self.video_id,
            self.args.file.clone(),
            cut,
            parts.clone(),
            self.pace.clone(),
            self.progress.clone(),
        );
        let sender = &sender;
        let mut results = futures::stream::iter(parts)
            .map(|n| async move {
                let bytes = sender.read_part(n).await?;
                let fingerprint = format!("{:032x}", xxh3_128(&bytes));
                let size = bytes.len() as u64;
                let (n, etag) = sender.send_bytes(n, bytes).await?;
                Ok::<_, CliError>((
                    n,
                    Sent {
                        fingerprint,
                        size,
                        etag,
                    },
                ))
            })
            .buffer_unordered(usize::from(self.args.parallel));
        while let Some(result) = results.next().await {
            let (n, sent) = result?;
            self.book.record_part(n, &sent.etag, &sent.fingerprint)?;
            self.parts_sent += 1;
            self.bytes_sent += sent.size;
            self.sent.insert(n, sent);
        }
        Ok(())
    }

    /// The writer is done: sends again each part whose bytes changed since it went, then the
    /// rest (the tail); answers every part's ETag for the complete, and how many went again.
    async fn finish(&mut self) -> Result<(Vec<(u32, String)>, usize), CliError> {
        let length = self.length().await?;
        if length == 0 {
            return Err(self.abandon("its writer closed it empty").await);
        }
        let cut = Cut::growing(self.layout, length)?;
        let mut changed = self.changed_parts(&cut).await?;
        let missing = (1..=cut.part_count).filter(|n| !self.sent.contains_key(n));
        let resent = changed.len();
        changed.extend(missing);
        changed.sort_unstable();
        self.send(changed, length).await?;
        // The file must still be what was read: not truncated or replaced meanwhile.
        if self.length().await? != length {
            return Err(self
                .abandon("it changed again after its writer was done")
                .await);
        }
        let parts = (1..=cut.part_count)
            .map(|n| {
                let etag = self
                    .sent
                    .get(&n)
                    .map(|s| s.etag.clone())
                    .unwrap_or_default();
                (n, etag)
            })
            .collect();
        Ok((parts, resent))
    }

    /// The parts sent (of the `cut.part_count` the file now makes) whose bytes are not what
    /// went: read and hashed again on blocking threads, as many at once as there are CPUs.
    /// This is the one step after the writer stops whose work grows with the recording, so it
    /// runs at the speed of the page cache and XXH3 on every core.
    async fn changed_parts(&self, cut: &Cut) -> Result<Vec<u32>, CliError> {
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        let checks = self
            .sent
            .iter()
            .filter(|(n, _)| **n <= cut.part_count)
            .map(|(&n, sent)| {
                let (offset, len) = cut.range(n);
                let path = self.args.file.clone();
                let expected = sent.fingerprint.clone();
                let whole = len == cut.layout.whole_len(n);
                async move {
                    if !whole {
                        return Ok(Some(n));
                    }
                    let now = tokio::task::spawn_blocking(move || {
                        fingerprint_of_range(&path, offset, len)
                    })
                    .await
                    .map_err(|e| CliError(format!("hashing part {n}: {e}")))?
                    .map_err(|e| {
                        CliError(format!("cannot read {}: {e}", self.args.file.display()))
                    })?;
                    Ok::<_, CliError>((now != expected).then_some(n))
                }
            });
        futures::stream::iter(checks)
            .buffer_unordered(parallel)
            .try_filter_map(|n| async move { Ok(n) })
            .try_collect()
            .await
    }

    /// Aborts the upload (the video fails) and forgets it; the error to return.
    async fn abandon(&self, why: &str) -> CliError {
        let path = format!("/videos/{}/upload", self.video_id);
        if let Err(err) = self.api.call(Method::DELETE, &path, None).await {
            eprintln!("cannot abort the upload: {}", CliError::from(err));
        }
        self.book.forget();
        CliError(format!(
            "{} changed while it was followed: {why}; the upload was aborted, nothing was completed",
            self.args.file.display()
        ))
    }
}

/// The growing upload an earlier run began on this path, if it can go on: its video, part size
/// and the parts S3 holds that are what this client noted sending (others go again).
async fn resumed(
    api: &ApiClient,
    book: &ResumeBook,
) -> Result<Option<(String, u64, BTreeMap<u32, Sent>)>, CliError> {
    let Some(video_id) = book.load() else {
        return Ok(None);
    };
    let state = match api.upload_state(&video_id).await {
        Ok(state) if state.growing => state,
        Ok(_) => return Ok(None),
        Err(ApiError::Refused(r))
            if r.status == StatusCode::NOT_FOUND || r.status == StatusCode::CONFLICT =>
        {
            eprintln!(
                "the earlier upload of this file cannot go on ({}); starting a new one",
                r.message
            );
            return Ok(None);
        }
        Err(err) => return Err(err.into()),
    };
    let mut noted = book.recorded_parts();
    let layout = Layout::growing(state.part_size);
    let sent: BTreeMap<u32, Sent> = state
        .parts_done
        .into_iter()
        .filter(|p| p.size == layout.whole_len(p.part_number))
        .filter_map(|p| {
            let (fingerprint, etag) = noted.remove(&p.part_number)?;
            let sent = Sent {
                fingerprint,
                size: p.size,
                etag,
            };
            (sent.etag == p.etag).then_some((p.part_number, sent))
        })
        .collect();
    eprintln!(
        "resuming video {video_id}: {} parts already uploaded",
        sent.len()
    );
    Ok(Some((video_id, state.part_size, sent)))
}

/// The fingerprint of `len` bytes of `path` from `offset`, read 1 MiB at a time: XXH3-128 (hex).
/// It tells whether a part's bytes changed since they went, nothing more (S3 checks what it
/// receives by its own ETag), so a fast non-cryptographic hash does: the re-check after the
/// writer stops reads the whole recording, and SHA-256 was most of its time.
fn fingerprint_of_range(path: &Path, offset: u64, len: u64) -> std::io::Result<String> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path)?;
    let mut hasher = Xxh3::new();
    let mut buf = vec![0; 1 << 20];
    let mut done = 0;
    while done < len {
        let want = usize::try_from((len - done).min(buf.len() as u64)).unwrap_or(buf.len());
        file.read_exact_at(&mut buf[..want], offset + done)?;
        hasher.update(&buf[..want]);
        done += want as u64;
    }
    Ok(format!("{:032x}", hasher.digest128()))
}
