//! Webhooks: a receiver on 127.0.0.1 gets an upload's events signed with its secret; while it
//! answers 500 a delivery is retried with growing delays, and once it answers 200 the delivery
//! succeeds; given-up deliveries can be sent again; hosts resolving to private or link-local
//! addresses are refused when the webhook is made and when a delivery is sent. Host names
//! resolve through a table the test controls: no test connects outside 127.0.0.0/8.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;
use vodnest_e2e::hosts::TestHosts;
use vodnest_e2e::{TestApp, TestSettings, clip, expect_error, expect_status};
use vodnest_testkit::{Look, TestDatabase, eventually};

use crate::accounts::{add_user, call, key_for};

const PATIENCE: Duration = Duration::from_secs(120);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    event: String,
    delivery: String,
    signature: String,
    body: String,
}

/// A webhook endpoint on 127.0.0.1 that answers with the status the test sets.
struct Receiver {
    addr: SocketAddr,
    answer: Arc<AtomicU16>,
    got: Arc<Mutex<Vec<Received>>>,
}

#[derive(Clone)]
struct ReceiverState {
    answer: Arc<AtomicU16>,
    got: Arc<Mutex<Vec<Received>>>,
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    state
        .got
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Received {
            at: Instant::now(),
            event: header("vodnest-event"),
            delivery: header("vodnest-delivery"),
            signature: header("vodnest-signature"),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    StatusCode::from_u16(state.answer.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
}

impl Receiver {
    async fn start(answer: u16) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = ReceiverState {
            answer: Arc::new(AtomicU16::new(answer)),
            got: Arc::default(),
        };
        let (answer, got) = (state.answer.clone(), state.got.clone());
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state);
        // Ends with the test's runtime.
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Self { addr, answer, got })
    }

    fn answer_with(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }

    fn got(&self, event: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|r| r.event == event)
            .cloned()
            .collect()
    }

    fn count(&self) -> usize {
        self.got
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A test app whose webhook host names are `names` (host, address), to change as it runs.
async fn spawn(
    names: &[(&str, &str)],
    tune: impl FnOnce(&mut TestSettings),
) -> Result<(TestApp, TestHosts)> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    for (host, ip) in names {
        settings.hosts.set(host, ip)?;
    }
    tune(&mut settings);
    let hosts = settings.hosts.clone();
    Ok((TestApp::spawn_with(db, settings).await?, hosts))
}

/// `POST /api/v1/webhooks` as the admin; returns the webhook's id and secret.
async fn add_webhook(app: &TestApp, url: &str, events: &[&str]) -> Result<(String, String)> {
    let body = json!({"url": url, "events": events});
    let made = expect_status(app.post("/api/v1/webhooks", &body).send().await?, 201).await?;
    ensure!(made["webhook"]["events"] == json!(events), "{made}");
    let id = made["webhook"]["id"].as_str().context("id")?.to_owned();
    let secret = made["secret"].as_str().context("secret")?.to_owned();
    Ok((id, secret))
}

async fn deliveries(app: &TestApp, webhook: &str) -> Result<Vec<Value>> {
    let path = format!("/api/v1/webhooks/{webhook}/deliveries?limit=100");
    let log = expect_status(app.get(&path).send().await?, 200).await?;
    Ok(log["deliveries"].as_array().context("deliveries")?.clone())
}

/// Waits for the log line of `webhook`'s `event` delivery to satisfy `done`.
async fn log_line(
    app: &TestApp,
    webhook: &str,
    event: &str,
    done: impl Fn(&Value) -> bool,
) -> Result<Value> {
    eventually(&format!("the {event} delivery"), PATIENCE, async || {
        let log = deliveries(app, webhook).await?;
        let line = log.iter().find(|d| d["event"] == event).cloned();
        Ok(match line {
            Some(line) if done(&line) => Look::Done(line),
            other => Look::NotYet(format!("{other:?}")),
        })
    })
    .await
}

/// Checks `Vodnest-Signature: t=…,v1=…` against the secret, the way a receiver would.
fn verify(secret: &str, received: &Received) -> Result<()> {
    let (t, v1) = received
        .signature
        .split_once(",v1=")
        .context("the signature header's shape")?;
    let t = t.strip_prefix("t=").context("t=")?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    ensure!((now - t.parse::<i64>()?).abs() < 300, "a fresh timestamp");
    let tag: Vec<u8> = (0..v1.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(v1.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()?;
    let message = format!("{t}.{}", received.body);
    ensure!(
        tag.len() == 32
            && vodnest_core::signing::verify(secret.as_bytes(), message.as_bytes(), &tag),
        "the signature checks out"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_delivered_signed_after_retries_with_growing_delays() -> Result<()> {
    let (app, _) = spawn(&[("hooks.test", "127.0.0.1")], |s| {
        s.api.webhooks.retry_first_ms = 400;
    })
    .await?;
    let receiver = Receiver::start(500).await?;
    let url = format!("http://hooks.test:{}/hook", receiver.addr.port());
    let (webhook, secret) = add_webhook(
        &app,
        &url,
        &["upload.completed", "video.playable", "video.ready"],
    )
    .await?;

    let dir = tempfile::tempdir()?;
    let source = dir.path().join("clip.mp4");
    let encode = [&clip::X264[..], &["-r", "15"], &clip::AAC[..]].concat();
    clip::make(&source, 2, "320x180", true, &encode).await?;
    let id = app.upload_file(&source, "hooked").await?;

    // Four attempts answered 500: the delays between them grow.
    let tries = eventually("four attempts at video.ready", PATIENCE, async || {
        let tries = receiver.got("video.ready");
        Ok(if tries.len() >= 4 {
            Look::Done(tries)
        } else {
            Look::NotYet(format!("{} attempts", tries.len()))
        })
    })
    .await?;
    receiver.answer_with(200);
    let gaps: Vec<f64> = tries
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64())
        .collect();
    // 400 ms doubling, ±20 %: about 0.4, 0.8, 1.6 s.
    ensure!(gaps[0] >= 0.3, "{gaps:?}");
    ensure!(gaps[2] > gaps[0] * 2.0, "the delays grow: {gaps:?}");

    let line = log_line(&app, &webhook, "video.ready", |d| {
        d["status"] == "succeeded"
    })
    .await?;
    ensure!(line["response_status"] == 200, "{line}");
    ensure!(line["attempts"].as_i64() >= Some(5), "{line}");
    let delivered = receiver.got("video.ready");
    let last = delivered.last().context("the delivered attempt")?;
    verify(&secret, last)?;
    ensure!(
        delivered
            .iter()
            .all(|r| r.body == last.body && r.delivery == last.delivery),
        "every attempt sends the same delivery and body"
    );
    let body: Value = serde_json::from_str(&last.body)?;
    ensure!(body["id"] == last.delivery.as_str(), "{body}");
    ensure!(body["type"] == "video.ready", "{body}");
    ensure!(body["data"]["video"]["id"] == id.as_str(), "{body}");
    ensure!(body["data"]["video"]["status"] == "ready", "{body}");
    for event in ["upload.completed", "video.playable"] {
        log_line(&app, &webhook, event, |d| d["status"] == "succeeded").await?;
        let got = receiver.got(event);
        verify(&secret, got.last().context("delivered")?)?;
    }
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_and_link_local_targets_are_refused_when_made_and_when_sent() -> Result<()> {
    let names = [
        ("internal.test", "10.0.0.1"),
        ("metadata.test", "169.254.169.254"),
        ("moving.test", "127.0.0.1"),
    ];
    let (app, hosts) = spawn(&names, |_| {}).await?;
    for url in [
        "http://internal.test/hook",
        "http://metadata.test/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://[fd00::1]/hook",
    ] {
        let body = json!({"url": url, "events": ["video.deleted"]});
        let response = app.post("/api/v1/webhooks", &body).send().await?;
        expect_error(response, 422, "forbidden_address").await?;
    }
    let unknown = json!({"url": "https://nowhere.test/", "events": ["video.deleted"]});
    let response = app.post("/api/v1/webhooks", &unknown).send().await?;
    expect_error(response, 422, "unresolvable_host").await?;
    for bad in [
        "ftp://moving.test/",
        "http://user:pw@moving.test/",
        "moving.test",
    ] {
        let body = json!({"url": bad, "events": ["video.deleted"]});
        let response = app.post("/api/v1/webhooks", &body).send().await?;
        expect_error(response, 422, "invalid_url").await?;
    }

    // Allowed when made, then the name moves to the cloud's metadata address: the send is
    // refused before any connection, and the delivery waits for a retry.
    let receiver = Receiver::start(200).await?;
    let url = format!("http://moving.test:{}/hook", receiver.addr.port());
    let (webhook, _) = add_webhook(&app, &url, &["video.deleted"]).await?;
    hosts.set("moving.test", "169.254.169.254")?;
    let video = app.create_video("gone", "gone.mp4", 1000).await?;
    let id = video["video"]["id"].as_str().context("id")?;
    expect_status(
        app.delete(&format!("/api/v1/videos/{id}")).send().await?,
        204,
    )
    .await?;
    let line = log_line(&app, &webhook, "video.deleted", |d| d["attempts"] == 1).await?;
    ensure!(line["status"] == "pending", "{line}");
    let error = line["error"].as_str().unwrap_or_default();
    ensure!(error.contains("169.254.169.254"), "{line}");
    ensure!(receiver.count() == 0, "nothing reached any receiver");
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_up_deliveries_can_be_sent_again_by_their_owner_only() -> Result<()> {
    let (app, _) = spawn(&[("hooks.test", "127.0.0.1")], |s| {
        s.api.webhooks.retry_first_ms = 200;
        s.api.webhooks.give_up_secs = 1;
    })
    .await?;
    let receiver = Receiver::start(503).await?;
    let url = format!("http://hooks.test:{}/hook", receiver.addr.port());
    let (webhook, _) = add_webhook(&app, &url, &["video.deleted"]).await?;
    let video = app.create_video("short-lived", "s.mp4", 1000).await?;
    let id = video["video"]["id"].as_str().context("id")?;
    expect_status(
        app.delete(&format!("/api/v1/videos/{id}")).send().await?,
        204,
    )
    .await?;
    let failed = log_line(&app, &webhook, "video.deleted", |d| d["status"] == "failed").await?;
    ensure!(failed["response_status"] == 503, "{failed}");
    let delivery = failed["id"].as_str().context("id")?;
    let attempts = failed["attempts"].as_i64().context("attempts")?;

    // Someone else's webhook does not exist for them; scopes bound who may redeliver.
    let other = add_user(&app, "mallory", None).await?;
    let mallory = key_for(&app, &other, &["videos:read", "videos:write"]).await?;
    let redeliver = format!("/api/v1/webhooks/{webhook}/deliveries/{delivery}/redeliver");
    let response = call(&app, reqwest::Method::POST, &redeliver, &mallory)
        .send()
        .await?;
    expect_error(response, 404, "not_found").await?;
    let path = format!("/api/v1/webhooks/{webhook}/deliveries");
    let response = call(&app, reqwest::Method::GET, &path, &mallory)
        .send()
        .await?;
    expect_error(response, 404, "not_found").await?;
    let reader = key_for(&app, &other, &["videos:read"]).await?;
    let body = json!({"url": url, "events": ["video.ready"]});
    let response = call(&app, reqwest::Method::POST, "/api/v1/webhooks", &reader)
        .json(&body)
        .send()
        .await?;
    expect_error(response, 403, "insufficient_scope").await?;

    receiver.answer_with(200);
    let response = app.post(&redeliver, &json!({})).send().await?;
    ensure!(response.status() == 202, "{}", response.status());
    let line = log_line(&app, &webhook, "video.deleted", |d| {
        d["status"] == "succeeded"
    })
    .await?;
    ensure!(line["attempts"].as_i64() == Some(attempts + 1), "{line}");
    let got = receiver.got("video.deleted");
    ensure!(
        got.iter().all(|r| r.delivery == delivery),
        "one delivery id"
    );
    let body: Value = serde_json::from_str(&got.last().context("delivered")?.body)?;
    ensure!(
        body["data"]["video"]["id"] == id && body["data"]["video"]["deleted"] == true,
        "{body}"
    );
    let unknown = format!(
        "/api/v1/webhooks/{webhook}/deliveries/{}/redeliver",
        uuid::Uuid::now_v7()
    );
    expect_error(
        app.post(&unknown, &json!({})).send().await?,
        404,
        "not_found",
    )
    .await?;

    expect_status(
        app.delete(&format!("/api/v1/webhooks/{webhook}"))
            .send()
            .await?,
        204,
    )
    .await?;
    let response = app.get(&path).send().await?;
    expect_error(response, 404, "not_found").await?;
    app.stop().await
}
