//! Chapters (issue 19): listed in a description (YouTube's rules) or set with `PUT …/chapters`,
//! checked (422 naming the bad entry), only on one's own videos, served as a WebVTT chapters
//! track to whoever may watch; and in headless Chromium, the watch page's seek-bar marks and
//! chapter list, deep links (`?t=`), shortcuts, speed and resuming.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;
use vodnest_e2e::{
    TestApp, TestDatabase, TestSettings, browser, clip, expect_error, expect_status,
};

const DESCRIPTION: &str = "Today's run.\n\n0:00 Intro\n0:12 - The <b>middle</b> & more\n0:25 End\n";

/// An API without a processor: videos are moved along in Postgres.
async fn app_without_processor() -> Result<TestApp> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    TestApp::spawn_with(db, settings).await
}

/// A video with `description`, made ready and 40 s long in Postgres.
async fn ready_video(app: &TestApp, description: &str) -> Result<String> {
    let body = json!({
        "title": "Chaptered", "filename": "run.mp4", "size_bytes": 1000,
        "content_type": "video/mp4", "description": description,
    });
    let created = expect_status(app.post("/api/v1/videos", &body).send().await?, 201).await?;
    let id = created["video"]["id"].as_str().context("id")?.to_owned();
    sqlx::query(
        "update videos set status = 'ready', playable = true, progress = 1, duration_s = 40,
           upload_id = null where id = $1",
    )
    .bind(id.parse::<Uuid>()?)
    .execute(&app.pool)
    .await?;
    Ok(id)
}

fn starts(video: &Value) -> Vec<f64> {
    video["chapters"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["start_s"].as_f64()).collect())
        .unwrap_or_default()
}

fn put_chapters(app: &TestApp, id: &str, body: &Value) -> reqwest::RequestBuilder {
    app.http
        .put(app.url(&format!("/api/v1/videos/{id}/chapters")))
        .bearer_auth(&app.token)
        .json(body)
}

fn patch(app: &TestApp, id: &str, body: &Value) -> reqwest::RequestBuilder {
    app.http
        .patch(app.url(&format!("/api/v1/videos/{id}")))
        .bearer_auth(&app.token)
        .json(body)
}

/// `POST /api/v1/users` and a key for the new creator.
async fn creator_token(app: &TestApp, name: &str) -> Result<String> {
    let body = json!({"username": name, "role": "creator"});
    let added = expect_status(app.post("/api/v1/users", &body).send().await?, 201).await?;
    let user = added["user"]["id"].as_str().context("id")?;
    let keys = json!({"name": "k", "scopes": ["videos:read", "videos:write"]});
    let path = format!("/api/v1/users/{user}/keys");
    let made = expect_status(app.post(&path, &keys).send().await?, 201).await?;
    Ok(made["token"].as_str().context("token")?.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptions_and_owners_set_chapters() -> Result<()> {
    let app = app_without_processor().await?;
    let id = ready_video(&app, DESCRIPTION).await?;
    let video = app.video(&id).await?;
    ensure!(starts(&video) == [0.0, 12.0, 25.0], "{video}");
    ensure!(
        video["chapters"][1]["title"] == "The <b>middle</b> & more",
        "{video}"
    );

    // A new description lists other chapters; one that breaks YouTube's rules lists none.
    let edited = expect_status(
        patch(
            &app,
            &id,
            &json!({"description": "0:00 a\n0:20 b\n0:30 c\n0:35 d"}),
        )
        .send()
        .await?,
        200,
    )
    .await?;
    ensure!(starts(&edited["video"]).is_empty(), "5 s apart: {edited}");
    let edited = expect_status(
        patch(&app, &id, &json!({"description": "0:00 a\n0:20 b\n0:30 c"}))
            .send()
            .await?,
        200,
    )
    .await?;
    ensure!(starts(&edited["video"]) == [0.0, 20.0, 30.0], "{edited}");

    // Set explicitly: they win over the description until cleared.
    let set = json!({"chapters": [
        {"start_s": 0, "title": " Start "}, {"start_s": 7.5, "title": "Fight"},
    ]});
    let put = expect_status(put_chapters(&app, &id, &set).send().await?, 200).await?;
    ensure!(starts(&put["video"]) == [0.0, 7.5], "{put}");
    ensure!(put["video"]["chapters"][0]["title"] == "Start", "{put}");
    let edited = expect_status(
        patch(&app, &id, &json!({"description": DESCRIPTION}))
            .send()
            .await?,
        200,
    )
    .await?;
    ensure!(
        starts(&edited["video"]) == [0.0, 7.5],
        "explicit ones stay: {edited}"
    );
    let cleared = expect_status(
        put_chapters(&app, &id, &json!({"chapters": []}))
            .send()
            .await?,
        200,
    )
    .await?;
    ensure!(
        starts(&cleared["video"]) == [0.0, 12.0, 25.0],
        "back to the description's: {cleared}"
    );

    // Bad bodies: 422 naming the entry.
    let long = "x".repeat(101);
    for (body, names) in [
        (
            json!({"chapters": [{"start_s": 3, "title": "a"}]}),
            "chapters[0]",
        ),
        (
            json!({"chapters": [{"start_s": 0, "title": "a"}, {"start_s": 20, "title": "b"}, {"start_s": 10, "title": "c"}]}),
            "chapters[2]",
        ),
        (
            json!({"chapters": [{"start_s": 0, "title": "a"}, {"start_s": 40, "title": "past the end"}]}),
            "chapters[1]",
        ),
        (
            json!({"chapters": [{"start_s": 0, "title": "  "}]}),
            "chapters[0]",
        ),
        (
            json!({"chapters": [{"start_s": 0, "title": long}]}),
            "chapters[0]",
        ),
        (
            json!({"chapters": [{"start_s": 0, "title": "a\u{1b}[31m"}]}),
            "chapters[0]",
        ),
    ] {
        let refused = expect_error(
            put_chapters(&app, &id, &body).send().await?,
            422,
            "invalid_chapters",
        )
        .await?;
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        ensure!(message.starts_with(names), "{body} → {refused}");
    }
    let too_many: Vec<Value> = (0..501)
        .map(|i| json!({"start_s": f64::from(i) * 0.05, "title": "c"}))
        .collect();
    let refused = expect_error(
        put_chapters(&app, &id, &json!({"chapters": too_many}))
            .send()
            .await?,
        422,
        "invalid_chapters",
    )
    .await?;
    ensure!(refused.to_string().contains("at most 500"), "{refused}");
    for body in [
        json!({"chapters": [{"start_s": 0, "title": "a", "extra": 1}]}),
        json!({"chapters": [{"start_s": "0", "title": "a"}]}),
        json!({"chapters": "0:00 Intro"}),
        json!({}),
    ] {
        let refused = expect_error(
            put_chapters(&app, &id, &body).send().await?,
            422,
            "invalid_body",
        )
        .await?;
        ensure!(
            refused.to_string().contains("chapters"),
            "{body} → {refused}"
        );
    }
    let video = app.video(&id).await?;
    ensure!(
        starts(&video) == [0.0, 12.0, 25.0],
        "refusals changed nothing: {video}"
    );

    // Someone else's video is not there; their own is.
    let carol = creator_token(&app, "carol").await?;
    let as_carol =
        |method: Method, path: String| app.http.request(method, app.url(&path)).bearer_auth(&carol);
    let set = json!({"chapters": [{"start_s": 0, "title": "mine"}]});
    let response = as_carol(Method::PUT, format!("/api/v1/videos/{id}/chapters"))
        .json(&set)
        .send()
        .await?;
    expect_error(response, 404, "not_found").await?;
    let response = as_carol(Method::GET, format!("/api/v1/videos/{id}/chapters.vtt"))
        .send()
        .await?;
    expect_error(response, 404, "not_found").await?;
    let body = json!({"filename": "hers.mp4", "size_bytes": 1000, "description": DESCRIPTION});
    let response = as_carol(Method::POST, "/api/v1/videos".into())
        .json(&body)
        .send()
        .await?;
    let hers = expect_status(response, 201).await?;
    ensure!(starts(&hers["video"]) == [0.0, 12.0, 25.0], "{hers}");
    let hers = hers["video"]["id"].as_str().context("id")?;
    let response = as_carol(Method::PUT, format!("/api/v1/videos/{hers}/chapters"))
        .json(&set)
        .send()
        .await?;
    ensure!(starts(&expect_status(response, 200).await?["video"]) == [0.0]);
    // An admin may set anyone's.
    let by_admin = expect_status(
        put_chapters(&app, hers, &json!({"chapters": []}))
            .send()
            .await?,
        200,
    )
    .await?;
    ensure!(
        starts(&by_admin["video"]) == [0.0, 12.0, 25.0],
        "{by_admin}"
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chapters_track_is_for_those_who_may_watch() -> Result<()> {
    let app = app_without_processor().await?;
    let id = ready_video(&app, DESCRIPTION).await?;
    let vtt_path = format!("/api/v1/videos/{id}/chapters.vtt");
    let public_path = format!("/api/v1/public/videos/{id}/chapters.vtt");

    let response = app.get(&vtt_path).send().await?;
    ensure!(response.status() == 200, "{}", response.status());
    ensure!(
        vodnest_e2e::header(&response, "content-type").starts_with("text/vtt"),
        "{response:?}"
    );
    let track = response.text().await?;
    let expected = "WEBVTT\n\n1\n00:00:00.000 --> 00:00:12.000\nIntro\n\
                    \n2\n00:00:12.000 --> 00:00:25.000\nThe &lt;b&gt;middle&lt;/b&gt; &amp; more\n\
                    \n3\n00:00:25.000 --> 00:00:40.000\nEnd\n";
    ensure!(track == expected, "{track}");

    // A private video: not for anonymous viewers, on either route.
    let anonymous = app.http.get(app.url(&public_path)).send().await?;
    expect_error(anonymous, 404, "not_found").await?;
    let anonymous = app.http.get(app.url(&vtt_path)).send().await?;
    expect_error(anonymous, 401, "unauthorized").await?;
    // The session cookie the pages use reads it too.
    let cookie = app.session_cookie().await?;
    let with_cookie = app
        .http
        .get(app.url(&vtt_path))
        .header("cookie", cookie)
        .send()
        .await?;
    ensure!(with_cookie.text().await? == expected, "the cookie's track");

    // Unlisted: anyone with the link, from any origin.
    expect_status(
        patch(&app, &id, &json!({"visibility": "unlisted"}))
            .send()
            .await?,
        200,
    )
    .await?;
    let anonymous = app.http.get(app.url(&public_path)).send().await?;
    ensure!(
        vodnest_e2e::header(&anonymous, "access-control-allow-origin") == "*",
        "{anonymous:?}"
    );
    ensure!(anonymous.text().await? == expected, "the public track");

    // No chapters: a track without cues.
    let plain = ready_video(&app, "no chapters here").await?;
    let track = app
        .get(&format!("/api/v1/videos/{plain}/chapters.vtt"))
        .send()
        .await?
        .text()
        .await?;
    ensure!(track == "WEBVTT\n", "{track}");
    let missing = Uuid::now_v7();
    let response = app
        .get(&format!("/api/v1/videos/{missing}/chapters.vtt"))
        .send()
        .await?;
    expect_error(response, 404, "not_found").await?;
    app.stop().await
}

/// A 40 s video whose description lists chapters at 0:00, 0:12 and 0:25, watched in Chromium:
/// marks and list, a click on a chapter, `?t=` on the watch page and the embed player, → and
/// K, the speed menu, and resuming after a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chapters_and_comforts_in_chromium() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("forty.mp4");
    let encode = [&clip::X264[..], &["-r", "15"], &clip::AAC[..]].concat();
    clip::make(&source, 40, "320x180", true, &encode).await?;
    let (id, etags) = app.upload_parts(&source, "Forty seconds").await?;
    let edit = json!({"description": DESCRIPTION, "visibility": "unlisted"});
    expect_status(patch(&app, &id, &edit).send().await?, 200).await?;
    expect_status(app.complete(&id, &etags).await?, 202).await?;
    let frames = vodnest_e2e::ws::follow(
        &app.events_url(&id),
        &["ready", "failed"],
        Duration::from_secs(180),
    )
    .await?;
    let video = app.video(&id).await?;
    ensure!(video["status"] == "ready", "{video}\n{frames:?}");
    ensure!(starts(&video) == [0.0, 12.0, 25.0], "{video}");

    let result = browser::run(&app, "chapters.mjs", &["--video".as_ref(), id.as_ref()]).await?;
    ensure!(result["marks"] == json!([0, 12, 25]), "{result}");
    ensure!(
        result["list"] == json!(["Intro", "The <b>middle</b> & more", "End"]),
        "{result}"
    );
    ensure!(result["trackCues"] == 3, "{result}");
    let near = |value: &Value, want: f64, slack: f64| {
        value
            .as_f64()
            .is_some_and(|v| v >= want - 0.3 && v <= want + slack)
    };
    ensure!(near(&result["afterChapterClick"], 12.0, 1.5), "{result}");
    ensure!(
        result["currentChapter"] == "The <b>middle</b> & more",
        "{result}"
    );
    ensure!(
        result["afterArrow"]
            .as_f64()
            .zip(result["beforeArrow"].as_f64())
            .is_some_and(|(after, before)| (after - before - 5.0).abs() < 0.5),
        "{result}"
    );
    ensure!(result["pausedByK"] == true, "{result}");
    ensure!(result["rate"] == 1.5, "{result}");
    ensure!(near(&result["resumedAt"], 20.0, 1.5), "{result}");
    ensure!(result["rateAfterReload"] == 1.5, "{result}");
    ensure!(near(&result["linkedAt"], 30.0, 1.5), "{result}");
    ensure!(near(&result["embedAt"], 25.0, 1.5), "{result}");
    let link = result["copiedLink"].as_str().unwrap_or_default();
    ensure!(
        link.starts_with(&format!("{}/watch?v={id}&t=", app.api_url)),
        "{result}"
    );
    ensure!(result["pageErrors"] == json!([]), "{result}");
    app.stop().await
}
