//! Test support shared by vodnest's crates: throwaway databases, the LocalStack settings the
//! dev script exported, and test media made with ffmpeg. The environment comes from the dev
//! script (`./dev test`, or `eval "$(./dev env)"` before `cargo test`).
//!
//! - [`clip`]: test media made with ffmpeg, and ffprobe readings of the output.
//! - [`poll`]: [`eventually`], the one wait for something that happens in the background.
//! - `control_plane` (feature `control-plane`): the processor's gRPC server on an ephemeral port.
//! - `otlp` (feature `otlp`): an OTLP/HTTP trace collector stand-in on 127.0.0.1.

pub mod clip;
#[cfg(feature = "control-plane")]
pub mod control_plane;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod poll;

pub use poll::{Look, eventually};

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sqlx::{Connection, PgConnection};
use vodnest_core::config::StorageConfig;

/// The repository root (for scripts and node_modules).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A variable the dev script exports, or an error that says how to get it.
pub fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| {
        format!(
            "{name} is not set: run the tests with `./dev test`, or `eval \"$(./dev env)\"` first"
        )
    })
}

/// A throwaway database, dropped by [`TestApp::stop`]. Databases left by crashed runs are
/// swept after an hour (their name carries their creation time).
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TestDatabase {
    pub async fn create() -> Result<Self> {
        let admin_url = env("DATABASE_URL")?;
        let mut admin = PgConnection::connect(&admin_url).await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let stale: Vec<(String,)> = sqlx::query_as(
            "select datname from pg_database where datname like 'vodnest\\_test\\_%'",
        )
        .fetch_all(&mut admin)
        .await?;
        for (name,) in stale {
            let created = name.split('_').nth(2).and_then(|s| s.parse::<u64>().ok());
            if created.is_some_and(|c| c + 3600 < now) {
                let _ = sqlx::query(&format!("drop database if exists \"{name}\" with (force)"))
                    .execute(&mut admin)
                    .await;
            }
        }
        let name = format!("vodnest_test_{now}_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("create database \"{name}\""))
            .execute(&mut admin)
            .await?;
        let url = with_database(&admin_url, &name)?;
        Ok(Self {
            name,
            url,
            admin_url,
        })
    }

    pub async fn drop_database(&self) -> Result<()> {
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        sqlx::query(&format!(
            "drop database if exists \"{}\" with (force)",
            self.name
        ))
        .execute(&mut admin)
        .await?;
        Ok(())
    }
}

/// `postgres://u@h:p/db?x` with `db` replaced.
fn with_database(url: &str, name: &str) -> Result<String> {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").context("DATABASE_URL has no scheme")? + 3;
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

pub fn storage_config() -> Result<StorageConfig> {
    Ok(StorageConfig {
        raw_bucket: env("RAW_BUCKET")?,
        media_bucket: env("MEDIA_BUCKET")?,
        media_base_url: env("MEDIA_BASE_URL")?,
    })
}

/// Puts a local file where an upload would have left it and enqueues its processing, without
/// the API: for processor tests. Returns the video id.
pub async fn stage_upload(
    pool: &sqlx::PgPool,
    storage: &vodnest_core::storage::Storage,
    path: &Path,
) -> Result<uuid::Uuid> {
    use vodnest_core::videos::{self, NewVideo};
    let id = uuid::Uuid::now_v7();
    let size = tokio::fs::metadata(path).await?.len();
    let new = NewVideo {
        id,
        title: "staged".into(),
        filename: "staged.mp4".into(),
        content_type: "video/mp4".into(),
        size_bytes: i64::try_from(size)?,
        upload_id: "staged".into(),
        part_size: 8 << 20,
        part_count: 1,
        upload_expires_at: time::OffsetDateTime::now_utc(),
        owner_id: vodnest_core::caller::BUILTIN_ADMIN,
        visibility: vodnest_core::domain::Visibility::Private,
        description: String::new(),
        growing: false,
    };
    videos::insert(pool, &new).await?;
    let body = aws_sdk_s3::primitives::ByteStream::from_path(path).await?;
    storage
        .client()
        .put_object()
        .bucket(storage.raw_bucket())
        .key(vodnest_core::storage::raw_key(id))
        .body(body)
        .send()
        .await?;
    videos::mark_uploaded_and_enqueue(pool, id)
        .await?
        .context("the staged video was already enqueued")?;
    Ok(id)
}

/// A video row as `POST /api/v1/videos` would leave it (no S3 object): for tests of the queue
/// and the control plane. With `enqueue`, its upload is marked complete and its job queued;
/// returns the video id and the job id.
pub async fn fake_video(
    pool: &sqlx::PgPool,
    enqueue: bool,
) -> Result<(uuid::Uuid, Option<uuid::Uuid>)> {
    use vodnest_core::videos::{self, NewVideo};
    let id = uuid::Uuid::now_v7();
    let new = NewVideo {
        id,
        title: "fake".into(),
        filename: "fake.mp4".into(),
        content_type: "video/mp4".into(),
        size_bytes: 1,
        upload_id: "fake".into(),
        part_size: 8 << 20,
        part_count: 1,
        upload_expires_at: time::OffsetDateTime::now_utc(),
        owner_id: vodnest_core::caller::BUILTIN_ADMIN,
        visibility: vodnest_core::domain::Visibility::Private,
        description: String::new(),
        growing: false,
    };
    videos::insert(pool, &new).await?;
    if !enqueue {
        return Ok((id, None));
    }
    videos::mark_uploaded_and_enqueue(pool, id).await?;
    let (job,): (uuid::Uuid,) = sqlx::query_as("select id from jobs where video_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await?;
    Ok((id, Some(job)))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/vodnest?sslmode=disable", "t").ok(),
            Some("postgres://u:p@h:5432/t?sslmode=disable".to_owned())
        );
        assert_eq!(
            with_database("postgres://u@h", "t").ok(),
            Some("postgres://u@h/t".to_owned())
        );
    }
}
