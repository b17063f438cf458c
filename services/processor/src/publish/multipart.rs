//! A media object written as a stream of bytes through an S3 multipart upload, with bounded
//! memory: the part being filled and at most one part on the wire. The upload is completed by
//! [`MultipartWriter::finish`]; dropped before that (a failure, a cancel, a lost lease: the
//! job's future is dropped) it is aborted, so S3 keeps no orphaned parts.

use tokio::task::JoinHandle;
use vodnest_core::storage::{ObjectHeaders, Storage, StorageError};

/// S3 refuses parts under 5 MiB (but the last); larger parts mean fewer requests.
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// S3's limit on the parts of one upload.
const MAX_PARTS: i32 = 10_000;

type PartUpload = JoinHandle<Result<(i32, String), StorageError>>;

pub struct MultipartWriter {
    storage: Storage,
    key: String,
    upload_id: String,
    part_bytes: usize,
    buffer: Vec<u8>,
    in_flight: Option<PartUpload>,
    parts: Vec<(i32, String)>,
    /// Bytes handed to S3 (parts sent), and in all.
    sent: u64,
    written: u64,
    completed: bool,
}

impl MultipartWriter {
    pub async fn start(
        storage: &Storage,
        key: &str,
        headers: &ObjectHeaders<'_>,
        part_bytes: usize,
    ) -> Result<Self, StorageError> {
        let upload_id = storage.create_media_upload(key, headers).await?;
        Ok(Self {
            storage: storage.clone(),
            key: key.to_owned(),
            upload_id,
            part_bytes: part_bytes.max(5 * 1024 * 1024),
            buffer: Vec::with_capacity(part_bytes),
            in_flight: None,
            parts: Vec::new(),
            sent: 0,
            written: 0,
            completed: false,
        })
    }

    /// Bytes written so far (the offset of the next byte in the object).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Bytes S3 has been sent (whole parts).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Appends bytes; sends a part each time one is full (waiting for the one before).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.written += bytes.len() as u64;
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = self.part_bytes - self.buffer.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.buffer.extend_from_slice(now);
            rest = later;
            if self.buffer.len() == self.part_bytes {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    /// Sends the buffer as the next part once the part before it is done.
    async fn send_part(&mut self) -> Result<(), StorageError> {
        self.wait_in_flight().await?;
        let number = i32::try_from(self.parts.len() + 1).unwrap_or(i32::MAX);
        if number > MAX_PARTS {
            return Err(StorageError::Request(format!(
                "the object needs more than {MAX_PARTS} parts"
            )));
        }
        let part = std::mem::replace(&mut self.buffer, Vec::with_capacity(self.part_bytes));
        self.sent += part.len() as u64;
        let (storage, key, upload_id) = (
            self.storage.clone(),
            self.key.clone(),
            self.upload_id.clone(),
        );
        self.in_flight = Some(tokio::spawn(async move {
            let etag = storage
                .upload_media_part(&key, &upload_id, number, part)
                .await?;
            Ok((number, etag))
        }));
        Ok(())
    }

    async fn wait_in_flight(&mut self) -> Result<(), StorageError> {
        if let Some(upload) = self.in_flight.take() {
            let part = upload
                .await
                .map_err(|e| StorageError::Request(format!("part upload task: {e}")))??;
            self.parts.push(part);
        }
        Ok(())
    }

    /// Sends what is left as the last part and completes the object; its size.
    pub async fn finish(mut self) -> Result<u64, StorageError> {
        if !self.buffer.is_empty() || self.parts.is_empty() && self.in_flight.is_none() {
            self.send_part().await?;
        }
        self.wait_in_flight().await?;
        self.storage
            .complete_media_upload(&self.key, &self.upload_id, &self.parts)
            .await?;
        self.completed = true;
        Ok(self.written)
    }
}

impl Drop for MultipartWriter {
    fn drop(&mut self) {
        if self.completed {
            return;
        }
        if let Some(upload) = self.in_flight.take() {
            upload.abort();
        }
        let (storage, key, upload_id) = (
            self.storage.clone(),
            self.key.clone(),
            self.upload_id.clone(),
        );
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            match storage.abort_media_upload(&key, &upload_id).await {
                Ok(()) => tracing::info!(key, "multipart upload aborted"),
                Err(err) => tracing::warn!(key, error = %err, "cannot abort the multipart upload"),
            }
        });
    }
}
