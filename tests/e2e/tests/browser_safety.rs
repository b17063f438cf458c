//! Browser safety: a write made with the session cookie, sign-in, sign-out and a websocket
//! opened with the cookie are refused (403 `cross_origin_request`) unless they come from this
//! site's own origin, while bearer tokens need no `Origin`; `?token=` works on the websocket
//! only; `next=` lands on `/` unless it is a path of this site; every response carries the
//! security headers; the session cookie's name and attributes over http and https. The last
//! test does it in headless Chromium from a page of another origin.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use futures::StreamExt;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use vodnest_e2e::{TestApp, TestDatabase, TestSettings, browser, expect_error, expect_status};

const EVIL: &str = "http://evil.example";

async fn app_without_processor() -> Result<TestApp> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    TestApp::spawn_with(db, settings).await
}

async fn video_id(app: &TestApp, title: &str) -> Result<String> {
    let created = app.create_video(title, "a.mp4", 100).await?;
    Ok(created["video"]["id"].as_str().context("id")?.to_owned())
}

/// A request made with the session cookie only, with the given `Origin` and `Sec-Fetch-Site`.
fn with_cookie(
    request: reqwest::RequestBuilder,
    cookie: &str,
    origin: Option<&str>,
    site: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut request = request.header(COOKIE, cookie);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    if let Some(site) = site {
        request = request.header("sec-fetch-site", site);
    }
    request
}

/// Whether `/upload` answers `cookie` with the page (200) rather than a redirect to `/login`.
async fn signed_in(app: &TestApp, cookie: &str) -> Result<bool> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let response = with_cookie(client.get(app.url("/upload")), cookie, None, None)
        .send()
        .await?;
    match response.status().as_u16() {
        200 => Ok(true),
        303 => Ok(false),
        other => bail!("/upload answered {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_writes_must_come_from_this_site() -> Result<()> {
    let app = app_without_processor().await?;
    let cookie = app.session_cookie().await?;
    // The harness sends bearer tokens without Origin: they pass.
    let id = video_id(&app, "kept").await?;
    let url = app.url(&format!("/api/v1/videos/{id}"));
    let delete = |origin, site| with_cookie(app.http.delete(&url), &cookie, origin, site);
    for (origin, site) in [
        (Some(EVIL), None),
        (Some("null"), None),
        (Some(EVIL), Some("same-origin")),
        (None, Some("cross-site")),
        (None, Some("same-site")),
        (None, None),
    ] {
        let refused = delete(origin, site).send().await?;
        expect_error(refused, 403, "cross_origin_request")
            .await
            .with_context(|| format!("Origin {origin:?}, Sec-Fetch-Site {site:?}"))?;
    }
    app.video(&id).await.context("the video survives")?;
    // Reads need no Origin.
    let read = with_cookie(app.http.get(&url), &cookie, None, None);
    expect_status(read.send().await?, 200).await?;
    // From the site's own pages: by Origin, or by Sec-Fetch-Site when there is none.
    let create = with_cookie(
        app.http.post(app.url("/api/v1/videos")),
        &cookie,
        None,
        Some("same-origin"),
    )
    .json(
        &json!({"title": "t", "filename": "b.mp4", "size_bytes": 10, "content_type": "video/mp4"}),
    );
    expect_status(create.send().await?, 201).await?;
    expect_status(delete(Some(&app.api_url), None).send().await?, 204).await?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_sign_out_must_come_from_this_site() -> Result<()> {
    let app = app_without_processor().await?;
    let forged = app.login(&[("token", &app.token)], Some(EVIL)).await?;
    ensure!(forged.headers().get(SET_COOKIE).is_none(), "{forged:?}");
    expect_error(forged, 403, "cross_origin_request").await?;

    let cookie = app.session_cookie().await?;
    ensure!(signed_in(&app, &cookie).await?);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let logout = |origin| with_cookie(client.post(app.url("/logout")), &cookie, origin, None);
    let refused = logout(Some(EVIL)).send().await?;
    expect_error(refused, 403, "cross_origin_request").await?;
    ensure!(
        signed_in(&app, &cookie).await?,
        "a forged sign-out ended the session"
    );
    let out = logout(Some(&app.api_url)).send().await?;
    ensure!(out.status() == 303, "{out:?}");
    ensure!(
        !signed_in(&app, &cookie).await?,
        "sign-out kept the session"
    );
    app.stop().await
}

/// Opens the events websocket of `id` (no token) with the cookie and `origin`.
async fn open_socket(url: &str, cookie: Option<&str>, origin: &str) -> Result<Result<Value, u16>> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("origin", origin.parse()?);
    if let Some(cookie) = cookie {
        request.headers_mut().insert("cookie", cookie.parse()?);
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut socket, _)) => loop {
            let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
                .await
                .context("no frame arrived")?
                .context("the socket closed")??;
            if let Message::Text(text) = message {
                return Ok(Ok(serde_json::from_str(text.as_str())?));
            }
        },
        Err(WsError::Http(response)) => Ok(Err(response.status().as_u16())),
        Err(other) => bail!("websocket: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_opened_with_the_cookie_must_come_from_this_site() -> Result<()> {
    let app = app_without_processor().await?;
    let cookie = app.session_cookie().await?;
    let id = video_id(&app, "watched").await?;
    let ws_base = app.api_url.replacen("http://", "ws://", 1);
    let url = format!("{ws_base}/api/v1/videos/{id}/events");
    let foreign = open_socket(&url, Some(&cookie), EVIL).await?;
    ensure!(foreign == Err(403), "{foreign:?}");
    let own = open_socket(&url, Some(&cookie), &app.api_url).await?;
    ensure!(
        own.as_ref().is_ok_and(|frame| frame["type"] == "snapshot"),
        "{own:?}"
    );
    // A token in the URL is no ambient authority: whoever sends it holds it.
    let with_token = open_socket(&app.events_url(&id), None, EVIL).await?;
    ensure!(with_token.is_ok(), "{with_token:?}");
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_the_url_works_on_the_websocket_only() -> Result<()> {
    let app = app_without_processor().await?;
    let id = video_id(&app, "kept").await?;
    let token = format!("token={}", app.token);
    for path in [
        format!("/api/v1/videos?{token}"),
        format!("/api/v1/videos/{id}?{token}"),
        format!("/api/v1/videos/{id}/upload?{token}"),
    ] {
        let response = app.http.get(app.url(&path)).send().await?;
        expect_error(response, 401, "unauthorized")
            .await
            .with_context(|| path.clone())?;
    }
    let delete = app
        .http
        .delete(app.url(&format!("/api/v1/videos/{id}?{token}")))
        .send()
        .await?;
    expect_error(delete, 401, "unauthorized").await?;
    app.video(&id).await.context("the video survives")?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_lands_on_a_path_of_this_site() -> Result<()> {
    let app = app_without_processor().await?;
    for (next, expected) in [
        ("//evil.example", "/"),
        ("/\\evil", "/"),
        ("https://evil", "/"),
        ("/\t/evil.example", "/"),
        ("/\r\nSet-Cookie: a=b", "/"),
        ("/\u{1}/evil.example", "/"),
        ("/watch\u{7f}", "/"),
        ("evil.example", "/"),
        ("/watch?v=1", "/watch?v=1"),
    ] {
        let response = app
            .login(&[("token", &app.token), ("next", next)], None)
            .await?;
        let location = response
            .headers()
            .get(LOCATION)
            .map(|value| value.to_str().unwrap_or("(not text)").to_owned());
        ensure!(
            response.status() == 303 && location.as_deref() == Some(expected),
            "next={next:?}: {} to {location:?}, expected {expected:?}",
            response.status()
        );
    }
    app.stop().await
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() -> Result<()> {
    let app = app_without_processor().await?;
    for path in [
        "/login",
        "/api/v1/videos",
        "/api/v1/no-such-endpoint",
        "/healthz",
        "/static/app.css",
        "/no/such/page",
    ] {
        let response = app.http.get(app.url(path)).send().await?;
        ensure!(
            header(&response, "x-content-type-options") == Some("nosniff")
                && header(&response, "referrer-policy") == Some("strict-origin-when-cross-origin"),
            "{path}: {:?}",
            response.headers()
        );
        // Plain http: no HSTS (a browser would ignore it, and it would bind a dev host).
        ensure!(
            header(&response, "strict-transport-security").is_none(),
            "{path}"
        );
    }
    // Over http the cookie has its plain name and no Secure.
    let login = app.login(&[("token", &app.token)], None).await?;
    let cookie = header(&login, "set-cookie").unwrap_or_default();
    ensure!(
        cookie.starts_with("vodnest_session=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && !cookie.contains("Secure"),
        "{cookie}"
    );
    app.stop().await
}

/// Behind https (`SECURE_COOKIES`, or an `https://` `PUBLIC_URL`, which is also the only origin
/// accepted then): HSTS and a `__Host-` cookie, the only name read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_cookie_is_host_only_and_hsts_is_sent() -> Result<()> {
    let public = "https://vod.example.com";
    for (secure_cookies, public_url) in [(true, None), (false, Some(public))] {
        let db = TestDatabase::create().await?;
        let mut settings = TestSettings::new(&db)?;
        settings.with_processor = false;
        settings.api.secure_cookies = secure_cookies;
        settings.api.public_url = public_url.map(str::to_owned);
        let app = TestApp::spawn_with(db, settings).await?;
        let page = app.http.get(app.url("/login")).send().await?;
        ensure!(
            header(&page, "strict-transport-security") == Some("max-age=31536000"),
            "{:?}",
            page.headers()
        );
        let login = app.login(&[("token", &app.token)], public_url).await?;
        let set_cookie = header(&login, "set-cookie").unwrap_or_default().to_owned();
        ensure!(
            set_cookie.starts_with("__Host-vodnest_session=")
                && ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"]
                    .iter()
                    .all(|attribute| set_cookie.contains(attribute))
                && !set_cookie.contains("Domain"),
            "{set_cookie}"
        );
        let pair = set_cookie.split(';').next().unwrap_or_default();
        let secret = pair.split_once('=').map(|(_, v)| v).unwrap_or_default();
        ensure!(signed_in(&app, pair).await?, "{pair}");
        // A cookie of the plain name (planted by another host) is not read.
        let planted = format!("vodnest_session={secret}");
        ensure!(!signed_in(&app, &planted).await?, "{planted}");
        if public_url.is_some() {
            let from_listener = app
                .login(&[("token", &app.token)], Some(&app.api_url))
                .await?;
            expect_error(from_listener, 403, "cross_origin_request").await?;
        }
        app.stop().await?;
    }
    Ok(())
}

/// In headless Chromium, from a page of another origin (a server on another port, hence
/// same-site: SameSite=Lax lets the cookie go): a form that posts to /logout and a websocket
/// are refused; on the site's own pages both work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_sites_page_cannot_act_with_the_cookie() -> Result<()> {
    let app = app_without_processor().await?;
    let id = video_id(&app, "target").await?;
    let result = browser::run(&app, "cross_origin.mjs", &["--video".as_ref(), id.as_ref()]).await?;
    ensure!(result["foreignSocket"] == "refused", "{result}");
    ensure!(result["foreignLogout"] == 403, "{result}");
    ensure!(result["stillSignedIn"] == true, "{result}");
    ensure!(result["ownSocket"] == "snapshot", "{result}");
    ensure!(result["ownLogout"] == "/login", "{result}");
    app.stop().await
}
