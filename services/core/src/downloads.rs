//! MP4 downloads (migrations/0024_downloads.sql): one row per rendition of a video as of one
//! master playlist, made by a `download` job (the processor's `job/download.rs`) and served by
//! the API's `GET /videos/{id}/download`.

use sqlx::{Acquire, PgExecutor, Postgres};
use uuid::Uuid;

use crate::queue::{self, JobKind};
use crate::text_enum::text_enum;

text_enum! {
    /// `downloads.state`.
    pub enum DownloadState {
        /// Its job is queued or running.
        Preparing = "preparing",
        /// The MP4 is at `object_key`.
        Ready = "ready",
        /// Its job failed for good or was canceled; `error` says why.
        Failed = "failed",
    }
}

/// A row of `downloads`.
#[derive(Debug, Clone)]
pub struct Download {
    pub id: Uuid,
    pub video_id: Uuid,
    pub rendition: String,
    pub master_key: String,
    pub state: DownloadState,
    pub object_key: String,
    pub size_bytes: i64,
    pub job_id: Option<Uuid>,
    pub error: Option<String>,
}

/// Where the MP4 of `rendition` made from the master at `master_key` lives: beside that master,
/// in its version (`videos/{id}/{class}/{n}/downloads/720p-0.mp4`), so it goes with the
/// version, is served in the version's class (plain or signed URLs), and a later master
/// (`master-3.m3u8`: revision 3) gets a file of its own.
pub fn object_key(master_key: &str, rendition: &str) -> String {
    let (prefix, name) = master_key.rsplit_once('/').unwrap_or(("", master_key));
    let stem = name.strip_suffix(".m3u8").unwrap_or(name);
    let revision = stem
        .rsplit_once('-')
        .map(|(_, n)| n)
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or("0");
    format!("{prefix}/downloads/{rendition}-{revision}.mp4")
}

/// The download of `rendition` made from `master_key`, if one was asked for.
pub async fn find(
    db: impl PgExecutor<'_>,
    video_id: Uuid,
    rendition: &str,
    master_key: &str,
) -> Result<Option<Download>, sqlx::Error> {
    sqlx::query_as!(
        Download,
        r#"select id, video_id, rendition, master_key, state as "state: DownloadState",
             object_key, size_bytes, job_id, error
         from downloads where video_id = $1 and rendition = $2 and master_key = $3"#,
        video_id,
        rendition,
        master_key,
    )
    .fetch_optional(db)
    .await
}

/// The download a job makes, if it still exists.
pub async fn of_job(
    db: impl PgExecutor<'_>,
    job_id: Uuid,
) -> Result<Option<Download>, sqlx::Error> {
    sqlx::query_as!(
        Download,
        r#"select id, video_id, rendition, master_key, state as "state: DownloadState",
             object_key, size_bytes, job_id, error
         from downloads where job_id = $1"#,
        job_id,
    )
    .fetch_optional(db)
    .await
}

/// How many downloads `user` asked for that are being prepared now.
pub async fn preparing_for(db: impl PgExecutor<'_>, user: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from downloads where requested_by = $1 and state = 'preparing'"#,
        user,
    )
    .fetch_one(db)
    .await
}

/// What a new download is of.
#[derive(Debug, Clone)]
pub struct NewDownload<'a> {
    pub video_id: Uuid,
    pub rendition: &'a str,
    pub master_key: &'a str,
    pub requested_by: Uuid,
}

/// Records the download and enqueues its job, in one transaction (or a savepoint of the
/// caller's). Downloads of the same rendition made from older masters are forgotten (their
/// files go with their versions). `None` when a concurrent request inserted it first: read it
/// with [`find`].
pub async fn create<'c>(
    db: impl Acquire<'c, Database = Postgres>,
    new: &NewDownload<'_>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let id = sqlx::query_scalar!(
        "insert into downloads (id, video_id, rendition, master_key, object_key, requested_by)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (video_id, rendition, master_key) do nothing
         returning id",
        Uuid::now_v7(),
        new.video_id,
        new.rendition,
        new.master_key,
        object_key(new.master_key, new.rendition),
        new.requested_by,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    let job = queue::enqueue_id(&mut *tx, JobKind::Download, new.video_id).await?;
    sqlx::query!("update downloads set job_id = $2 where id = $1", id, job)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "delete from downloads
         where video_id = $1 and rendition = $2 and master_key <> $3 and state <> 'preparing'",
        new.video_id,
        new.rendition,
        new.master_key,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Forgets a failed download once its failure was reported: the next request makes it again.
pub async fn forget_failed(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "delete from downloads where id = $1 and state = 'failed'",
        id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Bytes uploaded so far.
pub async fn record_progress(
    db: impl PgExecutor<'_>,
    id: Uuid,
    bytes: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update downloads set size_bytes = $2 where id = $1 and state = 'preparing'",
        id,
        i64::try_from(bytes).unwrap_or(i64::MAX),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The MP4 is complete in storage. False when the download is gone (its video was deleted, or
/// a newer master replaced it) or no longer being prepared.
pub async fn mark_ready(db: impl PgExecutor<'_>, id: Uuid, size: u64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "update downloads set state = 'ready', size_bytes = $2, error = null
         where id = $1 and state = 'preparing'",
        id,
        i64::try_from(size).unwrap_or(i64::MAX),
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::object_key;

    #[test]
    fn the_file_lives_beside_the_master_it_was_made_from() {
        assert_eq!(
            object_key("videos/a/signed/3/master.m3u8", "720p"),
            "videos/a/signed/3/downloads/720p-0.mp4"
        );
        assert_eq!(
            object_key("videos/a/public/1/master-12.m3u8", "480p"),
            "videos/a/public/1/downloads/480p-12.mp4"
        );
    }
}
