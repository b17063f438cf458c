//! Uploads of a file still being written (`"growing": true`): parts sized from
//! `MAX_UPLOAD_BYTES`, each part's size named by the client and signed into its URL, parts
//! re-sent before completing, the real size recorded at complete, the deadline moved while
//! part URLs keep being asked for, and the total checked against `MAX_UPLOAD_BYTES`.

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use time::OffsetDateTime;
use vodnest_core::storage::Storage;
use vodnest_e2e::{TestApp, TestDatabase, TestSettings, expect_error, expect_status, raw_object};

const MIB: usize = 1024 * 1024;

async fn spawn(max_upload_bytes: i64) -> Result<TestApp> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    // Nothing here is a video; no processor needs to look at it.
    settings.with_processor = false;
    settings.api.max_upload_bytes = max_upload_bytes;
    TestApp::spawn_with(db, settings).await
}

async fn create_growing(app: &TestApp) -> Result<Value> {
    let response = app
        .post(
            "/api/v1/videos",
            &json!({"title": "live", "filename": "live.mkv", "size_bytes": null, "growing": true}),
        )
        .send()
        .await?;
    expect_status(response, 201).await
}

/// `POST …/upload/parts` with sizes; the raw response.
async fn ask_parts(
    app: &TestApp,
    id: &str,
    numbers: &[i64],
    sizes: &[usize],
) -> Result<reqwest::Response> {
    Ok(app
        .post(
            &format!("/api/v1/videos/{id}/upload/parts"),
            &json!({"part_numbers": numbers, "sizes": sizes}),
        )
        .send()
        .await?)
}

/// Sends `bytes` as part `n` of a growing upload; its ETag.
async fn send_part(app: &TestApp, id: &str, n: i64, bytes: &[u8]) -> Result<(i64, String)> {
    let body = expect_status(ask_parts(app, id, &[n], &[bytes.len()]).await?, 200).await?;
    let url = body["parts"][0]["url"].as_str().context("url")?;
    Ok((n, app.put_part(url, bytes.to_vec()).await?))
}

/// The upload was refused at complete: its video failed and its object is gone.
async fn failed_and_deleted(app: &TestApp, id: &str) -> Result<()> {
    let video = app.video(id).await?;
    ensure!(video["status"] == "failed", "{video}");
    let storage = Storage::from_env(&vodnest_e2e::storage_config()?).await;
    ensure!(
        storage.raw_size(id.parse()?).await?.is_none(),
        "the object is deleted"
    );
    Ok(())
}

/// The upload's deadline as the sweeper reads it.
async fn upload_deadline(app: &TestApp, id: &str) -> Result<OffsetDateTime> {
    let (deadline,): (OffsetDateTime,) =
        sqlx::query_as("select upload_expires_at from videos where id = $1::uuid")
            .bind(id)
            .fetch_one(&app.pool)
            .await?;
    Ok(deadline)
}

fn video_id(created: &Value) -> Result<String> {
    Ok(created["video"]["id"].as_str().context("id")?.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_upload_takes_parts_of_named_sizes_and_records_its_real_size() -> Result<()> {
    let app = spawn(1024 * 1024 * 1024).await?;
    let created = create_growing(&app).await?;
    let id = video_id(&created)?;
    // 1 GiB in 10,000 parts needs 108 KB each; S3's floor (the test's 5 MiB minimum) wins.
    ensure!(created["upload"]["part_size"] == 5 * MIB, "{created}");
    ensure!(created["upload"]["part_count"] == 10_000, "{created}");
    ensure!(created["upload"]["growing"] == true, "{created}");
    ensure!(created["video"]["size_bytes"] == 0, "{created}");

    // Part 1 as the recorder first wrote it, then again after it rewrote its header.
    let mut first = vec![7u8; 5 * MIB];
    send_part(&app, &id, 1, &first).await?;
    first[..4].copy_from_slice(b"head");
    let one = send_part(&app, &id, 1, &first).await?;
    let tail = vec![9u8; 12_345];
    let two = send_part(&app, &id, 2, &tail).await?;

    // S3 holds the signed lengths only: a longer body than named is refused.
    let body = expect_status(ask_parts(&app, &id, &[3], &[10]).await?, 200).await?;
    let url = body["parts"][0]["url"].as_str().context("url")?;
    let refused = app.http.put(url).body(vec![0u8; 11]).send().await?;
    ensure!(
        refused.status() == 403,
        "S3 took an unsigned length: {}",
        refused.status()
    );

    let status = expect_status(
        app.get(&format!("/api/v1/videos/{id}/upload"))
            .send()
            .await?,
        200,
    )
    .await?;
    ensure!(status["growing"] == true, "{status}");

    let done = expect_status(app.complete(&id, &[one, two]).await?, 202).await?;
    let size = 5 * MIB + tail.len();
    ensure!(done["video"]["status"] == "queued", "{done}");
    ensure!(done["video"]["size_bytes"] == size, "{done}");
    let (part_count,): (i32,) = sqlx::query_as("select part_count from videos where id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await?;
    ensure!(part_count == 2, "part_count recorded: {part_count}");

    // The object is the rewritten first part and the tail, byte for byte.
    let object = raw_object(&id).await?;
    let mut expected = first;
    expected.extend_from_slice(&tail);
    ensure!(object == expected, "the object differs from what was sent");
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growing_uploads_refuse_bad_sizes_and_missing_parts() -> Result<()> {
    let app = spawn(1024 * 1024 * 1024).await?;
    let id = video_id(&create_growing(&app).await?)?;
    let no_sizes = app
        .post(
            &format!("/api/v1/videos/{id}/upload/parts"),
            &json!({"part_numbers": [1]}),
        )
        .send()
        .await?;
    expect_error(no_sizes, 422, "part_sizes_required").await?;
    expect_error(
        ask_parts(&app, &id, &[1, 2], &[5]).await?,
        422,
        "invalid_part_size",
    )
    .await?;
    expect_error(
        ask_parts(&app, &id, &[1], &[5 * MIB + 1]).await?,
        422,
        "invalid_part_size",
    )
    .await?;
    expect_error(
        ask_parts(&app, &id, &[1], &[0]).await?,
        422,
        "invalid_part_size",
    )
    .await?;

    // A size with `growing`, and neither: both refused.
    for body in [
        json!({"filename": "a.mkv", "size_bytes": 10, "growing": true}),
        json!({"filename": "a.mkv", "size_bytes": null}),
    ] {
        let response = app.post("/api/v1/videos", &body).send().await?;
        expect_error(response, 422, "invalid_size").await?;
    }

    // A gap before the last part listed.
    let two = send_part(&app, &id, 2, b"tail").await?;
    expect_error(app.complete(&id, &[two]).await?, 422, "missing_parts").await?;

    // An upload of known size may name its sizes, but only the planned ones.
    let fixed = video_id(&app.create_video("fixed", "f.bin", 5000).await?)?;
    expect_error(
        ask_parts(&app, &fixed, &[1], &[4000]).await?,
        422,
        "invalid_part_size",
    )
    .await?;
    expect_status(ask_parts(&app, &fixed, &[1], &[5000]).await?, 200).await?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_upload_stays_alive_while_parts_are_asked_for() -> Result<()> {
    let app = spawn(1024 * 1024 * 1024).await?;
    let id = video_id(&create_growing(&app).await?)?;
    // As if the recording had been running for longer than the upload expiry.
    sqlx::query(
        "update videos set upload_expires_at = now() + interval '5 seconds' where id = $1::uuid",
    )
    .bind(&id)
    .execute(&app.pool)
    .await?;
    expect_status(ask_parts(&app, &id, &[1], &[100]).await?, 200).await?;
    let deadline = upload_deadline(&app, &id).await?;
    // The test's UPLOAD_EXPIRY_SECS is an hour.
    let left = deadline - OffsetDateTime::now_utc();
    ensure!(
        left > time::Duration::minutes(50),
        "the deadline moved only to {deadline}"
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_upload_does_not_outlive_the_raw_bucket_s_abort_rule() -> Result<()> {
    let app = spawn(1024 * 1024 * 1024).await?;
    let id = video_id(&create_growing(&app).await?)?;
    // As if it began `ago` and its deadline, moved by its last part request, were now.
    let began = |ago: &str| {
        format!(
            "update videos set created_at = now() - interval '{ago}', upload_expires_at = now()
             where id = $1::uuid"
        )
    };
    // Ten minutes before S3 would be allowed to abort it a day later: the deadline moves to
    // six days after the start, not a whole upload expiry (an hour here) from now.
    sqlx::query(&began("5 days 23 hours 50 minutes"))
        .bind(&id)
        .execute(&app.pool)
        .await?;
    expect_status(ask_parts(&app, &id, &[1], &[100]).await?, 200).await?;
    let deadline = upload_deadline(&app, &id).await?;
    let left = deadline - OffsetDateTime::now_utc();
    ensure!(
        left < time::Duration::minutes(11),
        "the deadline moved to {deadline}, past six days after the start"
    );
    // Past six days: no more part URLs, with a reason.
    sqlx::query(&began("6 days 1 minute"))
        .bind(&id)
        .execute(&app.pool)
        .await?;
    let refused = ask_parts(&app, &id, &[2], &[100]).await?;
    expect_error(refused, 409, "upload_not_active").await?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_upload_larger_than_allowed_fails_at_complete() -> Result<()> {
    // 6 MiB allowed: parts of 5 MiB, so two parts can exceed it.
    let app = spawn(6 * 1024 * 1024).await?;
    let id = video_id(&create_growing(&app).await?)?;
    let one = send_part(&app, &id, 1, &vec![1u8; 5 * MIB]).await?;
    let two = send_part(&app, &id, 2, &vec![2u8; 2 * MIB]).await?;
    expect_error(
        app.complete(&id, &[one, two]).await?,
        413,
        "upload_too_large",
    )
    .await?;
    failed_and_deleted(&app, &id).await?;
    app.stop().await
}

/// The byte quotas, which a growing upload's create cannot check (it has no size yet), are
/// checked at complete; admins stay exempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_upload_past_a_byte_quota_fails_at_complete() -> Result<()> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    settings.api.max_upload_bytes = 64 * 1024 * 1024;
    settings.api.quotas.bytes_per_day = 6 * 1024 * 1024;
    let app = TestApp::spawn_with(db, settings).await?;
    let creator = crate::limits::creator_key(&app, "streamer").await?;
    let as_creator = |path: &str, body: Value| {
        app.http
            .post(app.url(path))
            .bearer_auth(&creator)
            .json(&body)
    };
    let body =
        json!({"title": "live", "filename": "live.mkv", "size_bytes": null, "growing": true});
    let id =
        video_id(&expect_status(as_creator("/api/v1/videos", body).send().await?, 201).await?)?;
    let mut parts = Vec::new();
    for (n, size) in [(1, 5 * MIB), (2, 2 * MIB)] {
        let body = json!({"part_numbers": [n], "sizes": [size]});
        let asked = as_creator(&format!("/api/v1/videos/{id}/upload/parts"), body);
        let answer = expect_status(asked.send().await?, 200).await?;
        let url = answer["parts"][0]["url"].as_str().context("url")?;
        parts.push(json!({"part_number": n, "etag": app.put_part(url, vec![7u8; size]).await?}));
    }
    let complete = as_creator(
        &format!("/api/v1/videos/{id}/upload/complete"),
        json!({ "parts": parts }),
    );
    let refused = expect_error(complete.send().await?, 403, "quota_exceeded").await?;
    ensure!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("daily upload limit")),
        "{refused}"
    );
    failed_and_deleted(&app, &id).await?;

    // The same bytes from an admin complete.
    let id = video_id(&create_growing(&app).await?)?;
    let one = send_part(&app, &id, 1, &vec![1u8; 5 * MIB]).await?;
    let two = send_part(&app, &id, 2, &vec![2u8; 2 * MIB]).await?;
    expect_status(app.complete(&id, &[one, two]).await?, 202).await?;
    app.stop().await
}
