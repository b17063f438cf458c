//! What a client may hold of the API: slow-header and idle connections are closed after their
//! timeouts, connections over the caps and websockets over theirs are answered (429 / 503)
//! instead of served, a body over the limit gets a JSON 413 on every route, a pool with no
//! free connection answers 503 at once, and completes of one video waiting their turn hold
//! no pooled connection while an unrelated request is answered.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use uuid::Uuid;
use vodnest_e2e::{TestApp, TestDatabase, TestSettings, expect_error, expect_status};
use vodnest_testkit::{Look, eventually};

/// How long a test waits for what must happen: a guard against a hung test, not a
/// performance limit (the timeouts under test are a second or two).
const PATIENCE: Duration = Duration::from_secs(20);

/// An API without a processor, with `adjust`ed settings.
async fn app_with(adjust: impl FnOnce(&mut TestSettings)) -> Result<TestApp> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    adjust(&mut settings);
    TestApp::spawn_with(db, settings).await
}

async fn connect(app: &TestApp) -> Result<TcpStream> {
    let addr = app.api_url.trim_start_matches("http://");
    Ok(TcpStream::connect(addr).await?)
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: vodnest.test\r\n\r\n";

/// One HTTP/1.1 response read off `stream`: its status and body (`Content-Length` bodies).
async fn read_response(stream: &mut TcpStream) -> Result<(u16, String, String)> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .context("no answer")??;
        if n == 0 {
            bail!(
                "closed before a whole response: {:?}",
                String::from_utf8_lossy(&got)
            );
        }
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map(|v| v.trim().parse())
        .transpose()?
        .unwrap_or(0);
    while got.len() < head_end + length {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .context("the body did not come")??;
        ensure!(n > 0, "closed in the body");
        got.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&got[head_end..head_end + length]).into_owned();
    Ok((status, head, body))
}

/// Waits for the server to close `stream`; what it sent before, if anything.
async fn closed_by_server(stream: &mut TcpStream) -> Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .map_err(|_| anyhow!("the server kept the connection open"))?;
    Ok(got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_connections_are_cut_off() -> Result<()> {
    // The idle timeout is far away: only the header timeout can close this connection.
    let app = app_with(|settings| {
        settings.api.server.header_timeout_secs = 1;
        settings.api.server.idle_timeout_secs = 3600;
    })
    .await?;
    let mut slow = connect(&app).await?;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: vodnest.test\r\n")
        .await?;
    // A header line every 200 ms: never idle, and the headers never end.
    let ended = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 1024];
        let mut trickle = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                read = slow.read(&mut buf) => return match read {
                    Ok(0) | Err(_) => Ok(()),
                    Ok(n) => Err(anyhow!("answered: {:?}", String::from_utf8_lossy(&buf[..n]))),
                },
                _ = trickle.tick() => {
                    if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    })
    .await;
    ensure!(
        ended.is_ok(),
        "a client trickling headers kept its connection"
    );
    ended??;

    // A client that sends its request whole is served as before.
    let mut prompt = connect(&app).await?;
    prompt.write_all(HEALTHZ).await?;
    let (status, _, _) = read_response(&mut prompt).await?;
    ensure!(status == 200, "healthz answered {status}");
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() -> Result<()> {
    // The header timeout is far away: only the idle timeout can close these connections.
    let app = app_with(|settings| {
        settings.api.server.header_timeout_secs = 3600;
        settings.api.server.idle_timeout_secs = 1;
    })
    .await?;
    // Kept alive after a request...
    let mut kept = connect(&app).await?;
    kept.write_all(HEALTHZ).await?;
    let (status, head, _) = read_response(&mut kept).await?;
    ensure!(status == 200, "healthz answered {status}");
    ensure!(
        !head.contains("connection: close"),
        "not kept alive: {head}"
    );
    // ...and opened without a word.
    let mut silent = connect(&app).await?;
    let after = closed_by_server(&mut kept).await?;
    ensure!(after.is_empty(), "sent more: {after:?}");
    let before = closed_by_server(&mut silent).await?;
    ensure!(before.is_empty(), "sent something: {before:?}");
    app.stop().await
}

/// Two connections served and held; the third answered `status` with `code` and `Retry-After`.
async fn third_refused(
    app: &TestApp,
    want: u16,
    code: &str,
) -> Result<(Vec<TcpStream>, TcpStream)> {
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(app).await?;
        stream.write_all(HEALTHZ).await?;
        ensure!(read_response(&mut stream).await?.0 == 200);
        held.push(stream);
    }
    let mut third = connect(app).await?;
    third.write_all(HEALTHZ).await?;
    let (status, head, body) = read_response(&mut third).await?;
    ensure!(status == want, "the third connection got {status}: {body}");
    ensure!(head.contains("retry-after:"), "{head}");
    let body: Value = serde_json::from_str(&body)?;
    ensure!(body["error"]["code"] == code, "{body}");
    Ok((held, third))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_caps_are_answered_and_closed() -> Result<()> {
    let app = app_with(|settings| settings.api.server.max_connections_per_ip = 2).await?;
    let (mut held, mut third) = third_refused(&app, 429, "rate_limited").await?;
    ensure!(closed_by_server(&mut third).await?.is_empty());
    // A closed connection frees its place.
    drop(held.pop());
    eventually("a place frees up", PATIENCE, async || {
        let mut stream = connect(&app).await?;
        stream.write_all(HEALTHZ).await?;
        Ok(match read_response(&mut stream).await?.0 {
            200 => Look::Done(()),
            other => Look::NotYet(format!("answered {other}")),
        })
    })
    .await?;
    app.stop().await?;

    // Behind a trusted proxy every client shares its address: only the total counts there.
    let app = app_with(|settings| {
        settings.api.server.max_connections = 2;
        settings.api.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a range")];
    })
    .await?;
    let (held, _third) = third_refused(&app, 503, "server_busy").await?;
    drop(held);
    app.stop().await
}

/// Opens an event websocket: the open socket (after its first frame), or the refusal's
/// status and `Retry-After`.
async fn open_socket(url: &str) -> Result<Result<impl Sized, (u16, bool)>> {
    match tokio_tungstenite::connect_async(url).await {
        Ok((mut socket, _)) => loop {
            let message = tokio::time::timeout(PATIENCE, socket.next())
                .await
                .context("no frame arrived")?
                .context("the socket closed")??;
            if let Message::Text(_) = message {
                return Ok(Ok(socket));
            }
        },
        Err(WsError::Http(response)) => Ok(Err((
            response.status().as_u16(),
            response.headers().contains_key("retry-after"),
        ))),
        Err(other) => bail!("websocket: {other}"),
    }
}

/// The JSON refusal of a websocket request (sent as a plain GET with the upgrade headers).
async fn socket_refusal(app: &TestApp, path: &str, token: &str) -> Result<reqwest::Response> {
    Ok(reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(token)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_caps_answer_instead_of_accepting() -> Result<()> {
    let app = app_with(|settings| {
        settings.api.server.sockets_per_key = 2;
        settings.api.server.max_sockets = 3;
    })
    .await?;
    let created = app.create_video("followed", "a.mp4", 1234).await?;
    let id = created["video"]["id"].as_str().context("id")?.to_owned();
    let path = format!("/api/v1/videos/{id}/events");
    let url = app.events_url(&id);
    let first = open_socket(&url).await?.map_err(|e| anyhow!("{e:?}"))?;
    let _second = open_socket(&url).await?.map_err(|e| anyhow!("{e:?}"))?;
    let third = open_socket(&url).await?;
    ensure!(
        matches!(third, Err((429, true))),
        "a third socket of one key was not refused with 429 and Retry-After"
    );
    expect_error(
        socket_refusal(&app, &path, &app.token).await?,
        429,
        "rate_limited",
    )
    .await?;

    // Another key has a share of its own, up to the total.
    let key = expect_status(
        app.post(
            "/api/v1/keys",
            &json!({"name": "watcher", "scopes": ["videos:read"]}),
        )
        .send()
        .await?,
        201,
    )
    .await?;
    let other = key["token"].as_str().context("token")?.to_owned();
    let other_url = url.replace(&app.token, &other);
    let _fourth = open_socket(&other_url)
        .await?
        .map_err(|e| anyhow!("{e:?}"))?;
    ensure!(
        matches!(open_socket(&other_url).await?, Err((503, true))),
        "a socket over the total was not refused with 503 and Retry-After"
    );
    expect_error(
        socket_refusal(&app, &path, &other).await?,
        503,
        "server_busy",
    )
    .await?;

    // A closed socket frees its place.
    drop(first);
    eventually("a place frees up", PATIENCE, async || {
        Ok(match open_socket(&other_url).await? {
            Ok(_) => Look::Done(()),
            Err(refused) => Look::NotYet(format!("refused: {refused:?}")),
        })
    })
    .await?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_gets_413_on_every_route() -> Result<()> {
    let app = app_with(|settings| settings.api.server.max_body_bytes = 64 * 1024).await?;
    let big = json!({
        "title": "x".repeat(100_000),
        "filename": "a.mp4",
        "size_bytes": 1234,
        "content_type": "video/mp4",
    });
    // With a Content-Length: refused before it is read.
    expect_error(
        app.post("/api/v1/videos", &big).send().await?,
        413,
        "body_too_large",
    )
    .await?;
    // Without one (chunked): cut off at the limit.
    let bytes = serde_json::to_vec(&big)?;
    let chunks = futures::stream::iter(
        bytes
            .chunks(8 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let chunked = app
        .http
        .post(app.url("/api/v1/videos"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await?;
    expect_error(chunked, 413, "body_too_large").await?;
    // The pages' forms too, in the same JSON.
    let form = app
        .http
        .post(app.url("/login"))
        .form(&[("token", "x".repeat(100_000))])
        .send()
        .await?;
    expect_error(form, 413, "body_too_large").await?;
    // Under the limit, as before.
    app.create_video("fits", "a.mp4", 1234).await?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_pool_answers_503() -> Result<()> {
    let app = app_with(|settings| settings.api.server.db_acquire_timeout_ms = 500).await?;
    let created = app.create_video("wanted", "a.mp4", 1234).await?;
    let id = created["video"]["id"].as_str().context("id")?.to_owned();
    // Every connection of the API's pool taken: the hub's LISTEN holds one, the test takes
    // the others until none is left to take (opening one may take longer than the API's
    // short acquire timeout, so a timed-out attempt with room left is tried again).
    let pool = &app.api_pool;
    let max = pool.options().get_max_connections();
    let mut taken = Vec::new();
    for _ in 0..100 {
        match tokio::time::timeout(Duration::from_secs(1), pool.acquire()).await {
            Ok(Ok(connection)) => taken.push(connection),
            Ok(Err(sqlx::Error::PoolTimedOut)) | Err(_) if pool.size() == max => break,
            Ok(Err(sqlx::Error::PoolTimedOut)) | Err(_) => continue,
            Ok(Err(other)) => return Err(other.into()),
        }
    }
    ensure!(
        pool.size() == max && pool.num_idle() == 0,
        "could not take the whole pool"
    );
    let busy = app.get(&format!("/api/v1/videos/{id}")).send().await?;
    ensure!(busy.headers().contains_key("retry-after"), "{busy:?}");
    expect_error(busy, 503, "database_busy").await?;
    drop(taken);
    expect_status(app.get(&format!("/api/v1/videos/{id}")).send().await?, 200).await?;
    app.stop().await
}

/// Backends of the test database blocked on an advisory lock.
async fn advisory_waiters(pool: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from pg_stat_activity
         where datname = current_database() and wait_event_type = 'Lock'
           and wait_event = 'advisory'",
    )
    .fetch_one(pool)
    .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completes_waiting_their_turn_hold_no_pooled_connection() -> Result<()> {
    const COMPLETES: usize = 50;
    let app = app_with(|_| {}).await?;
    let max = app.api_pool.options().get_max_connections();
    let unrelated = app.create_video("unrelated", "b.mp4", 1234).await?;
    let unrelated = unrelated["video"]["id"].as_str().context("id")?.to_owned();
    let created = app.create_video("busy", "a.mp4", 1234).await?;
    let id = created["video"]["id"].as_str().context("id")?.to_owned();
    let (n, url) = app
        .part_urls(&id, &[1])
        .await?
        .into_iter()
        .next()
        .context("one part")?;
    let etag = app.put_part(&url, vec![7u8; 1234]).await?;

    // The test holds the video's turn, as a slow complete in another API process would.
    let mut holder = app.pool.acquire().await?;
    sqlx::query("select pg_advisory_lock(hashtextextended($1::uuid::text, 0))")
        .bind(id.parse::<Uuid>()?)
        .execute(&mut *holder)
        .await?;
    let body = json!({"parts": [{"part_number": n, "etag": etag}]});
    let waiting: Vec<_> = (0..COMPLETES)
        .map(|_| {
            let request = app.post(&format!("/api/v1/videos/{id}/upload/complete"), &body);
            tokio::spawn(async move { request.send().await })
        })
        .collect();
    eventually("a complete waits for the turn", PATIENCE, async || {
        Ok(match advisory_waiters(&app.pool).await? {
            0 => Look::NotYet("no backend waits on the lock".into()),
            _ => Look::Done(()),
        })
    })
    .await?;

    // An unrelated request is answered while they wait, not refused for want of a connection.
    let answer = app
        .get(&format!("/api/v1/videos/{unrelated}"))
        .send()
        .await?;
    expect_status(answer, 200).await?;
    // Looked at for a while: one waiter at a time in Postgres, the pool never all taken.
    for _ in 0..20 {
        let waiters = advisory_waiters(&app.pool).await?;
        let in_use = app.api_pool.size() - app.api_pool.num_idle() as u32;
        ensure!(
            waiters <= 1,
            "{waiters} completes wait in Postgres, each on a connection of their own"
        );
        ensure!(
            in_use < max,
            "the waiting completes hold all {max} pooled connections"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ensure!(
        waiting.iter().all(|task| !task.is_finished()),
        "a complete finished before its turn"
    );

    sqlx::query("select pg_advisory_unlock(hashtextextended($1::uuid::text, 0))")
        .bind(id.parse::<Uuid>()?)
        .execute(&mut *holder)
        .await?;
    for task in waiting {
        let answer = expect_status(task.await??, 202).await?;
        ensure!(answer["video"]["status"] == "queued", "{answer}");
    }
    let jobs: i64 = sqlx::query_scalar("select count(*) from jobs where video_id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await?;
    ensure!(jobs == 1, "exactly one job, got {jobs}");
    app.stop().await
}
