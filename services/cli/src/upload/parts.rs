//! Sending parts: presigned URLs fetched lazily in batches, each part read from the file and
//! streamed to S3 in small chunks (so the progress bar moves smoothly and `--limit-rate` can
//! pace it), and retried with backoff when the network or S3 stumbles.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use indicatif::ProgressBar;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, ETAG};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::Mutex;

use super::pace::Pace;
use crate::CliError;
use crate::api::{ApiClient, ApiError};

/// The API hands out at most this many URLs per request.
const URL_BATCH: usize = 100;
/// A URL this close to its expiry is replaced before use.
const URL_MARGIN: time::Duration = time::Duration::minutes(2);
const CHUNK: usize = 256 * 1024;
const ATTEMPTS: u32 = 6;

/// S3's smallest part (every part but the last must be at least this long).
const S3_MIN_PART: u64 = 5 * 1024 * 1024;

/// Where each part of an upload starts: part 1 holds `first_part` bytes, every later part
/// `part_size`. A file of known size is cut evenly. A growing upload's first part is as short
/// as S3 allows, because recorders rewrite their header when they stop and that part goes again
/// just when someone waits for the replay: at 20 Mbit/s, 5 MiB instead of 11 MiB saves 2.5 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub part_size: u64,
    pub first_part: u64,
}

impl Layout {
    pub fn even(part_size: u64) -> Self {
        Self {
            part_size,
            first_part: part_size,
        }
    }

    pub fn growing(part_size: u64) -> Self {
        Self {
            part_size,
            first_part: part_size.min(S3_MIN_PART),
        }
    }

    pub fn offset(&self, n: u32) -> u64 {
        match n {
            0 | 1 => 0,
            n => self.first_part + u64::from(n - 2) * self.part_size,
        }
    }

    /// Part `n`'s length when the file holds all of it.
    pub fn whole_len(&self, n: u32) -> u64 {
        if n == 1 {
            self.first_part
        } else {
            self.part_size
        }
    }

    /// How many whole parts the first `length` bytes hold.
    pub fn whole_parts(&self, length: u64) -> u64 {
        match length.checked_sub(self.first_part) {
            None => 0,
            Some(rest) => 1 + rest / self.part_size.max(1),
        }
    }

    /// How many parts a file of `length` bytes makes, the last one maybe short.
    fn parts(&self, length: u64) -> u64 {
        match length.checked_sub(self.first_part) {
            None => u64::from(length > 0),
            Some(rest) => 1 + rest.div_ceil(self.part_size.max(1)),
        }
    }
}

/// How the file is cut (see [`Layout`]).
#[derive(Debug, Clone, Copy)]
pub struct Cut {
    pub layout: Layout,
    pub part_count: u32,
    pub file_size: u64,
    /// A growing upload: each part's length is named when its URL is asked for.
    pub growing: bool,
}

impl Cut {
    /// The server's plan, if it fits the file.
    pub fn checked(part_size: u64, part_count: u32, file_size: u64) -> Result<Self, CliError> {
        let fits = part_size > 0
            && u64::from(part_count) == file_size.div_ceil(part_size)
            && part_count > 0;
        if fits {
            Ok(Self {
                layout: Layout::even(part_size),
                part_count,
                file_size,
                growing: false,
            })
        } else {
            Err(CliError(format!(
                "the server's plan ({part_count} parts of {part_size} bytes) does not fit a \
                 file of {file_size} bytes"
            )))
        }
    }

    /// A growing upload's cut of the file as long as it is now (`file_size` > 0); its last
    /// part may be short.
    pub fn growing(layout: Layout, file_size: u64) -> Result<Self, CliError> {
        let part_count = u32::try_from(layout.parts(file_size))
            .ok()
            .filter(|&n| layout.part_size > 0 && n > 0 && n <= 10_000)
            .ok_or_else(|| {
                CliError(format!(
                    "a file of {file_size} bytes does not fit 10,000 parts of {} bytes",
                    layout.part_size
                ))
            })?;
        Ok(Self {
            layout,
            part_count,
            file_size,
            growing: true,
        })
    }

    pub fn range(&self, n: u32) -> (u64, u64) {
        let offset = self.layout.offset(n);
        (
            offset,
            self.layout.whole_len(n).min(self.file_size - offset),
        )
    }
}

/// Presigned URLs, asked for in batches of the parts still to send.
struct UrlBook {
    api: ApiClient,
    video_id: String,
    cut: Cut,
    /// The parts this run sends, in order.
    todo: Vec<u32>,
    urls: Mutex<HashMap<u32, (String, OffsetDateTime)>>,
}

impl UrlBook {
    async fn url(&self, n: u32) -> Result<String, ApiError> {
        let mut urls = self.urls.lock().await;
        let fresh = |entry: Option<&(String, OffsetDateTime)>| {
            entry.is_some_and(|(_, expires)| *expires - URL_MARGIN > OffsetDateTime::now_utc())
        };
        if let Some((url, _)) = urls.get(&n).filter(|e| fresh(Some(e))) {
            return Ok(url.clone());
        }
        let start = self.todo.partition_point(|&p| p < n);
        let mut batch = vec![n];
        batch.extend(
            self.todo[start..]
                .iter()
                .copied()
                .filter(|p| *p != n && !fresh(urls.get(p)))
                .take(URL_BATCH - 1),
        );
        let sizes: Option<Vec<u64>> = self
            .cut
            .growing
            .then(|| batch.iter().map(|&p| self.cut.range(p).1).collect());
        let parts = self
            .api
            .part_urls(&self.video_id, &batch, sizes.as_deref())
            .await?;
        for part in parts {
            urls.insert(part.part_number, (part.url, part.expires_at));
        }
        urls.get(&n)
            .map(|(url, _)| url.clone())
            .ok_or_else(|| ApiError::Other(CliError(format!("the API sent no URL for part {n}"))))
    }

    async fn forget(&self, n: u32) {
        self.urls.lock().await.remove(&n);
    }
}

enum PutError {
    /// The URL was refused (expired or otherwise): ask for a new one and try again.
    Refused(String),
    /// Worth another try after a pause.
    Transient(String),
    /// Trying again will not help.
    Fatal(String),
}

pub struct PartSender {
    http: reqwest::Client,
    file: PathBuf,
    cut: Cut,
    book: UrlBook,
    pace: Option<Arc<Pace>>,
    progress: ProgressBar,
}

impl PartSender {
    pub fn new(
        api: &ApiClient,
        video_id: &str,
        file: PathBuf,
        cut: Cut,
        todo: Vec<u32>,
        pace: Option<Arc<Pace>>,
        progress: ProgressBar,
    ) -> Self {
        Self {
            http: api.http().clone(),
            file,
            cut,
            book: UrlBook {
                api: api.clone(),
                video_id: video_id.to_owned(),
                cut,
                todo,
                urls: Mutex::new(HashMap::new()),
            },
            pace,
            progress,
        }
    }

    /// Sends part `n` and returns its ETag, retrying what can be retried.
    pub async fn send(&self, n: u32) -> Result<(u32, String), CliError> {
        let bytes = self.read_part(n).await?;
        self.send_bytes(n, bytes).await
    }

    /// Sends `bytes`, read before as part `n`, and returns its ETag.
    pub async fn send_bytes(&self, n: u32, bytes: Bytes) -> Result<(u32, String), CliError> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let url = self.book.url(n).await?;
            let counted = Arc::new(AtomicU64::new(0));
            let result = self.put(&url, bytes.clone(), counted.clone()).await;
            if result.is_err() {
                // Those bytes will be sent again: take them back off the bar.
                let back = counted.load(Ordering::Relaxed);
                self.progress
                    .set_position(self.progress.position().saturating_sub(back));
            }
            match result {
                Ok(etag) => return Ok((n, etag)),
                Err(PutError::Refused(why)) => {
                    self.book.forget(n).await;
                    last = why;
                }
                Err(PutError::Transient(why)) => last = why,
                Err(PutError::Fatal(why)) => return Err(CliError(format!("part {n}: {why}"))),
            }
            self.progress
                .suspend(|| eprintln!("part {n}: {last}; trying again"));
        }
        Err(CliError(format!(
            "part {n} failed {ATTEMPTS} times; last: {last}"
        )))
    }

    /// Part `n`'s bytes as the file holds them now.
    pub async fn read_part(&self, n: u32) -> Result<Bytes, CliError> {
        let (offset, len) = self.cut.range(n);
        read_range(&self.file, offset, len).await.map_err(|e| {
            CliError(format!(
                "cannot read part {n} of {}: {e}",
                self.file.display()
            ))
        })
    }

    async fn put(
        &self,
        url: &str,
        bytes: Bytes,
        counted: Arc<AtomicU64>,
    ) -> Result<String, PutError> {
        let len = bytes.len();
        let progress = self.progress.clone();
        let pace = self.pace.clone();
        let chunks = futures::stream::iter(
            (0..len)
                .step_by(CHUNK)
                .map(move |at| bytes.slice(at..(at + CHUNK).min(len))),
        )
        .then(move |chunk| {
            let progress = progress.clone();
            let counted = counted.clone();
            let pace = pace.clone();
            async move {
                if let Some(pace) = pace {
                    pace.take(chunk.len()).await;
                }
                progress.inc(chunk.len() as u64);
                counted.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                Ok::<_, std::io::Error>(chunk)
            }
        });
        let response = self
            .http
            .put(url)
            // S3 wants the length up front; a streamed body would otherwise go chunked.
            .header(CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(chunks))
            .timeout(Duration::from_secs(30 * 60))
            .send()
            .await
            .map_err(|e| PutError::Transient(format!("network error: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return response
                .headers()
                .get(ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .ok_or_else(|| {
                    PutError::Fatal("S3 returned no ETag (is ETag exposed by CORS?)".into())
                });
        }
        let body = response.text().await.unwrap_or_default();
        let why = format!("S3 answered {status}{}", s3_code(&body));
        Err(match status {
            StatusCode::FORBIDDEN => PutError::Refused(why),
            s if s.is_server_error()
                || s == StatusCode::REQUEST_TIMEOUT
                || s == StatusCode::TOO_MANY_REQUESTS =>
            {
                PutError::Transient(why)
            }
            _ => PutError::Fatal(why),
        })
    }
}

/// `len` bytes of `file` from `offset`.
pub async fn read_range(file: &Path, offset: u64, len: u64) -> std::io::Result<Bytes> {
    let mut file = tokio::fs::File::open(file).await?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut buf = BytesMut::zeroed(usize::try_from(len).map_err(std::io::Error::other)?);
    file.read_exact(&mut buf).await?;
    Ok(buf.freeze())
}

fn s3_code(body: &str) -> String {
    body.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| format!(" ({code})"))
        .unwrap_or_default()
}

/// 0.5 s, 1 s, 2 s … capped at 15 s, with ±20% jitter so parallel parts do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let base = (0.5 * 2f64.powi(attempt.saturating_sub(1) as i32)).min(15.0);
    Duration::from_secs_f64(base * (0.8 + rand::random::<f64>() * 0.4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_growing_cut_ends_with_a_short_part_and_stays_within_ten_thousand() {
        let even = Layout::even(10);
        let cut = Cut::growing(even, 25).expect("cut");
        assert_eq!(cut.part_count, 3);
        assert_eq!(cut.range(3), (20, 5));
        assert!(Cut::growing(even, 0).is_err());
        assert!(Cut::growing(Layout::even(1), 10_001).is_err());
    }

    #[test]
    fn a_growing_upload_starts_with_the_smallest_part_s3_takes() {
        const MIB: u64 = 1024 * 1024;
        let layout = Layout::growing(11 * MIB);
        assert_eq!(layout.first_part, 5 * MIB);
        let cut = Cut::growing(layout, 5 * MIB + 11 * MIB + 3).expect("cut");
        assert_eq!(cut.part_count, 3);
        assert_eq!(cut.range(1), (0, 5 * MIB));
        assert_eq!(cut.range(2), (5 * MIB, 11 * MIB));
        assert_eq!(cut.range(3), (16 * MIB, 3));
        assert_eq!(
            Cut::growing(layout, 4 * MIB).expect("cut").range(1),
            (0, 4 * MIB)
        );
        assert_eq!(layout.whole_parts(5 * MIB - 1), 0);
        assert_eq!(layout.whole_parts(5 * MIB), 1);
        assert_eq!(layout.whole_parts(16 * MIB), 2);
        // The default 100 GiB still fits in 10,000 parts.
        assert!(Cut::growing(layout, 100 * 1024 * MIB).is_ok());
        // Parts smaller than S3's least are not cut further.
        assert_eq!(Layout::growing(MIB), Layout::even(MIB));
    }
}
