//! Limits: the rate limit per client address and per key answer `429 rate_limited` with
//! `Retry-After` once the configured burst is spent; an `X-Forwarded-For` from a peer that is
//! not a trusted proxy changes nothing; quotas refuse a create with `403 quota_exceeded` and
//! a message naming the limit, also under concurrent creates; admins are exempt.
//!
//! The limits here refill one request per 100 s, so that nothing refills while a test runs.

use anyhow::{Context, Result, ensure};
use futures::future::join_all;
use serde_json::{Value, json};
use vodnest_api::throttle::RateLimits;
use vodnest_core::auth;
use vodnest_core::caller::{Role, Scope};
use vodnest_core::users;
use vodnest_e2e::{TestApp, TestDatabase, TestSettings, expect_error, expect_status};

const SLOW: f64 = 0.01;

async fn spawn(limits: RateLimits, configure: impl FnOnce(&mut TestSettings)) -> Result<TestApp> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    settings.api.rate_limits = limits;
    configure(&mut settings);
    TestApp::spawn_with(db, settings).await
}

/// A creator with a key that reads and writes videos; returns the key's token.
pub(crate) async fn creator_key(app: &TestApp, name: &str) -> Result<String> {
    let user = users::create(&app.pool, name, Role::Creator, None)
        .await?
        .context("the username is free")?;
    let scopes = [Scope::VideosRead, Scope::VideosWrite];
    let (_, token) = auth::create_key(&app.pool, user.id, "limits", &scopes, None).await?;
    Ok(token)
}

/// A 429 with the contract's code and a `Retry-After` of whole seconds, at most `most`.
async fn expect_rate_limited(response: reqwest::Response, most: u64) -> Result<()> {
    let retry_after = response
        .headers()
        .get("retry-after")
        .context("a Retry-After header")?
        .to_str()?
        .parse::<u64>()
        .context("Retry-After in whole seconds")?;
    ensure!(
        (1..=most).contains(&retry_after),
        "Retry-After {retry_after} not in 1..={most}"
    );
    expect_error(response, 429, "rate_limited").await?;
    Ok(())
}

fn openapi(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::RequestBuilder {
    let request = app.http.get(app.url("/api/v1/openapi.json"));
    match forwarded_for {
        Some(ip) => request.header("x-forwarded-for", ip),
        None => request,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_gets_its_burst_then_429_and_forwarded_for_does_not_help() -> Result<()> {
    let limits = RateLimits {
        ip_burst: 5,
        ip_per_sec: SLOW,
        ..RateLimits::default()
    };
    let app = spawn(limits, |_| {}).await?;
    for n in 0..5 {
        let response = openapi(&app, None).send().await?;
        expect_status(response, 200)
            .await
            .with_context(|| format!("request {n} of the burst"))?;
    }
    expect_rate_limited(openapi(&app, None).send().await?, 100).await?;
    // The peer is not a trusted proxy: whatever address it claims, it is still itself.
    for claimed in ["203.0.113.7", "198.51.100.1, 203.0.113.9"] {
        let response = openapi(&app, Some(claimed)).send().await?;
        expect_rate_limited(response, 100).await?;
    }
    // Every route counts, the pages too; the health checks and static files do not.
    expect_rate_limited(app.http.get(app.url("/")).send().await?, 100).await?;
    for exempt in ["/healthz", "/static/app.css"] {
        let response = app.http.get(app.url(exempt)).send().await?;
        ensure!(response.status() == 200, "{exempt}: {}", response.status());
    }
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget() -> Result<()> {
    let limits = RateLimits {
        ip_burst: 2,
        ip_per_sec: SLOW,
        ..RateLimits::default()
    };
    let app = spawn(limits, |s| {
        s.api.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a range")];
    })
    .await?;
    for client in ["203.0.113.7", "203.0.113.8"] {
        for _ in 0..2 {
            expect_status(openapi(&app, Some(client)).send().await?, 200).await?;
        }
        expect_rate_limited(openapi(&app, Some(client)).send().await?, 100).await?;
    }
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_gets_its_burst_then_429_and_other_keys_do_not_pay_for_it() -> Result<()> {
    let limits = RateLimits {
        ip_burst: 1000,
        ip_per_sec: 1000.0,
        key_burst: 3,
        key_per_sec: SLOW,
        ..RateLimits::default()
    };
    let app = spawn(limits, |_| {}).await?;
    let busy = creator_key(&app, "busy").await?;
    let other = creator_key(&app, "other").await?;
    let list = |token: &str| app.http.get(app.url("/api/v1/videos")).bearer_auth(token);
    for _ in 0..3 {
        expect_status(list(&busy).send().await?, 200).await?;
    }
    expect_rate_limited(list(&busy).send().await?, 100).await?;
    // Refused before any route runs: a create is refused the same way.
    let create = app
        .http
        .post(app.url("/api/v1/videos"))
        .bearer_auth(&busy)
        .json(&json!({"filename": "a.mp4", "size_bytes": 1000}));
    expect_rate_limited(create.send().await?, 100).await?;
    // The same address with another key, or with ADMIN_TOKEN, is not limited by it.
    expect_status(list(&other).send().await?, 200).await?;
    expect_status(list(&app.token).send().await?, 200).await?;
    // A bad token is still 401, not 429: authentication comes first.
    expect_error(list("nope").send().await?, 401, "unauthorized").await?;
    app.stop().await
}

async fn create(app: &TestApp, token: &str, size: i64) -> Result<reqwest::Response> {
    Ok(app
        .http
        .post(app.url("/api/v1/videos"))
        .bearer_auth(token)
        .json(&json!({"filename": "q.mp4", "size_bytes": size}))
        .send()
        .await?)
}

async fn refused_for_quota(response: reqwest::Response) -> Result<String> {
    let body: Value = expect_error(response, 403, "quota_exceeded").await?;
    Ok(body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_with_the_limit_named_and_admins_are_exempt() -> Result<()> {
    let app = spawn(RateLimits::default(), |s| {
        s.api.quotas.uploads_in_flight = 2;
        s.api.quotas.bytes_per_day = 10_000_000;
        s.api.quotas.storage_bytes = 1_000_000_000;
    })
    .await?;
    let creator = creator_key(&app, "creator").await?;

    let too_much = refused_for_quota(create(&app, &creator, 10_000_001).await?).await?;
    ensure!(too_much.contains("daily upload limit"), "{too_much}");
    for _ in 0..2 {
        expect_status(create(&app, &creator, 1_000_000).await?, 201).await?;
    }
    let in_flight = refused_for_quota(create(&app, &creator, 1_000_000).await?).await?;
    ensure!(in_flight.contains("uploads in progress"), "{in_flight}");

    // Admins are exempt from every quota.
    for _ in 0..3 {
        expect_status(create(&app, &app.token, 10_000_001).await?, 201).await?;
    }
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_do_not_slip_past_a_quota() -> Result<()> {
    let app = spawn(RateLimits::default(), |s| {
        s.api.quotas.uploads_in_flight = 2;
    })
    .await?;
    let creator = creator_key(&app, "racer").await?;
    let answers = join_all((0..8).map(|_| create(&app, &creator, 1_000_000))).await;
    let mut statuses = Vec::new();
    for answer in answers {
        statuses.push(answer?.status().as_u16());
    }
    statuses.sort_unstable();
    ensure!(
        statuses == [201, 201, 403, 403, 403, 403, 403, 403],
        "answers: {statuses:?}"
    );
    app.stop().await
}
