//! Accounts: an admin adds creators and makes keys for them; one creator's videos do not exist
//! for another (404 on every route, the websocket included); scopes bound what a key does and
//! what it may mint; revoked and expired keys, and the keys of a removed user, are refused at
//! once.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Error as WsError;
use vodnest_e2e::{TestApp, TestDatabase, TestSettings, expect_error, expect_status};
use vodnest_testkit::{Look, eventually};

pub async fn app_without_processor() -> Result<TestApp> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    TestApp::spawn_with(db, settings).await
}

/// A request with `token` instead of the admin's.
pub fn call(app: &TestApp, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    app.http.request(method, app.url(path)).bearer_auth(token)
}

/// `POST /api/v1/users` as the admin; returns the new user's id.
pub async fn add_user(app: &TestApp, username: &str, password: Option<&str>) -> Result<String> {
    let mut body = json!({"username": username, "role": "creator"});
    if let Some(password) = password {
        body["password"] = json!(password);
    }
    let added = expect_status(app.post("/api/v1/users", &body).send().await?, 201).await?;
    ensure!(added["user"]["username"] == username, "{added}");
    ensure!(added["user"]["role"] == "creator", "{added}");
    let invite = added["invite_url"].as_str().context("invite_url")?;
    ensure!(
        invite.starts_with(&format!("{}/signup?invite=", app.api_url)),
        "{invite}"
    );
    Ok(added["user"]["id"].as_str().context("id")?.to_owned())
}

/// `POST /api/v1/users/{id}/keys` as the admin; returns the token.
pub async fn key_for(app: &TestApp, user: &str, scopes: &[&str]) -> Result<String> {
    let body = json!({"name": "test key", "scopes": scopes});
    let path = format!("/api/v1/users/{user}/keys");
    let made = expect_status(app.post(&path, &body).send().await?, 201).await?;
    ensure!(made["key"]["scopes"] == json!(scopes), "{made}");
    ensure!(
        made["key"].get("token").is_none(),
        "a key object never shows its token"
    );
    Ok(made["token"].as_str().context("token")?.to_owned())
}

/// `GET /api/v1/me` with `token`.
/// A key that another process revoked or changed is refused once the NOTIFY arrives.
async fn refused_soon(app: &TestApp, token: &str) -> Result<()> {
    eventually("the key refused", Duration::from_secs(10), async || {
        Ok(match me(app, token).await?.status().as_u16() {
            401 => Look::Done(()),
            other => Look::NotYet(format!("answered {other}")),
        })
    })
    .await
}

async fn me(app: &TestApp, token: &str) -> reqwest::Result<reqwest::Response> {
    call(app, Method::GET, "/api/v1/me", token).send().await
}

/// Uploads a small file as the holder of `token` (no processor: it stays queued).
async fn upload_as(app: &mut TestApp, token: &str, title: &str) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("tiny.mp4");
    tokio::fs::write(&file, vec![7u8; 4096]).await?;
    let admin = std::mem::replace(&mut app.token, token.to_owned());
    let uploaded = app.upload_file(&file, title).await;
    app.token = admin;
    uploaded
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_cannot_reach_another_creators_video() -> Result<()> {
    let mut app = app_without_processor().await?;
    let alice = add_user(&app, "alice", None).await?;
    let bob = add_user(&app, "bob", None).await?;
    let rw = ["videos:read", "videos:write"];
    let alice_key = key_for(&app, &alice, &rw).await?;
    let bob_key = key_for(&app, &bob, &rw).await?;

    let uploaded = upload_as(&mut app, &alice_key, "alice's replay").await?;
    let video = expect_status(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/videos/{uploaded}"),
            &alice_key,
        )
        .send()
        .await?,
        200,
    )
    .await?;
    ensure!(video["video"]["owner"]["username"] == "alice", "{video}");
    ensure!(video["video"]["status"] == "queued", "{video}");
    // One still awaiting its upload, for the upload routes.
    let body = json!({"filename": "b.mp4", "size_bytes": 100});
    let created = call(&app, Method::POST, "/api/v1/videos", &alice_key)
        .json(&body)
        .send()
        .await?;
    let pending = expect_status(created, 201).await?["video"]["id"]
        .as_str()
        .context("id")?
        .to_owned();

    // Bob's list has neither; every route answers 404 for both.
    let list = call(&app, Method::GET, "/api/v1/videos", &bob_key)
        .send()
        .await?;
    ensure!(expect_status(list, 200).await?["videos"] == json!([]));
    for id in [&uploaded, &pending] {
        let attempts = [
            (Method::GET, format!("/api/v1/videos/{id}"), None),
            (
                Method::PATCH,
                format!("/api/v1/videos/{id}"),
                Some(json!({"title": "mine"})),
            ),
            (Method::DELETE, format!("/api/v1/videos/{id}"), None),
            (Method::GET, format!("/api/v1/videos/{id}/upload"), None),
            (Method::DELETE, format!("/api/v1/videos/{id}/upload"), None),
            (
                Method::POST,
                format!("/api/v1/videos/{id}/upload/parts"),
                Some(json!({"part_numbers": [1]})),
            ),
            (
                Method::POST,
                format!("/api/v1/videos/{id}/upload/complete"),
                Some(json!({"parts": [{"part_number": 1, "etag": "\"x\""}]})),
            ),
        ];
        for (method, path, body) in attempts {
            let mut request = call(&app, method.clone(), &path, &bob_key);
            if let Some(body) = body {
                request = request.json(&body);
            }
            expect_error(request.send().await?, 404, "not_found")
                .await
                .with_context(|| format!("{method} {path} as bob"))?;
        }
        let socket = format!(
            "{}/api/v1/videos/{id}/events?token={bob_key}",
            app.api_url.replacen("http://", "ws://", 1)
        );
        match tokio_tungstenite::connect_async(&socket).await {
            Err(WsError::Http(response)) => ensure!(response.status() == 404, "{response:?}"),
            other => anyhow::bail!("bob's websocket was not refused with 404: {other:?}"),
        }
    }
    // Nothing changed: Alice still has both, untouched, and the admin sees them too.
    let list = call(&app, Method::GET, "/api/v1/videos", &alice_key)
        .send()
        .await?;
    let titles: Vec<Value> = expect_status(list, 200).await?["videos"]
        .as_array()
        .context("videos")?
        .iter()
        .map(|v| v["title"].clone())
        .collect();
    ensure!(
        titles == [json!("b.mp4"), json!("alice's replay")],
        "{titles:?}"
    );
    let admin_view = app.video(&uploaded).await?;
    ensure!(admin_view["owner"]["username"] == "alice");
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_bound_what_a_key_does_and_mints() -> Result<()> {
    let app = app_without_processor().await?;
    let carol = add_user(&app, "carol", None).await?;
    let read = key_for(&app, &carol, &["videos:read"]).await?;
    let body = json!({"filename": "c.mp4", "size_bytes": 100});
    let create = call(&app, Method::POST, "/api/v1/videos", &read).json(&body);
    expect_error(create.send().await?, 403, "insufficient_scope").await?;
    // A read key reads, mints a read key, and not a write key.
    let list = call(&app, Method::GET, "/api/v1/videos", &read)
        .send()
        .await?;
    expect_status(list, 200).await?;
    let mint = |scopes: Value| {
        call(&app, Method::POST, "/api/v1/keys", &read)
            .json(&json!({"name": "m", "scopes": scopes}))
    };
    let refused = expect_error(
        mint(json!(["videos:write"])).send().await?,
        403,
        "insufficient_scope",
    )
    .await?;
    ensure!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("videos:write")
    );
    let minted = expect_status(mint(json!(["videos:read"])).send().await?, 201).await?;
    ensure!(minted["key"]["scopes"] == json!(["videos:read"]));
    ensure!(
        minted["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("vn_"))
    );
    // A creator's key never gets admin, not even from the admin; admin routes refuse creators.
    let admin_for_carol = app
        .post(
            &format!("/api/v1/users/{carol}/keys"),
            &json!({"name": "x", "scopes": ["admin"]}),
        )
        .send()
        .await?;
    expect_error(admin_for_carol, 403, "insufficient_scope").await?;
    for (method, path) in [
        (Method::GET, "/api/v1/users"),
        (Method::GET, "/api/v1/audit"),
    ] {
        let response = call(&app, method, path, &read).send().await?;
        expect_error(response, 403, "insufficient_scope").await?;
    }
    // Bad bodies: no scopes, a blank name, an unknown scope, an unknown field.
    for bad in [
        json!({"name": "x", "scopes": []}),
        json!({"name": " ", "scopes": ["videos:read"]}),
        json!({"name": "x", "scopes": ["root"]}),
        json!({"name": "x", "scopes": ["videos:read"], "owner": "admin"}),
        json!({"name": "x", "scopes": ["videos:read"], "expires_at": "2000-01-01T00:00:00Z"}),
    ] {
        let response = app.post("/api/v1/keys", &bad).send().await?;
        expect_status(response, 422)
            .await
            .with_context(|| format!("{bad}"))?;
    }
    // /me says who and what.
    let me = expect_status(
        call(&app, Method::GET, "/api/v1/me", &read).send().await?,
        200,
    )
    .await?;
    ensure!(
        me["user"]["username"] == "carol" && me["scopes"] == json!(["videos:read"]),
        "{me}"
    );
    ensure!(me["usage"]["uploads_in_flight"]["limit"].is_i64(), "{me}");
    let admin_me = expect_status(app.get("/api/v1/me").send().await?, 200).await?;
    ensure!(admin_me["user"]["username"] == "admin", "{admin_me}");
    ensure!(
        admin_me["usage"]["storage_bytes"]["limit"].is_null(),
        "admins are exempt"
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_expired_and_orphaned_keys_are_refused_at_once() -> Result<()> {
    let mut app = app_without_processor().await?;
    let dave = add_user(&app, "dave", None).await?;
    let erin = add_user(&app, "erin", None).await?;
    let rw = ["videos:read", "videos:write"];

    // Revoked by its owner: refused on the next request. Another creator cannot revoke it.
    let revoked = key_for(&app, &dave, &rw).await?;
    let other = key_for(&app, &erin, &rw).await?;
    expect_status(me(&app, &revoked).await?, 200).await?;
    let keys = expect_status(
        call(&app, Method::GET, "/api/v1/keys", &revoked)
            .send()
            .await?,
        200,
    )
    .await?;
    let id = keys["keys"][0]["id"].as_str().context("key id")?.to_owned();
    let path = format!("/api/v1/keys/{id}");
    expect_error(
        call(&app, Method::DELETE, &path, &other).send().await?,
        404,
        "not_found",
    )
    .await?;
    expect_status(
        call(&app, Method::DELETE, &path, &revoked).send().await?,
        204,
    )
    .await?;
    expect_error(me(&app, &revoked).await?, 401, "unauthorized").await?;

    // Expired: refused from its expiry on.
    let expiring = key_for(&app, &dave, &rw).await?;
    expect_status(me(&app, &expiring).await?, 200).await?;
    sqlx::query("update api_tokens set expires_at = now() - interval '1 second' where expires_at is null and user_id = $1::uuid")
        .bind(&dave)
        .execute(&app.pool)
        .await?;
    // Changed behind the API's back (as another API process would): the API had the key
    // cached, and forgets it on the NOTIFY that the change fired.
    refused_soon(&app, &expiring).await?;

    // Revoked straight in the database, as another API process would.
    let elsewhere = key_for(&app, &dave, &rw).await?;
    expect_status(me(&app, &elsewhere).await?, 200).await?;
    sqlx::query("delete from api_tokens where user_id = $1::uuid")
        .bind(&dave)
        .execute(&app.pool)
        .await?;
    refused_soon(&app, &elsewhere).await?;

    // A removed user's key, and their videos with them.
    let orphan = key_for(&app, &erin, &rw).await?;
    let video = upload_as(&mut app, &orphan, "erin's").await?;
    expect_status(me(&app, &orphan).await?, 200).await?;
    let builtin = "00000000-0000-0000-0000-000000000001";
    let refused = app
        .delete(&format!("/api/v1/users/{builtin}"))
        .send()
        .await?;
    expect_error(refused, 409, "builtin_user").await?;
    expect_status(
        app.delete(&format!("/api/v1/users/{erin}")).send().await?,
        204,
    )
    .await?;
    expect_error(me(&app, &orphan).await?, 401, "unauthorized").await?;
    expect_error(me(&app, &other).await?, 401, "unauthorized").await?;
    let gone = app.get(&format!("/api/v1/videos/{video}")).send().await?;
    expect_error(gone, 404, "not_found").await?;
    let again = app.delete(&format!("/api/v1/users/{erin}")).send().await?;
    expect_error(again, 404, "not_found").await?;

    // Removing with transfer_to keeps the videos, now the admin's.
    let frank = add_user(&app, "frank", None).await?;
    let frank_key = key_for(&app, &frank, &rw).await?;
    let kept = upload_as(&mut app, &frank_key, "frank's").await?;
    let path = format!("/api/v1/users/{frank}?transfer_to={builtin}");
    expect_status(app.delete(&path).send().await?, 204).await?;
    ensure!(app.video(&kept).await?["owner"]["username"] == "admin");
    expect_error(me(&app, &frank_key).await?, 401, "unauthorized").await?;

    // A taken username, a bad one.
    let taken = app
        .post(
            "/api/v1/users",
            &json!({"username": "dave", "role": "creator"}),
        )
        .send()
        .await?;
    expect_error(taken, 409, "username_taken").await?;
    let bad = app
        .post(
            "/api/v1/users",
            &json!({"username": "Dave!", "role": "creator"}),
        )
        .send()
        .await?;
    expect_error(bad, 422, "invalid_username").await?;
    let short = json!({"username": "gina", "role": "creator", "password": "short"});
    expect_error(
        app.post("/api/v1/users", &short).send().await?,
        422,
        "invalid_password",
    )
    .await?;

    let actions = crate::sign_in::audit_actions(&app).await?;
    for action in [
        "user_added",
        "user_removed",
        "key_created",
        "key_revoked",
        "video_deleted",
    ] {
        ensure!(
            actions.contains(action),
            "no {action} in the audit log: {actions:?}"
        );
    }
    app.stop().await
}
