//! A small client for vodnest's JSON API (`/api/v1`), with the server's error messages passed
//! on to the person at the terminal.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::CliError;

#[derive(Clone)]
pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// An answer the server refused, with its status and error code, so callers can react to some.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

#[derive(Debug)]
pub enum ApiError {
    Refused(Refused),
    Other(CliError),
}

impl From<ApiError> for CliError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Refused(r) => CliError(format!("{} ({}, {})", r.message, r.status, r.code)),
            ApiError::Other(e) => e,
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
pub struct Video {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub progress: f64,
    #[serde(default)]
    pub playable: bool,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct UploadTicket {
    pub part_size: u64,
    pub part_count: u32,
}

#[derive(Debug, Deserialize)]
pub struct Created {
    pub video: Video,
    pub upload: UploadTicket,
}

#[derive(Debug, Deserialize)]
pub struct PartDone {
    pub part_number: u32,
    pub etag: String,
    pub size: u64,
}

#[derive(Debug, Deserialize)]
pub struct UploadState {
    pub part_size: u64,
    pub part_count: u32,
    #[serde(default)]
    pub growing: bool,
    pub parts_done: Vec<PartDone>,
}

#[derive(Debug, Deserialize)]
pub struct PartUrl {
    pub part_number: u32,
    pub url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
}

#[derive(Deserialize)]
struct PartUrls {
    parts: Vec<PartUrl>,
}

#[derive(Deserialize)]
struct One {
    video: Video,
}

impl ApiClient {
    pub fn new(base: &str, token: &str) -> Result<Self, CliError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| CliError(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The HTTP client, shared with the part uploads (one connection pool).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(60))
    }

    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, ApiError> {
        let response = request.send().await.map_err(|e| {
            ApiError::Other(CliError(format!(
                "cannot reach the API at {}: {e}",
                self.base
            )))
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let field = |name: &str| body["error"][name].as_str().map(str::to_owned);
            return Err(ApiError::Refused(Refused {
                status,
                code: field("code").unwrap_or_else(|| "unknown".to_owned()),
                message: field("message").unwrap_or_else(|| format!("the API answered {status}")),
            }));
        }
        // An answer without a body (204) reads as JSON `null`.
        let text = if text.is_empty() {
            "null".to_owned()
        } else {
            text
        };
        serde_json::from_str(&text).map_err(|e| {
            ApiError::Other(CliError(format!("the API sent an unexpected answer: {e}")))
        })
    }

    pub async fn create_video(
        &self,
        title: &str,
        filename: &str,
        size_bytes: Option<u64>,
        content_type: &str,
        visibility: Option<&str>,
    ) -> Result<Created, ApiError> {
        // No size: the file is still being written (a growing upload).
        let body = json!({"title": title, "filename": filename, "size_bytes": size_bytes,
                          "growing": size_bytes.is_none(), "content_type": content_type,
                          "visibility": visibility});
        self.send(self.request(Method::POST, "/videos").json(&body))
            .await
    }

    pub async fn upload_state(&self, id: &str) -> Result<UploadState, ApiError> {
        self.send(self.request(Method::GET, &format!("/videos/{id}/upload")))
            .await
    }

    /// URLs for parts `numbers`; `sizes` (one per part) names their lengths, which a growing
    /// upload must do.
    pub async fn part_urls(
        &self,
        id: &str,
        numbers: &[u32],
        sizes: Option<&[u64]>,
    ) -> Result<Vec<PartUrl>, ApiError> {
        let body = match sizes {
            Some(sizes) => json!({"part_numbers": numbers, "sizes": sizes}),
            None => json!({"part_numbers": numbers}),
        };
        let urls: PartUrls = self
            .send(
                self.request(Method::POST, &format!("/videos/{id}/upload/parts"))
                    .json(&body),
            )
            .await?;
        Ok(urls.parts)
    }

    pub async fn complete(&self, id: &str, parts: &[(u32, String)]) -> Result<Video, ApiError> {
        let parts: Vec<Value> = parts
            .iter()
            .map(|(n, etag)| json!({"part_number": n, "etag": etag}))
            .collect();
        let one: One = self
            .send(
                self.request(Method::POST, &format!("/videos/{id}/upload/complete"))
                    .json(&json!({"parts": parts})),
            )
            .await?;
        Ok(one.video)
    }

    pub async fn video(&self, id: &str) -> Result<Video, ApiError> {
        let one: One = self
            .send(self.request(Method::GET, &format!("/videos/{id}")))
            .await?;
        Ok(one.video)
    }

    /// Any JSON call: `body` sent as JSON when given; the answer's JSON (`null` for 204).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    pub fn watch_url(&self, id: &str) -> String {
        format!("{}/watch?v={id}", self.base)
    }
}
