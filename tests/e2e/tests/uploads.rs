//! Upload edge cases against real LocalStack with signature checks on: S3 itself refuses
//! tampered and expired part URLs, a short upload is refused and cleaned up, an abandoned
//! upload is swept, a canceled one cannot go on.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use vodnest_core::storage::Storage;
use vodnest_e2e::{TestApp, TestDatabase, TestSettings, expect_error, expect_status};
use vodnest_testkit::{Look, eventually};

fn video_id(created: &Value) -> Result<String> {
    Ok(created["video"]["id"].as_str().context("id")?.to_owned())
}

async fn jobs_for(app: &TestApp, id: &str) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("select count(*) from jobs where video_id = $1::uuid")
        .bind(id)
        .fetch_one(&app.pool)
        .await?;
    Ok(n)
}

/// A PUT of `len` bytes that S3 must refuse with 403.
async fn expect_s3_refuses(app: &TestApp, url: &str, len: usize, what: &str) -> Result<()> {
    let response = app.http.put(url).body(vec![1u8; len]).send().await?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    ensure!(status == 403, "{what}: S3 answered {status}: {body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_refuses_tampered_and_expired_part_urls() -> Result<()> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    settings.api.upload_url_ttl_secs = 2;
    let app = TestApp::spawn_with(db, settings).await?;
    // Parts of 5 MiB (the test minimum): 5, 5 and 1 MiB.
    const MIB: usize = 1024 * 1024;
    let id = video_id(&app.create_video("urls", "a.bin", 11 * MIB as u64).await?)?;
    let urls = app.part_urls(&id, &[1, 2, 3]).await?;
    let (_, first) = urls.first().context("part 1")?;
    let (_, second) = urls.get(1).context("part 2")?;
    let (_, last) = urls.get(2).context("part 3")?;

    // The signature covers the part number: moving a URL to another part breaks it.
    let moved = first.replace("partNumber=1", "partNumber=2");
    ensure!(moved != *first, "the URL names its part: {first}");
    expect_s3_refuses(&app, &moved, 5 * MIB, "a URL moved to another part").await?;
    // Nor can another upload id be slipped in.
    let foreign = first.replace("uploadId=", "uploadId=x");
    expect_s3_refuses(&app, &foreign, 5 * MIB, "a URL moved to another upload").await?;
    // It signs the part's exact length, the last part's too: no more, no less.
    expect_s3_refuses(&app, first, 6 * MIB, "a longer part").await?;
    expect_s3_refuses(&app, first, 100, "a shorter part").await?;
    expect_s3_refuses(&app, last, 5 * MIB, "a longer last part").await?;
    app.put_part(last, vec![3u8; MIB]).await?;

    tokio::time::sleep(Duration::from_secs(3)).await;
    expect_s3_refuses(&app, second, 5 * MIB, "an expired URL").await?;
    // A fresh URL for the same part works: clients ask again instead of failing.
    let (_, fresh) = app.part_urls(&id, &[2]).await?.pop().context("fresh")?;
    app.put_part(&fresh, vec![2u8; 5 * MIB]).await?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_upload_is_refused_and_cleaned_up() -> Result<()> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    let app = TestApp::spawn_with(db, settings).await?;
    let id = video_id(&app.create_video("short", "a.bin", 5000).await?)?;
    let (n, url) = app.part_urls(&id, &[1]).await?.pop().context("part")?;
    // The part URL signs 5000 bytes: S3 itself refuses 4000.
    expect_s3_refuses(&app, &url, 4000, "a short part").await?;
    // Behind it, complete checks the size again: a part sent with the bucket's own credentials
    // (as a misbehaving client of another signer would) is still caught.
    let storage = Storage::from_env(&vodnest_e2e::storage_config()?).await;
    let upload_id: (String,) = sqlx::query_as("select upload_id from videos where id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await?;
    let sent = storage
        .client()
        .upload_part()
        .bucket(storage.raw_bucket())
        .key(vodnest_core::storage::raw_key(id.parse()?))
        .upload_id(upload_id.0)
        .part_number(1)
        .body(vec![3u8; 4000].into())
        .send()
        .await?;
    let etag = sent.e_tag().context("etag")?.to_owned();
    let refused = app.complete(&id, &[(n, etag)]).await?;
    let body = expect_error(refused, 422, "size_mismatch").await?;
    ensure!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("4000"),
        "the error says what arrived: {body}"
    );
    let video = app.video(&id).await?;
    ensure!(video["status"] == "failed", "{video}");
    ensure!(jobs_for(&app, &id).await? == 0, "nothing enqueued");
    let uuid = id.parse()?;
    ensure!(
        storage.raw_size(uuid).await?.is_none(),
        "the short object is deleted"
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_uploads_are_swept() -> Result<()> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    settings.api.upload_sweep_secs = 1;
    let app = TestApp::spawn_with(db, settings).await?;
    let stale = video_id(&app.create_video("stale", "a.bin", 2048).await?)?;
    let fresh = video_id(&app.create_video("fresh", "b.bin", 2048).await?)?;
    let (_, url) = app.part_urls(&stale, &[1]).await?.pop().context("part")?;
    app.put_part(&url, vec![4u8; 2048]).await?;
    let upload_id: (String,) = sqlx::query_as("select upload_id from videos where id = $1::uuid")
        .bind(&stale)
        .fetch_one(&app.pool)
        .await?;
    sqlx::query(
        "update videos set upload_expires_at = now() - interval '1 minute' where id = $1::uuid",
    )
    .bind(&stale)
    .execute(&app.pool)
    .await?;

    // The sweep runs every second.
    let video = eventually("the sweep", Duration::from_secs(10), async || {
        let video = app.video(&stale).await?;
        Ok(if video["status"] == "awaiting_upload" {
            Look::NotYet(video.to_string())
        } else {
            Look::Done(video)
        })
    })
    .await?;
    ensure!(video["status"] == "failed", "swept: {video}");
    ensure!(
        video["error"]
            .as_str()
            .unwrap_or_default()
            .contains("deadline"),
        "{video}"
    );
    let storage = Storage::from_env(&vodnest_e2e::storage_config()?).await;
    let gone = storage.list_parts(stale.parse()?, &upload_id.0).await;
    ensure!(
        gone.as_ref().err().and_then(|e| e.code()) == Some("NoSuchUpload"),
        "the multipart upload is aborted in S3: {gone:?}"
    );
    let untouched = app.video(&fresh).await?;
    ensure!(untouched["status"] == "awaiting_upload", "{untouched}");
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_upload_cannot_go_on() -> Result<()> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    let app = TestApp::spawn_with(db, settings).await?;
    let id = video_id(&app.create_video("cancel", "a.bin", 2048).await?)?;
    let (n, url) = app.part_urls(&id, &[1]).await?.pop().context("part")?;
    let etag = app.put_part(&url, vec![5u8; 2048]).await?;
    let path = format!("/api/v1/videos/{id}/upload");
    expect_status(app.delete(&path).send().await?, 204).await?;
    expect_error(app.get(&path).send().await?, 409, "upload_not_active").await?;
    expect_error(
        app.complete(&id, &[(n, etag)]).await?,
        409,
        "upload_not_active",
    )
    .await?;
    let video = app.video(&id).await?;
    ensure!(video["status"] == "failed", "{video}");
    ensure!(jobs_for(&app, &id).await? == 0, "nothing enqueued");
    app.stop().await
}
