//! S3: the client built from the environment, the object layout and the operations the
//! services need. Raw uploads live at `s3://$RAW_BUCKET/raw/{id}`, HLS output under
//! `s3://$MEDIA_BUCKET/videos/{id}/`.

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{BehaviorVersion, RequestChecksumCalculation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::StorageConfig;
use crate::domain::Visibility;

pub fn raw_key(id: Uuid) -> String {
    format!("raw/{id}")
}

/// Everything made from a video lives below this prefix.
pub fn media_prefix(id: Uuid) -> String {
    format!("videos/{id}/")
}

/// The master playlist's name in a version.
pub const MASTER_PLAYLIST: &str = "master.m3u8";

/// The poster the processing writes into a version; a chosen or uploaded one has a name of
/// its own (`poster-{n}.jpg`, `videos.poster_name`).
pub const DEFAULT_POSTER: &str = "poster.jpg";

pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";

/// Content-Type and Cache-Control of a media object, by its name.
pub fn media_headers(name: &str) -> (&'static str, &'static str) {
    const IMMUTABLE: &str = "public, max-age=31536000, immutable";
    const PLAYLIST: &str = "public, max-age=60";
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("m3u8") => (PLAYLIST_TYPE, PLAYLIST),
        Some("m4s") => ("video/iso.segment", IMMUTABLE),
        Some("mp4") => ("video/mp4", IMMUTABLE),
        Some("ts") => ("video/mp2t", IMMUTABLE),
        Some("jpg") => ("image/jpeg", IMMUTABLE),
        Some("png") => ("image/png", IMMUTABLE),
        Some("vtt") => ("text/vtt", PLAYLIST),
        _ => ("application/octet-stream", IMMUTABLE),
    }
}

/// Which of a video's objects a CDN may serve without a signature. The class is part of the
/// key (`videos/{id}/public/…`, `videos/{id}/signed/…`) because CloudFront and bucket policies
/// tell objects apart by path pattern only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaClass {
    Public,
    Signed,
}

impl MediaClass {
    pub fn of(visibility: Visibility) -> Self {
        match visibility {
            Visibility::Public => Self::Public,
            Visibility::Unlisted | Visibility::Private => Self::Signed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Signed => "signed",
        }
    }

    /// The class a version prefix was published in; `None` for the layout before versions.
    pub fn of_prefix(prefix: &str) -> Option<Self> {
        let mut parts = prefix.trim_end_matches('/').split('/').skip(2);
        match (parts.next(), parts.next(), parts.next()) {
            (Some("public"), Some(_), None) => Some(Self::Public),
            (Some("signed"), Some(_), None) => Some(Self::Signed),
            _ => None,
        }
    }
}

/// The prefix of a video's `n`th processing run: `videos/{id}/{class}/{n}/`.
pub fn version_prefix(id: Uuid, class: MediaClass, n: i32) -> String {
    format!("{}{}/{n}/", media_prefix(id), class.as_str())
}

/// The public URL of the object `name` below `prefix` (a version prefix).
pub fn media_url(media_base_url: &str, prefix: &str, name: &str) -> String {
    format!("{}/{prefix}{name}", media_base_url.trim_end_matches('/'))
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("S3 {operation} failed: {code}: {message}")]
    Service {
        operation: &'static str,
        code: String,
        message: String,
        status: Option<u16>,
    },
    #[error("S3 {operation} failed: {detail}")]
    Transport {
        operation: &'static str,
        detail: String,
    },
    #[error("cannot build the S3 request: {0}")]
    Request(String),
    #[error("local file: {0}")]
    Io(#[from] std::io::Error),
}

impl StorageError {
    /// The S3 error code (`NoSuchUpload`, `InvalidPart`, ...), when S3 answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Worth retrying: the network, throttling or a 5xx, not a refusal of the request itself.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Service { status, code, .. } => {
                status.is_some_and(|s| s >= 500) || code == "SlowDown" || code == "RequestTimeout"
            }
            Self::Request(_) => false,
            Self::Io(_) => false,
        }
    }
}

fn sdk_error<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |err| {
        let kind = match &err {
            SdkError::ServiceError(_) => "service",
            _ => "transport",
        };
        metrics::counter!("vodnest_s3_errors_total", "operation" => operation, "kind" => kind)
            .increment(1);
        storage_error(operation, err)
    }
}

fn storage_error<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(service) => StorageError::Service {
            operation,
            code: err.code().unwrap_or("Unknown").to_owned(),
            message: err.message().unwrap_or("no message").to_owned(),
            status: Some(service.raw().status().as_u16()),
        },
        _ => StorageError::Transport {
            operation,
            detail: DisplayErrorContext(&err).to_string(),
        },
    }
}

/// The headers an object is stored with (and served with).
#[derive(Debug, Clone, Copy)]
pub struct ObjectHeaders<'a> {
    pub content_type: &'a str,
    pub cache_control: &'a str,
    pub content_disposition: Option<&'a str>,
}

/// The upload id a CreateMultipartUpload answered.
fn upload_id_of<E>(
    answer: Result<
        aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput,
        SdkError<E, HttpResponse>,
    >,
) -> Result<String, StorageError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let out = answer.map_err(sdk_error("CreateMultipartUpload"))?;
    out.upload_id.ok_or_else(|| StorageError::Service {
        operation: "CreateMultipartUpload",
        code: "MissingUploadId".into(),
        message: "S3 returned no upload id".into(),
        status: None,
    })
}

/// A part that S3 already holds for a multipart upload.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct UploadedPart {
    pub part_number: i32,
    pub etag: String,
    pub size: i64,
}

#[derive(Debug, Clone)]
pub struct PresignedPart {
    pub part_number: i32,
    pub url: String,
    pub expires_at: OffsetDateTime,
}

#[derive(Clone, Debug)]
pub struct Storage {
    client: Client,
    raw_bucket: String,
    media_bucket: String,
    media_base_url: String,
}

impl Storage {
    /// Builds the client as the AWS SDK reads the environment (`AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, credentials). With an endpoint URL (LocalStack) addressing is
    /// path-style, since virtual-host bucket names do not resolve there.
    pub async fn from_env(config: &StorageConfig) -> Self {
        let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
        let path_style = sdk.endpoint_url().is_some();
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(path_style)
            // Presigned part URLs must not demand checksum headers that a browser will not send.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build();
        Self::new(Client::from_conf(s3), config)
    }

    pub fn new(client: Client, config: &StorageConfig) -> Self {
        Self {
            client,
            raw_bucket: config.raw_bucket.clone(),
            media_bucket: config.media_bucket.clone(),
            media_base_url: config.media_base_url.trim_end_matches('/').to_owned(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn raw_bucket(&self) -> &str {
        &self.raw_bucket
    }

    pub fn media_bucket(&self) -> &str {
        &self.media_bucket
    }

    pub fn media_base_url(&self) -> &str {
        &self.media_base_url
    }

    /// Readiness: both buckets answer.
    pub async fn check(&self) -> Result<(), StorageError> {
        for bucket in [&self.raw_bucket, &self.media_bucket] {
            self.client
                .head_bucket()
                .bucket(bucket)
                .send()
                .await
                .map_err(sdk_error("HeadBucket"))?;
        }
        Ok(())
    }

    pub async fn create_multipart_upload(
        &self,
        id: Uuid,
        content_type: &str,
    ) -> Result<String, StorageError> {
        let request = self
            .client
            .create_multipart_upload()
            .bucket(&self.raw_bucket)
            .key(raw_key(id))
            .content_type(content_type);
        upload_id_of(request.send().await)
    }

    /// Starts a multipart upload of a media object written by the services themselves (an MP4
    /// download), with its headers.
    pub async fn create_media_upload(
        &self,
        key: &str,
        headers: &ObjectHeaders<'_>,
    ) -> Result<String, StorageError> {
        let request = self
            .client
            .create_multipart_upload()
            .bucket(&self.media_bucket)
            .key(key)
            .content_type(headers.content_type)
            .cache_control(headers.cache_control)
            .set_content_disposition(headers.content_disposition.map(str::to_owned));
        upload_id_of(request.send().await)
    }

    /// Uploads one part of a media object's multipart upload; its ETag.
    pub async fn upload_media_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        bytes: Vec<u8>,
    ) -> Result<String, StorageError> {
        let out = self
            .client
            .upload_part()
            .bucket(&self.media_bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(sdk_error("UploadPart"))?;
        out.e_tag.ok_or_else(|| StorageError::Service {
            operation: "UploadPart",
            code: "MissingETag".into(),
            message: "S3 returned no ETag".into(),
            status: None,
        })
    }

    /// Completes a media object's multipart upload.
    pub async fn complete_media_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<(), StorageError> {
        self.complete_upload(&self.media_bucket, key, upload_id, parts)
            .await
    }

    /// Aborts a media object's multipart upload: S3 drops the parts it holds.
    pub async fn abort_media_upload(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        self.abort_upload(&self.media_bucket, key, upload_id).await
    }

    /// A URL that lets its holder PUT exactly this part of this upload until it expires.
    pub async fn presign_upload_part(
        &self,
        id: Uuid,
        upload_id: &str,
        part_number: i32,
        content_length: i64,
        expires_in: Duration,
    ) -> Result<PresignedPart, StorageError> {
        let presigning = PresigningConfig::expires_in(expires_in)
            .map_err(|e| StorageError::Request(e.to_string()))?;
        // Content-Length is a signed header: S3 refuses a PUT of any other length.
        let request = self
            .client
            .upload_part()
            .bucket(&self.raw_bucket)
            .key(raw_key(id))
            .upload_id(upload_id)
            .part_number(part_number)
            .content_length(content_length)
            .presigned(presigning)
            .await
            .map_err(sdk_error("UploadPart (presign)"))?;
        Ok(PresignedPart {
            part_number,
            url: request.uri().to_owned(),
            expires_at: OffsetDateTime::now_utc() + expires_in,
        })
    }

    /// A presigned GET of the raw file, for ffmpeg to read with range requests. SigV4 caps
    /// the lifetime at seven days.
    pub async fn presign_raw_get(
        &self,
        id: Uuid,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        let expires_in = expires_in.min(Duration::from_secs(7 * 24 * 3600));
        let presigning = PresigningConfig::expires_in(expires_in)
            .map_err(|e| StorageError::Request(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.raw_bucket)
            .key(raw_key(id))
            .presigned(presigning)
            .await
            .map_err(sdk_error("GetObject (presign)"))?;
        Ok(request.uri().to_owned())
    }

    /// A GET of a media object that works until `expires_at` (at most seven days away, as
    /// SigV4 allows), signed as of `signed_at` so that every URL of one signing window is the
    /// same.
    pub async fn presign_media_get(
        &self,
        key: &str,
        signed_at: std::time::SystemTime,
        expires_at: OffsetDateTime,
    ) -> Result<String, StorageError> {
        let lifetime = expires_at - OffsetDateTime::from(signed_at);
        let lifetime = Duration::try_from(lifetime)
            .map_err(|_| StorageError::Request("the URL would expire before it is signed".into()))?
            .min(Duration::from_secs(7 * 24 * 3600));
        let presigning = PresigningConfig::builder()
            .start_time(signed_at)
            .expires_in(lifetime)
            .build()
            .map_err(|e| StorageError::Request(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.media_bucket)
            .key(key)
            .presigned(presigning)
            .await
            .map_err(sdk_error("GetObject (presign)"))?;
        Ok(request.uri().to_owned())
    }

    /// A media object's bytes (a playlist, say); `None` when there is no such object.
    pub async fn get_media_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.media_bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(sdk_error("GetObject")(err)),
        };
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| StorageError::Transport {
                operation: "GetObject",
                detail: e.to_string(),
            })?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    /// Every part S3 holds for the upload, in part-number order.
    pub async fn list_parts(
        &self,
        id: Uuid,
        upload_id: &str,
    ) -> Result<Vec<UploadedPart>, StorageError> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client
                .list_parts()
                .bucket(&self.raw_bucket)
                .key(raw_key(id))
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(sdk_error("ListParts"))?;
            for part in out.parts() {
                if let (Some(n), Some(etag)) = (part.part_number, part.e_tag()) {
                    parts.push(UploadedPart {
                        part_number: n,
                        etag: etag.to_owned(),
                        size: part.size.unwrap_or(0),
                    });
                }
            }
            match (out.is_truncated, out.next_part_number_marker) {
                (Some(true), Some(next)) => marker = Some(next),
                _ => break,
            }
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }

    pub async fn complete_multipart_upload(
        &self,
        id: Uuid,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<(), StorageError> {
        self.complete_upload(&self.raw_bucket, &raw_key(id), upload_id, parts)
            .await
    }

    async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<(), StorageError> {
        let completed = parts
            .iter()
            .map(|(n, etag)| CompletedPart::builder().part_number(*n).e_tag(etag).build())
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
            .map_err(sdk_error("CompleteMultipartUpload"))?;
        Ok(())
    }

    pub async fn abort_multipart_upload(
        &self,
        id: Uuid,
        upload_id: &str,
    ) -> Result<(), StorageError> {
        self.abort_upload(&self.raw_bucket, &raw_key(id), upload_id)
            .await
    }

    async fn abort_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StorageError> {
        self.client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(sdk_error("AbortMultipartUpload"))?;
        Ok(())
    }

    /// Size of the raw object, `None` when there is none.
    pub async fn raw_size(&self, id: Uuid) -> Result<Option<i64>, StorageError> {
        match self
            .client
            .head_object()
            .bucket(&self.raw_bucket)
            .key(raw_key(id))
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.content_length.unwrap_or(0))),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(sdk_error("HeadObject")(err)),
        }
    }

    pub async fn delete_raw(&self, id: Uuid) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.raw_bucket)
            .key(raw_key(id))
            .send()
            .await
            .map_err(sdk_error("DeleteObject"))?;
        Ok(())
    }

    /// Uploads a local file to the media bucket.
    pub async fn put_media_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
        cache_control: &str,
    ) -> Result<(), StorageError> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| StorageError::Io(std::io::Error::other(e)))?;
        self.put_media(key, body, content_type, cache_control).await
    }

    /// Uploads bytes (a playlist, say) to the media bucket.
    pub async fn put_media_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        cache_control: &str,
    ) -> Result<(), StorageError> {
        self.put_media(key, ByteStream::from(bytes), content_type, cache_control)
            .await
    }

    async fn put_media(
        &self,
        key: &str,
        body: ByteStream,
        content_type: &str,
        cache_control: &str,
    ) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.media_bucket)
            .key(key)
            .content_type(content_type)
            .cache_control(cache_control)
            .body(body)
            .send()
            .await
            .map_err(sdk_error("PutObject"))?;
        Ok(())
    }

    /// The "folders" directly below `prefix` in the media bucket (keys cut after the next `/`).
    pub async fn media_folders(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(self.list_media(prefix, Some("/")).await?.1)
    }

    /// Every key of the media bucket under `prefix`.
    pub async fn media_keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(self.list_media(prefix, None).await?.0)
    }

    /// The keys under `prefix`, and with a `delimiter` the common prefixes it cuts them into,
    /// every page of the listing.
    async fn list_media(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
    ) -> Result<(Vec<String>, Vec<String>), StorageError> {
        let (mut keys, mut folders) = (Vec::new(), Vec::new());
        let mut token: Option<String> = None;
        loop {
            let listing = self
                .client
                .list_objects_v2()
                .bucket(&self.media_bucket)
                .prefix(prefix)
                .set_delimiter(delimiter.map(str::to_owned))
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(sdk_error("ListObjectsV2"))?;
            keys.extend(
                listing
                    .contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            folders.extend(
                listing
                    .common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_owned)),
            );
            match listing.next_continuation_token {
                Some(next) if listing.is_truncated == Some(true) => token = Some(next),
                _ => return Ok((keys, folders)),
            }
        }
    }

    /// Copies a media object within the bucket, its headers (type, caching) with it.
    pub async fn copy_media(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.client
            .copy_object()
            .bucket(&self.media_bucket)
            .copy_source(format!("{}/{from}", self.media_bucket))
            .key(to)
            .send()
            .await
            .map_err(sdk_error("CopyObject"))?;
        Ok(())
    }

    /// Deletes every object under `videos/{id}/`.
    pub async fn delete_media(&self, id: Uuid) -> Result<usize, StorageError> {
        self.delete_media_prefix(&media_prefix(id)).await
    }

    /// Deletes every object under `videos/{id}/` except those below the `keep` prefixes (the
    /// versions clips still reference).
    pub async fn delete_media_keeping(
        &self,
        id: Uuid,
        keep: &[String],
    ) -> Result<usize, StorageError> {
        if keep.is_empty() {
            return self.delete_media(id).await;
        }
        let doomed: Vec<String> = self
            .media_keys(&media_prefix(id))
            .await?
            .into_iter()
            .filter(|key| !keep.iter().any(|k| key.starts_with(k.as_str())))
            .collect();
        for batch in doomed.chunks(1000) {
            self.delete_media_keys(batch.iter().map(String::as_str))
                .await?;
        }
        Ok(doomed.len())
    }

    /// Uploads bytes to the raw bucket as `raw/{id}` (a precise clip's source).
    pub async fn put_raw_file(&self, id: Uuid, path: &Path) -> Result<(), StorageError> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| StorageError::Io(std::io::Error::other(e)))?;
        self.client
            .put_object()
            .bucket(&self.raw_bucket)
            .key(raw_key(id))
            .content_type("video/mp4")
            .body(body)
            .send()
            .await
            .map_err(sdk_error("PutObject"))?;
        Ok(())
    }

    /// Deletes every object of the media bucket whose key starts with `prefix`.
    pub async fn delete_media_prefix(&self, prefix: &str) -> Result<usize, StorageError> {
        let mut deleted = 0;
        loop {
            let listing = self
                .client
                .list_objects_v2()
                .bucket(&self.media_bucket)
                .prefix(prefix)
                .max_keys(1000)
                .send()
                .await
                .map_err(sdk_error("ListObjectsV2"))?;
            let keys: Vec<&str> = listing.contents().iter().filter_map(|o| o.key()).collect();
            if keys.is_empty() {
                return Ok(deleted);
            }
            deleted += keys.len();
            self.delete_media_keys(keys.into_iter()).await?;
        }
    }

    /// Deletes up to 1,000 media objects in one request.
    async fn delete_media_keys<'k>(
        &self,
        keys: impl Iterator<Item = &'k str>,
    ) -> Result<(), StorageError> {
        let keys = keys
            .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
            .collect();
        let delete = Delete::builder()
            .set_objects(Some(keys))
            .quiet(true)
            .build()
            .map_err(|e| StorageError::Request(e.to_string()))?;
        self.client
            .delete_objects()
            .bucket(&self.media_bucket)
            .delete(delete)
            .send()
            .await
            .map_err(sdk_error("DeleteObjects"))?;
        Ok(())
    }
}
