//! What anyone sees without an account: the public JSON routes (public videos listed, unlisted
//! ones readable by id, private ones 404 exactly as missing ones, search, owner filter, paging,
//! the owner's details hidden), the public events websocket (any origin, a bounded number per
//! client), view counts (once per viewer per day, only from the site's own pages), the pages
//! (library, creator, watch with Open Graph tags, embed with its own framing policy), and an
//! anonymous viewer in headless Chromium playing a public and an unlisted video, and the embed
//! player inside an iframe of another origin.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use futures::StreamExt;
use reqwest::header::{COOKIE, USER_AGENT};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use uuid::Uuid;
use vodnest_e2e::{
    TestApp, TestDatabase, TestSettings, browser, clip, expect_error, expect_status,
};

const EVIL: &str = "http://evil.example";

/// An API without a processor: videos are moved along in Postgres.
async fn app_with(adjust: impl FnOnce(&mut TestSettings)) -> Result<TestApp> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    adjust(&mut settings);
    TestApp::spawn_with(db, settings).await
}

/// Creates a video with `visibility` and `description` and marks it ready and playable
/// (`playable: false` leaves it processing) without processing it.
async fn video(
    app: &TestApp,
    title: &str,
    visibility: &str,
    description: &str,
    playable: bool,
) -> Result<String> {
    let body = json!({
        "title": title, "filename": "secret-name.mp4", "size_bytes": 1000,
        "content_type": "video/mp4", "visibility": visibility, "description": description,
    });
    let created = expect_status(app.post("/api/v1/videos", &body).send().await?, 201).await?;
    let id = created["video"]["id"].as_str().context("id")?.to_owned();
    let (status, stage) = if playable {
        ("ready", None)
    } else {
        ("processing", Some("transcoding"))
    };
    sqlx::query(
        "update videos set status = $2, stage = $3, playable = $4, progress = 0.5,
           duration_s = 75, upload_id = null where id = $1",
    )
    .bind(id.parse::<Uuid>()?)
    .bind(status)
    .bind(stage)
    .bind(playable)
    .execute(&app.pool)
    .await?;
    Ok(id)
}

/// A creator named `name` (made in Postgres: the accounts routes are not this test's subject).
async fn creator(app: &TestApp, name: &str) -> Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query("insert into users (id, username, role) values ($1, $2, 'creator')")
        .bind(id)
        .bind(name)
        .execute(&app.pool)
        .await?;
    Ok(id)
}

async fn give(app: &TestApp, video: &str, owner: Uuid) -> Result<()> {
    sqlx::query("update videos set owner_id = $2 where id = $1")
        .bind(video.parse::<Uuid>()?)
        .bind(owner)
        .execute(&app.pool)
        .await?;
    Ok(())
}

/// `GET` without a token.
async fn anonymous(app: &TestApp, path: &str) -> Result<reqwest::Response> {
    Ok(app.http.get(app.url(path)).send().await?)
}

async fn public_ids(app: &TestApp, query: &str) -> Result<(Vec<String>, Value)> {
    let page = expect_status(
        anonymous(app, &format!("/api/v1/public/videos{query}")).await?,
        200,
    )
    .await?;
    let ids = page["videos"]
        .as_array()
        .context("videos")?
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect();
    Ok((ids, page))
}

/// Whether `got` lists exactly `want`, in order.
fn are(got: &[String], want: &[&String]) -> bool {
    got.len() == want.len() && got.iter().zip(want).all(|(a, b)| a == *b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_routes_show_public_and_unlisted_videos_only() -> Result<()> {
    let app = app_with(|_| {}).await?;
    let ana = creator(&app, "ana").await?;
    let cats = video(&app, "Cats at play", "public", "", true).await?;
    let dogs = video(&app, "Dogs 100% fun_time", "public", "", true).await?;
    give(&app, &dogs, ana).await?;
    let cooking = video(&app, "cooking CATS", "public", "", true).await?;
    let unlisted = video(&app, "Unlisted cats", "unlisted", "", true).await?;
    let private = video(&app, "Private cats", "private", "", true).await?;
    let processing = video(&app, "Processing cats", "public", "", false).await?;

    // Listed: public and playable, newest first.
    let (all, page) = public_ids(&app, "").await?;
    ensure!(are(&all, &[&cooking, &dogs, &cats]), "{page}");
    // What only the owner sees stays out: the upload's filename, an error's details.
    ensure!(!page.to_string().contains("secret-name"), "{page}");
    // Title search: case-insensitive, with LIKE's own characters taken literally.
    ensure!(are(
        &public_ids(&app, "?q=cats").await?.0,
        &[&cooking, &cats]
    ));
    ensure!(are(&public_ids(&app, "?q=100%25").await?.0, &[&dogs]));
    ensure!(are(&public_ids(&app, "?q=_").await?.0, &[&dogs]));
    ensure!(are(&public_ids(&app, "?q=%25").await?.0, &[&dogs]));
    ensure!(are(&public_ids(&app, "?owner=ana").await?.0, &[&dogs]));
    ensure!(are(
        &public_ids(&app, "?owner=admin&q=cats").await?.0,
        &[&cooking, &cats]
    ));
    ensure!(public_ids(&app, "?owner=nobody").await?.0.is_empty());
    // Names no user can have (too long, a NUL byte Postgres would refuse) list nothing.
    for name in ["x".repeat(200), "ana%00".into()] {
        ensure!(
            public_ids(&app, &format!("?owner={name}"))
                .await?
                .0
                .is_empty()
        );
    }
    let long = "q".repeat(101);
    let refused = anonymous(&app, &format!("/api/v1/public/videos?q={long}")).await?;
    expect_error(refused, 422, "invalid_search").await?;
    let refused = anonymous(&app, "/api/v1/public/videos?limit=0").await?;
    expect_error(refused, 422, "invalid_limit").await?;
    let refused = anonymous(&app, "/api/v1/public/videos?cursor=nope").await?;
    expect_error(refused, 400, "invalid_cursor").await?;

    // Paging, one at a time, ends with a null cursor.
    let mut seen = Vec::new();
    let mut query = "?limit=1".to_owned();
    loop {
        let (ids, page) = public_ids(&app, &query).await?;
        ensure!(ids.len() == 1, "{page}");
        seen.extend(ids);
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=1&cursor={cursor}"),
            None => break,
        }
        ensure!(seen.len() < 10, "paging does not end");
    }
    ensure!(seen == all, "{seen:?}");

    // By id: public and unlisted; private, missing and malformed alike 404.
    for id in [&cats, &unlisted, &processing] {
        let found = expect_status(
            anonymous(&app, &format!("/api/v1/public/videos/{id}")).await?,
            200,
        )
        .await?;
        ensure!(found["video"]["id"] == id.as_str(), "{found}");
        ensure!(found["video"].get("filename").is_none(), "{found}");
    }
    let missing = Uuid::now_v7().to_string();
    let mut bodies = Vec::new();
    for id in [private.as_str(), missing.as_str(), "not-a-uuid"] {
        let response = anonymous(&app, &format!("/api/v1/public/videos/{id}")).await?;
        bodies.push(expect_error(response, 404, "not_found").await?);
    }
    ensure!(
        bodies[0] == bodies[1],
        "a private video must look missing: {bodies:?}"
    );
    // A token changes nothing on the public routes: a private video is not public.
    let with_token = app
        .get(&format!("/api/v1/public/videos/{private}"))
        .send()
        .await?;
    expect_error(with_token, 404, "not_found").await?;

    // A failed video's error, in the processor's words, is for its owner only.
    sqlx::query(
        "update videos set status = 'failed', error = 'ffmpeg: /tmp/work/x.mp4: bad' where id = $1",
    )
    .bind(unlisted.parse::<Uuid>()?)
    .execute(&app.pool)
    .await?;
    let shown = expect_status(
        anonymous(&app, &format!("/api/v1/public/videos/{unlisted}")).await?,
        200,
    )
    .await?;
    ensure!(
        shown["video"]["error"] == "this video could not be processed",
        "{shown}"
    );
    ensure!(app.video(&unlisted).await?["error"] == "ffmpeg: /tmp/work/x.mp4: bad");
    app.stop().await
}

/// `POST /api/v1/public/videos/{id}/views` as this site's player sends it.
fn count_view(
    app: &TestApp,
    id: &str,
    agent: &str,
    origin: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut request = app
        .http
        .post(app.url(&format!("/api/v1/public/videos/{id}/views")))
        .header(USER_AGENT, agent);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request
}

async fn views(app: &TestApp, id: &str) -> Result<i64> {
    app.video(id).await?["view_count"]
        .as_i64()
        .context("view_count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_counts_once_per_viewer_per_day() -> Result<()> {
    let app = app_with(|_| {}).await?;
    let id = video(&app, "Counted", "unlisted", "", true).await?;
    let own = Some(app.api_url.as_str());
    for _ in 0..3 {
        expect_status(count_view(&app, &id, "Firefox", own).send().await?, 204).await?;
    }
    ensure!(views(&app, &id).await? == 1);
    // Another browser on the same address is another viewer.
    expect_status(count_view(&app, &id, "Chromium", own).send().await?, 204).await?;
    ensure!(views(&app, &id).await? == 2);
    // Other sites' pages cannot make their visitors count views.
    for origin in [Some(EVIL), None] {
        let refused = count_view(&app, &id, "Safari", origin).send().await?;
        expect_error(refused, 403, "cross_origin_request").await?;
    }
    // Private videos and videos that cannot play yet are not counted.
    let private = video(&app, "Private", "private", "", true).await?;
    let waiting = video(&app, "Waiting", "public", "", false).await?;
    for other in [&private, &waiting] {
        let refused = count_view(&app, other, "Firefox", own).send().await?;
        expect_error(refused, 404, "not_found").await?;
        ensure!(views(&app, other).await? == 0);
    }
    // Nothing personal is kept: one salt for the day and opaque digests. Tomorrow the viewer
    // counts again; the sweep forgets yesterday's salt and digests older than that.
    let (salts, digests): (i64, i64) = sqlx::query_as(
        "select (select count(*) from view_salts), (select count(*) from video_views)",
    )
    .fetch_one(&app.pool)
    .await?;
    ensure!(
        salts == 1 && digests == 2,
        "{salts} salts, {digests} digests"
    );
    sqlx::query("update video_views set day = day - 2")
        .execute(&app.pool)
        .await?;
    sqlx::query("update view_salts set day = day - 2")
        .execute(&app.pool)
        .await?;
    expect_status(count_view(&app, &id, "Firefox", own).send().await?, 204).await?;
    ensure!(views(&app, &id).await? == 3);
    vodnest_core::viewers::sweep(&app.pool).await?;
    let (salts, digests): (i64, i64) = sqlx::query_as(
        "select (select count(*) from view_salts), (select count(*) from video_views)",
    )
    .fetch_one(&app.pool)
    .await?;
    ensure!(
        salts == 1 && digests == 1,
        "{salts} salts, {digests} digests after the sweep"
    );
    ensure!(views(&app, &id).await? == 3, "the sweep keeps the counts");
    app.stop().await
}

/// Opens the public events socket of `id` with `origin`: its first frame, or the HTTP status
/// that refused it. The socket is returned open, to hold its place.
async fn open_public_socket(
    app: &TestApp,
    id: &str,
    origin: &str,
) -> Result<Result<(Value, impl Sized), u16>> {
    let url = format!(
        "{}/api/v1/public/videos/{id}/events",
        app.api_url.replacen("http://", "ws://", 1)
    );
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("origin", origin.parse()?);
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut socket, _)) => loop {
            let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
                .await
                .context("no frame arrived")?
                .context("the socket closed")??;
            if let Message::Text(text) = message {
                return Ok(Ok((serde_json::from_str(text.as_str())?, socket)));
            }
        },
        Err(WsError::Http(response)) => Ok(Err(response.status().as_u16())),
        Err(other) => bail!("websocket: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_socket_is_open_to_any_page_but_bounded_per_client() -> Result<()> {
    let app = app_with(|settings| settings.api.public_sockets_per_ip = 2).await?;
    let unlisted = video(&app, "Followed", "unlisted", "", false).await?;
    let private = video(&app, "Hidden", "private", "", false).await?;
    ensure!(matches!(
        open_public_socket(&app, &private, &app.api_url).await?,
        Err(404)
    ));

    // Public data and no one's authority: another site's page may follow it too.
    let (frame, first) = open_public_socket(&app, &unlisted, EVIL)
        .await?
        .map_err(|status| anyhow::anyhow!("refused with {status}"))?;
    ensure!(
        frame["type"] == "snapshot" && frame["video"]["id"] == unlisted.as_str(),
        "{frame}"
    );
    ensure!(frame["video"]["status"] == "processing", "{frame}");
    let (_, second) = open_public_socket(&app, &unlisted, &app.api_url)
        .await?
        .map_err(|status| anyhow::anyhow!("refused with {status}"))?;
    // A third from the same address waits for one of them to close.
    ensure!(matches!(
        open_public_socket(&app, &unlisted, EVIL).await?,
        Err(429)
    ));
    let refused = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/public/videos/{unlisted}/events")))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await?;
    ensure!(refused.headers().contains_key("retry-after"), "{refused:?}");
    expect_error(refused, 429, "rate_limited").await?;
    drop(first);
    vodnest_testkit::eventually(
        "a closed socket frees its place",
        Duration::from_secs(10),
        async || {
            Ok(match open_public_socket(&app, &unlisted, EVIL).await? {
                Ok(_) => vodnest_testkit::Look::Done(()),
                Err(status) => vodnest_testkit::Look::NotYet(format!("refused with {status}")),
            })
        },
    )
    .await?;

    // Status frames follow, as on the owner's socket.
    drop(second);
    let url = format!(
        "{}/api/v1/public/videos/{unlisted}/events",
        app.api_url.replacen("http://", "ws://", 1)
    );
    let follow = tokio::spawn(async move {
        vodnest_e2e::ws::follow(&url, &["ready"], Duration::from_secs(30)).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    sqlx::query("update videos set status = 'ready', progress = 1 where id = $1")
        .bind(unlisted.parse::<Uuid>()?)
        .execute(&app.pool)
        .await?;
    let frames = follow.await??;
    ensure!(frames[0]["type"] == "snapshot", "{frames:?}");
    ensure!(
        frames
            .last()
            .is_some_and(|f| vodnest_e2e::ws::state(f)["status"] == "ready"),
        "{frames:?}"
    );
    app.stop().await
}

/// The value of `<meta property|name="{key}" content="...">` in `html`.
fn meta<'a>(html: &'a str, key: &str) -> Option<&'a str> {
    let at = html
        .find(&format!("property=\"{key}\" content=\""))
        .or_else(|| html.find(&format!("name=\"{key}\" content=\"")))?;
    let rest = &html[at..];
    let start = rest.find("content=\"")? + "content=\"".len();
    let end = rest[start..].find('"')?;
    Some(&rest[start..start + end])
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// HTML text as a browser reads it: minijinja's escapes undone (`&amp;` last).
fn unescape(html: &str) -> String {
    [
        ("&#x2f;", "/"),
        ("&#x27;", "'"),
        ("&quot;", "\""),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&amp;", "&"),
    ]
    .iter()
    .fold(html.to_owned(), |text, (escaped, plain)| {
        text.replace(escaped, plain)
    })
}

/// The status, the Content-Security-Policy and the body of a page, its escapes undone; the
/// raw body is checked separately where escaping is the point.
async fn page(app: &TestApp, path: &str, cookie: Option<&str>) -> Result<(u16, String, String)> {
    let mut request = app.http.get(app.url(path));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let policy = header(&response, "content-security-policy").to_owned();
    let raw = response.text().await?;
    ensure!(
        !raw.contains("<script>alert"),
        "unescaped text in {path}: {raw}"
    );
    Ok((status, policy, unescape(&raw)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_for_viewers_without_an_account() -> Result<()> {
    let app = app_with(|settings| {
        settings.api.embed_frame_ancestors = "https://blog.example 'self'".into();
    })
    .await?;
    let public = video(
        &app,
        "Speedrun <b>any%</b>",
        "public",
        "First line <script>alert(1)</script>\nSecond line",
        true,
    )
    .await?;
    // A published version with a poster, as a processor leaves it.
    sqlx::query(
        "update videos set has_poster = true, width = 320, height = 180, playable = true,
         media_prefix = 'videos/' || id || '/public/1/' where id = $1",
    )
    .bind(public.parse::<Uuid>()?)
    .execute(&app.pool)
    .await?;
    let unlisted = video(&app, "Link only", "unlisted", "", true).await?;
    let private = video(&app, "Diary", "private", "", true).await?;

    // The library: public videos for anyone, linked to their creator.
    let (status, policy, home) = page(&app, "/", None).await?;
    ensure!(status == 200, "{home}");
    ensure!(policy.contains("frame-ancestors 'none'"), "{policy}");
    ensure!(home.contains("Speedrun <b>any%</b>"), "{home}");
    ensure!(
        !home.contains("Link only") && !home.contains("Diary"),
        "{home}"
    );
    ensure!(home.contains("href=\"/u/admin\""), "{home}");
    ensure!(home.contains("href=\"/login\""), "a sign-in link: {home}");
    let (_, _, searched) = page(&app, "/?q=nothing-like-it", None).await?;
    ensure!(!searched.contains("Speedrun"), "{searched}");
    let (status, _, _) = page(&app, &format!("/?q={}", "x".repeat(101)), None).await?;
    ensure!(status == 400);
    // Signed in, one's own videos come first, private ones included.
    let cookie = app.session_cookie().await?;
    let (_, _, own) = page(&app, "/", Some(&cookie)).await?;
    ensure!(own.contains("Diary") && own.contains("Link only"), "{own}");

    // A creator's page; an unknown one is a 404.
    let (status, _, creator) = page(&app, "/u/admin", None).await?;
    ensure!(status == 200 && creator.contains("Speedrun") && !creator.contains("Diary"));
    ensure!(page(&app, "/u/nobody", None).await?.0 == 404);

    // The watch page: everything about the video, escaped, and the tags link previews read.
    let (status, policy, watch) = page(&app, &format!("/watch?v={public}"), None).await?;
    ensure!(status == 200, "{watch}");
    ensure!(policy.contains("frame-ancestors 'none'"), "{policy}");
    // Escaped (`page` checks), line breaks kept for the page's `white-space: pre-line`.
    ensure!(
        watch.contains("First line <script>alert(1)</script>\nSecond line"),
        "{watch}"
    );
    ensure!(watch.contains("1:15"), "the duration: {watch}");
    ensure!(watch.contains("href=\"/u/admin\""), "{watch}");
    ensure!(watch.contains("0 views"), "{watch}");
    let watch_url = format!("{}/watch?v={public}", app.api_url);
    ensure!(
        meta(&watch, "og:url") == Some(watch_url.as_str()),
        "{watch}"
    );
    ensure!(
        meta(&watch, "og:title") == Some("Speedrun <b>any%</b>"),
        "{watch}"
    );
    ensure!(
        meta(&watch, "og:image")
            .is_some_and(|u| u.ends_with(&format!("{public}/public/1/poster.jpg"))),
        "{watch}"
    );
    ensure!(meta(&watch, "og:description").is_some_and(|d| d.starts_with("First line")));
    ensure!(
        meta(&watch, "twitter:card") == Some("summary_large_image"),
        "{watch}"
    );
    ensure!(
        meta(&watch, "robots").is_none(),
        "a public video may be indexed"
    );
    ensure!(
        watch.contains(&format!("<iframe src=\"{}/embed/{public}\"", app.api_url)),
        "the embed snippet: {watch}"
    );
    let (status, _, link_only) = page(&app, &format!("/watch?v={unlisted}"), None).await?;
    ensure!(
        status == 200 && meta(&link_only, "robots") == Some("noindex"),
        "{link_only}"
    );
    for missing in [private.clone(), Uuid::now_v7().to_string(), "junk".into()] {
        let (status, _, body) = page(&app, &format!("/watch?v={missing}"), None).await?;
        ensure!(
            status == 404 && !body.contains("Diary"),
            "{missing}: {status}"
        );
    }
    let (status, _, _) = page(&app, &format!("/watch?v={private}"), Some(&cookie)).await?;
    ensure!(status == 200, "the owner watches their private video");

    // The embed player: framable where EMBED_FRAME_ANCESTORS says, for public and unlisted
    // videos only, whoever asks.
    let (status, policy, embed) = page(&app, &format!("/embed/{public}"), None).await?;
    ensure!(status == 200, "{embed}");
    ensure!(
        policy.contains("frame-ancestors https://blog.example 'self';"),
        "{policy}"
    );
    ensure!(
        meta(&embed, "og:url") == Some(watch_url.as_str()),
        "{embed}"
    );
    ensure!(page(&app, &format!("/embed/{unlisted}"), None).await?.0 == 200);
    for missing in [private.clone(), "junk".into()] {
        ensure!(
            page(&app, &format!("/embed/{missing}"), Some(&cookie))
                .await?
                .0
                == 404
        );
    }
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_viewer_watches_in_chromium() -> Result<()> {
    let app = TestApp::spawn().await?;
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("small.mp4");
    let encode = [&clip::X264[..], &["-r", "15"], &clip::AAC[..]].concat();
    clip::make(&source, 6, "320x180", true, &encode).await?;
    let public = app.upload_file(&source, "Public clip").await?;
    let unlisted = app.upload_file(&source, "Unlisted clip").await?;
    for (id, visibility) in [(&public, "public"), (&unlisted, "unlisted")] {
        let edit = app
            .http
            .patch(app.url(&format!("/api/v1/videos/{id}")))
            .bearer_auth(&app.token)
            .json(&json!({"visibility": visibility}));
        expect_status(edit.send().await?, 200).await?;
    }
    let private = video(&app, "Private clip", "private", "", true).await?;
    for id in [&public, &unlisted] {
        vodnest_e2e::ws::follow(&app.events_url(id), &["ready"], Duration::from_secs(120)).await?;
    }
    let result = browser::run(
        &app,
        "viewer.mjs",
        &[
            "--public".as_ref(),
            public.as_ref(),
            "--unlisted".as_ref(),
            unlisted.as_ref(),
            "--private".as_ref(),
            private.as_ref(),
        ],
    )
    .await?;
    ensure!(
        result["library"]["public"] == true && result["library"]["private"] == false,
        "{result}"
    );
    ensure!(result["privateStatus"] == 404, "{result}");
    // The player ran on this site, framed by a page of another origin.
    ensure!(result["embedOrigin"] == app.api_url.as_str(), "{result}");
    ensure!(result["hostOrigin"] != app.api_url.as_str(), "{result}");
    // Each player counted its view once; the page reloaded by the same browser did not.
    ensure!(views(&app, &public).await? == 1, "{result}");
    ensure!(views(&app, &unlisted).await? == 1, "{result}");
    app.stop().await
}
