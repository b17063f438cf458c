//! What bad input gets: the right status and error code, nothing lost, nothing enqueued twice.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::json;
use vodnest_e2e::{TestApp, expect_error, expect_status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_refuses_missing_and_wrong_tokens() -> Result<()> {
    let app = TestApp::spawn().await?;
    let no_token = app.http.get(app.url("/api/v1/videos")).send().await?;
    expect_error(no_token, 401, "unauthorized").await?;
    let wrong = app
        .http
        .get(app.url("/api/v1/videos"))
        .bearer_auth("not-the-token")
        .send()
        .await?;
    expect_error(wrong, 401, "unauthorized").await?;
    let ws_without_token = app
        .http
        .get(app.url(&format!("/api/v1/videos/{}/events", uuid::Uuid::new_v4())))
        .send()
        .await?;
    expect_error(ws_without_token, 401, "unauthorized").await?;
    expect_status(app.get("/api/v1/videos").send().await?, 200).await?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_videos_are_404() -> Result<()> {
    let app = TestApp::spawn().await?;
    let unknown = uuid::Uuid::new_v4();
    for path in [
        format!("/api/v1/videos/{unknown}"),
        "/api/v1/videos/not-a-uuid".to_owned(),
        format!("/api/v1/videos/{unknown}/upload"),
        format!("/api/v1/videos/{unknown}/events"),
    ] {
        expect_error(app.get(&path).send().await?, 404, "not_found").await?;
    }
    let complete = app
        .post(
            &format!("/api/v1/videos/{unknown}/upload/complete"),
            &json!({"parts": []}),
        )
        .send()
        .await?;
    expect_error(complete, 404, "not_found").await?;
    expect_error(
        app.delete(&format!("/api/v1/videos/{unknown}"))
            .send()
            .await?,
        404,
        "not_found",
    )
    .await?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_upload_requests_get_clear_errors() -> Result<()> {
    let app = TestApp::spawn().await?;
    let zero = app
        .post(
            "/api/v1/videos",
            &json!({"filename": "a.mp4", "size_bytes": 0}),
        )
        .send()
        .await?;
    expect_error(zero, 422, "invalid_size").await?;
    let huge = app
        .post(
            "/api/v1/videos",
            &json!({"filename": "a.mp4", "size_bytes": 1_u64 << 50}),
        )
        .send()
        .await?;
    expect_error(huge, 413, "upload_too_large").await?;
    let missing_field = app
        .post("/api/v1/videos", &json!({"size_bytes": 10}))
        .send()
        .await?;
    expect_error(missing_field, 422, "invalid_body").await?;
    // serde reads a struct from an array too; the API takes objects only.
    let array = app
        .post("/api/v1/videos", &json!([null, "a.mp4", 10]))
        .send()
        .await?;
    expect_error(array, 422, "invalid_body").await?;
    let not_json = app
        .http
        .post(app.url("/api/v1/videos"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await?;
    expect_error(not_json, 400, "invalid_json").await?;

    let created = app.create_video("t", "a.mp4", 1000).await?;
    let id = created["video"]["id"].as_str().context("id")?;
    let out_of_range = app
        .post(
            &format!("/api/v1/videos/{id}/upload/parts"),
            &json!({"part_numbers": [2]}),
        )
        .send()
        .await?;
    expect_error(out_of_range, 422, "invalid_part_number").await?;
    let missing = app.complete(id, &[]).await?;
    expect_error(missing, 422, "missing_parts").await?;
    let wrong_etag = app.complete(id, &[(1, "\"0123\"".to_owned())]).await?;
    expect_error(wrong_etag, 422, "invalid_parts").await?;
    // A control character would make malformed XML of the request to S3 (found by fuzzing).
    let not_an_etag = app.complete(id, &[(1, "\"ab\u{7}cd\"".to_owned())]).await?;
    let refused = expect_error(not_an_etag, 422, "invalid_parts").await?;
    ensure!(
        refused["error"]["message"] == "part 1 has no valid ETag",
        "{refused}"
    );
    let jobs: (i64,) = sqlx::query_as("select count(*) from jobs")
        .fetch_one(&app.pool)
        .await?;
    ensure!(jobs.0 == 0, "nothing may be enqueued by refused requests");
    let video = app.video(id).await?;
    ensure!(
        video["status"] == "awaiting_upload",
        "a refused complete loses nothing: {video}"
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_video_upload_fails_with_a_reason() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("notes.mp4");
    tokio::fs::write(&path, "these are meeting notes, not a video\n".repeat(100)).await?;
    let (id, _, video) = app
        .upload_until_settled(&path, "not a video", Duration::from_secs(120))
        .await?;
    ensure!(video["status"] == "failed", "{video}");
    let error = video["error"].as_str().unwrap_or_default();
    ensure!(
        error.contains("not a video"),
        "the error should say so: {error:?}"
    );
    let attempts: (i32,) = sqlx::query_as("select attempt from jobs where video_id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await?;
    ensure!(attempts.0 == 1, "bad input is not retried");
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_twice_is_harmless() -> Result<()> {
    let db = vodnest_e2e::TestDatabase::create().await?;
    let mut settings = vodnest_e2e::TestSettings::new(&db)?;
    // Without a processor the job stays queued, so the second call meets the first's result.
    settings.with_processor = false;
    let app = TestApp::spawn_with(db, settings).await?;
    let created = app.create_video("twice", "a.bin", 1234).await?;
    let id = created["video"]["id"].as_str().context("id")?.to_owned();
    let (n, url) = app
        .part_urls(&id, &[1])
        .await?
        .into_iter()
        .next()
        .context("one part")?;
    let etag = app.put_part(&url, vec![7u8; 1234]).await?;
    let parts = vec![(n, etag)];
    let (first, second) = tokio::join!(app.complete(&id, &parts), app.complete(&id, &parts));
    let first = expect_status(first?, 202).await?;
    let second = expect_status(second?, 202).await?;
    ensure!(first["video"]["status"] == "queued", "{first}");
    ensure!(second["video"]["status"] == "queued", "{second}");
    let third = expect_status(app.complete(&id, &parts).await?, 202).await?;
    ensure!(third["video"]["status"] == "queued", "{third}");
    let jobs: (i64,) = sqlx::query_as("select count(*) from jobs where video_id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await?;
    ensure!(jobs.0 == 1, "exactly one job, got {}", jobs.0);
    app.stop().await
}
