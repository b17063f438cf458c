//! Test harness for vodnest's end-to-end tests: a fresh database per test, the API and the
//! processor started in-process on ephemeral ports against the real LocalStack buckets, and
//! one helper per endpoint. The environment comes from the dev script (`./dev test`, or
//! `eval "$(./dev env)"` before `cargo test`).

pub mod browser;
pub mod hosts;
pub mod obs;
pub mod recorder;
pub mod ws;

pub use vodnest_testkit::{TestDatabase, clip, repo_root, storage_config};

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vodnest_api::throttle::RateLimits;
use vodnest_api::{ApiConfig, Application};
use vodnest_core::config::DatabaseConfig;
use vodnest_core::secret::Secret;
use vodnest_processor::{Processor, ProcessorConfig};

/// Settings for the in-process services; tests may change them before [`TestApp::spawn_with`].
pub struct TestSettings {
    pub api: ApiConfig,
    pub processor: ProcessorConfig,
    /// Start a processor at all (some tests want jobs to stay queued).
    pub with_processor: bool,
    /// The names webhook URLs may use (none unless the test sets them).
    pub hosts: hosts::TestHosts,
}

impl TestSettings {
    pub fn new(db: &TestDatabase) -> Result<Self> {
        let database = DatabaseConfig {
            database_url: db.url.clone(),
            database_max_connections: 5,
        };
        let storage = storage_config()?;
        let admin_token = Some(Secret::new(vodnest_core::auth::new_secret()));
        let hosts = hosts::TestHosts::default();
        let api = ApiConfig {
            api_addr: "127.0.0.1:0".parse()?,
            metrics_addr: "127.0.0.1:0".parse()?,
            admin_token: admin_token.clone(),
            max_upload_bytes: 1024 * 1024 * 1024,
            upload_min_part_bytes: 5 * 1024 * 1024,
            upload_url_ttl_secs: 600,
            upload_expiry_secs: 3600,
            upload_sweep_secs: 3600,
            session_ttl_secs: 3600,
            playback_url_ttl_secs: 4 * 3600,
            retired_media_grace_secs: 24 * 3600,
            dead_row_retention_days: 30,
            secure_cookies: false,
            public_url: None,
            trusted_proxies: Vec::new(),
            embed_frame_ancestors: "*".into(),
            public_sockets_per_ip: 20,
            server: Default::default(),
            cloudfront: Default::default(),
            quotas: Default::default(),
            accounts: Default::default(),
            cloudwatch: Default::default(),
            // Far above what any test sends; `limits::` sets its own.
            rate_limits: RateLimits {
                ip_burst: 100_000,
                ip_per_sec: 100_000.0,
                key_burst: 100_000,
                key_per_sec: 100_000.0,
                max_keys: 10_000,
            },
            // Test receivers listen on 127.0.0.1; nothing else is ever reachable.
            webhooks: vodnest_api::webhooks::WebhookSettings {
                allow_loopback: true,
                resolver: vodnest_api::webhooks::targets::Resolver::new(hosts.clone()),
                ..Default::default()
            },
            vendor_dir: repo_root().join("node_modules"),
            traces: Default::default(),
            database: database.clone(),
            storage: storage.clone(),
        };
        let processor = ProcessorConfig {
            grpc_addr: "127.0.0.1:0".parse()?,
            metrics_addr: "127.0.0.1:0".parse()?,
            concurrency: 1,
            lease_secs: 30.0,
            poll_secs: 0.5,
            shutdown_grace_secs: 5.0,
            transcode_timeout_secs: 600.0,
            probe_timeout_secs: 30.0,
            ladder: Default::default(),
            // As deployed: the e2e clips are far shorter than a split's threshold.
            chunk_threshold_secs: 600.0,
            chunk_secs: 120.0,
            work_dir: None,
            admin_token,
            limits: Default::default(),
            traces: Default::default(),
            database,
            storage,
        };
        Ok(Self {
            api,
            processor,
            with_processor: true,
            hosts,
        })
    }
}

/// The API (and usually a processor) running for one test.
pub struct TestApp {
    pub api_url: String,
    /// `http://…/metrics` of the API, and of the processor when there is one. Both services
    /// run in this process, so both render the process's one recorder.
    pub api_metrics_url: String,
    pub processor_metrics_url: Option<String>,
    pub token: String,
    /// The test's own connections to the test database.
    pub pool: PgPool,
    /// The API's pool, to look at its state.
    pub api_pool: PgPool,
    pub http: reqwest::Client,
    pub db: TestDatabase,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn() -> Result<Self> {
        let db = TestDatabase::create().await?;
        let settings = TestSettings::new(&db)?;
        Self::spawn_with(db, settings).await
    }

    pub async fn spawn_with(db: TestDatabase, settings: TestSettings) -> Result<Self> {
        vodnest_core::telemetry::init_for_tests();
        let token = settings
            .api
            .admin_token()
            .context("tests need an admin token")?
            .to_owned();
        let stop = CancellationToken::new();
        let app = Application::build(settings.api).await?;
        let api_url = format!("http://{}", app.local_addr());
        let api_metrics_url = format!(
            "http://{}/metrics",
            app.metrics_addr().context("tests run with metrics on")?
        );
        let mut processor_metrics_url = None;
        let api_pool = app.state().pool.clone();
        let mut tasks = Vec::new();
        let api_stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let _ = app
                .run_until_stopped(async move { api_stop.cancelled().await })
                .await;
        }));
        if settings.with_processor {
            let processor = Processor::build(settings.processor).await?;
            processor_metrics_url = processor
                .metrics_addr()
                .map(|addr| format!("http://{addr}/metrics"));
            let processor_stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(err) = processor
                    .run_until_stopped(async move { processor_stop.cancelled().await })
                    .await
                {
                    eprintln!("test processor failed: {err:#}");
                }
            }));
        }
        let pool = PgPool::connect(&db.url).await?;
        Ok(Self {
            api_url,
            api_metrics_url,
            processor_metrics_url,
            token,
            pool,
            api_pool,
            http: reqwest::Client::new(),
            db,
            stop,
            tasks,
        })
    }

    /// Stops the services and drops the test database.
    pub async fn stop(self) -> Result<()> {
        self.stop.cancel();
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
        self.pool.close().await;
        self.db.drop_database().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_url)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(self.url(path)).bearer_auth(&self.token)
    }

    /// `POST /api/v1/videos`.
    pub async fn create_video(&self, title: &str, filename: &str, size: u64) -> Result<Value> {
        let response = self
            .post(
                "/api/v1/videos",
                &json!({"title": title, "filename": filename, "size_bytes": size, "content_type": "video/mp4"}),
            )
            .send()
            .await?;
        expect_status(response, 201).await
    }

    /// `POST /api/v1/videos/{id}/upload/parts`.
    pub async fn part_urls(&self, id: &str, parts: &[i64]) -> Result<Vec<(i64, String)>> {
        let response = self
            .post(
                &format!("/api/v1/videos/{id}/upload/parts"),
                &json!({"part_numbers": parts}),
            )
            .send()
            .await?;
        let body = expect_status(response, 200).await?;
        let mut out = Vec::new();
        for part in body["parts"].as_array().context("parts")? {
            let n = part["part_number"].as_i64().context("part_number")?;
            let url = part["url"].as_str().context("url")?.to_owned();
            out.push((n, url));
        }
        Ok(out)
    }

    /// PUTs bytes to a presigned URL the way a browser would, returning the part's ETag.
    pub async fn put_part(&self, url: &str, bytes: Vec<u8>) -> Result<String> {
        let response = self.http.put(url).body(bytes).send().await?;
        let status = response.status();
        if !status.is_success() {
            bail!(
                "PUT part: {status}: {}",
                response.text().await.unwrap_or_default()
            );
        }
        Ok(response
            .headers()
            .get("etag")
            .context("S3 returned no ETag")?
            .to_str()?
            .to_owned())
    }

    /// `POST /api/v1/videos/{id}/upload/complete` with the given parts.
    pub async fn complete(&self, id: &str, parts: &[(i64, String)]) -> Result<reqwest::Response> {
        Ok(self.complete_request(id, parts).send().await?)
    }

    /// The request [`Self::complete`] sends, for a test to add to.
    pub fn complete_request(&self, id: &str, parts: &[(i64, String)]) -> reqwest::RequestBuilder {
        let parts: Vec<Value> = parts
            .iter()
            .map(|(n, etag)| json!({"part_number": n, "etag": etag}))
            .collect();
        self.post(
            &format!("/api/v1/videos/{id}/upload/complete"),
            &json!({"parts": parts}),
        )
    }

    /// The whole upload of a local file through presigned URLs; returns the video id.
    pub async fn upload_file(&self, path: &Path, title: &str) -> Result<String> {
        let (id, etags) = self.upload_parts(path, title).await?;
        let response = self.complete(&id, &etags).await?;
        expect_status(response, 202).await?;
        Ok(id)
    }

    /// [`Self::upload_file`], then waits up to `patience` until the video is `ready` or
    /// `failed`: its id, the websocket frames seen meanwhile, and the video object then.
    pub async fn upload_until_settled(
        &self,
        path: &Path,
        title: &str,
        patience: Duration,
    ) -> Result<(String, Vec<Value>, Value)> {
        let id = self.upload_file(path, title).await?;
        let frames = ws::follow(&self.events_url(&id), &["ready", "failed"], patience).await?;
        let video = self.video(&id).await?;
        Ok((id, frames, video))
    }

    /// An upload of a local file up to its completion: the video id and each part's ETag.
    pub async fn upload_parts(
        &self,
        path: &Path,
        title: &str,
    ) -> Result<(String, Vec<(i64, String)>)> {
        let bytes = tokio::fs::read(path).await?;
        let filename = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("upload.bin");
        let created = self
            .create_video(title, filename, bytes.len() as u64)
            .await?;
        let id = created["video"]["id"].as_str().context("id")?.to_owned();
        let part_size = created["upload"]["part_size"]
            .as_u64()
            .context("part_size")? as usize;
        let part_count = created["upload"]["part_count"]
            .as_i64()
            .context("part_count")?;
        let numbers: Vec<i64> = (1..=part_count).collect();
        let mut etags = Vec::new();
        for (n, url) in self.part_urls(&id, &numbers).await? {
            let start = (n as usize - 1) * part_size;
            let end = (start + part_size).min(bytes.len());
            etags.push((n, self.put_part(&url, bytes[start..end].to_vec()).await?));
        }
        Ok((id, etags))
    }

    /// The `vodnest` CLI (`bin`: the test's `CARGO_BIN_EXE_vodnest`) pointed at this API with
    /// its token, keeping its resume records in `state_dir`.
    pub fn cli(&self, bin: &str, state_dir: &Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(bin);
        command
            .arg("--api")
            .arg(&self.api_url)
            .env("VODNEST_TOKEN", &self.token)
            .env("VODNEST_STATE_DIR", state_dir)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        command
    }

    pub async fn video(&self, id: &str) -> Result<Value> {
        let response = self.get(&format!("/api/v1/videos/{id}")).send().await?;
        Ok(expect_status(response, 200).await?["video"].clone())
    }

    /// `POST /login` with the form `fields`, sent as this site's login page sends it (with the
    /// API's own `Origin`, or `origin`); the redirect is returned, not followed.
    pub async fn login(
        &self,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Result<reqwest::Response> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(client
            .post(self.url("/login"))
            .header("origin", origin.unwrap_or(&self.api_url))
            .form(fields)
            .send()
            .await?)
    }

    /// Signs in with the admin token; returns the session cookie as `name=value`.
    pub async fn session_cookie(&self) -> Result<String> {
        let response = self.login(&[("token", &self.token)], None).await?;
        if response.status() != 303 {
            bail!("sign-in answered {}", response.status());
        }
        let set_cookie = response
            .headers()
            .get("set-cookie")
            .context("sign-in set no cookie")?
            .to_str()?;
        Ok(set_cookie.split(';').next().unwrap_or_default().to_owned())
    }

    /// The websocket URL for a video's events, authenticated with `?token=`.
    pub fn events_url(&self, id: &str) -> String {
        format!(
            "{}/api/v1/videos/{id}/events?token={}",
            self.api_url.replacen("http://", "ws://", 1),
            self.token
        )
    }
}

/// A documented path (`/api/v1/videos/{id}`) with `{id}` and any other parameter filled with
/// a UUID that names nothing.
pub fn concrete(path: &str) -> String {
    let missing = uuid::Uuid::now_v7().to_string();
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                missing.as_str()
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Checks the status and returns the JSON body, or fails with both.
/// A response header as text (empty when missing or not text).
pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub async fn expect_status(response: reqwest::Response, status: u16) -> Result<Value> {
    let got = response.status().as_u16();
    let text = response.text().await?;
    if got != status {
        bail!("expected HTTP {status}, got {got}: {text}");
    }
    if text.is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_str(&text)?)
}

/// Checks an error answer: its status and `error.code`.
pub async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> Result<Value> {
    let body = expect_status(response, status).await?;
    let got = body["error"]["code"].as_str().unwrap_or_default();
    if got != code {
        bail!("expected error code {code}, got {body}");
    }
    if body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        bail!("error without a message: {body}");
    }
    Ok(body)
}

/// The uploaded file of video `id`, read from the raw bucket.
pub async fn raw_object(id: &str) -> Result<Vec<u8>> {
    let storage = vodnest_core::storage::Storage::from_env(&storage_config()?).await;
    let object = storage
        .client()
        .get_object()
        .bucket(storage.raw_bucket())
        .key(vodnest_core::storage::raw_key(id.parse()?))
        .send()
        .await?;
    Ok(object.body.collect().await?.into_bytes().to_vec())
}
