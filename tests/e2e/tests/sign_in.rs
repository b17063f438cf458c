//! Signing in: with a password the session carries the role's scopes, with a token the token's;
//! repeated wrong passwords are answered 429 with `Retry-After` (the right one too, while
//! blocked); an invite sets a password once; a password change and "sign out everywhere" end
//! sessions; each of these leaves its row in the audit log; and `/account` and `/admin/users`
//! work in Chromium.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use reqwest::Method;
use reqwest::header::{COOKIE, RETRY_AFTER, SET_COOKIE};
use serde_json::{Value, json};
use vodnest_e2e::{TestApp, expect_error, expect_status};

use crate::accounts::{add_user, app_without_processor, call, key_for};

const PASSWORD: &str = "correct horse battery";

/// The session cookie (`name=value`) a successful sign-in set.
fn cookie_of(response: &reqwest::Response) -> Result<String> {
    ensure!(
        response.status() == 303,
        "sign-in answered {}",
        response.status()
    );
    let set = response
        .headers()
        .get(SET_COOKIE)
        .context("no cookie")?
        .to_str()?;
    Ok(set.split(';').next().unwrap_or_default().to_owned())
}

async fn me_with_cookie(app: &TestApp, cookie: &str) -> Result<reqwest::Response> {
    Ok(app
        .http
        .get(app.url("/api/v1/me"))
        .header(COOKIE, cookie)
        .send()
        .await?)
}

/// A JSON write with the cookie, from this site's own origin (as its pages make them).
fn cookie_write(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: &str,
) -> reqwest::RequestBuilder {
    app.http
        .request(method, app.url(path))
        .header(COOKIE, cookie)
        .header("origin", &app.api_url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_and_token_sessions_carry_their_scopes() -> Result<()> {
    let app = app_without_processor().await?;
    let id = add_user(&app, "hana", Some(PASSWORD)).await?;
    let signed_in = app
        .login(
            &[
                ("username", "Hana "),
                ("password", PASSWORD),
                ("next", "/account"),
            ],
            None,
        )
        .await?;
    ensure!(
        signed_in
            .headers()
            .get("location")
            .is_some_and(|l| l == "/account")
    );
    let cookie = cookie_of(&signed_in)?;
    let me = expect_status(me_with_cookie(&app, &cookie).await?, 200).await?;
    ensure!(me["user"]["username"] == "hana", "{me}");
    ensure!(
        me["scopes"] == json!(["videos:read", "videos:write"]),
        "{me}"
    );

    // The account page shows to the signed-in user; /admin/users does not exist for them.
    let page = app
        .http
        .get(app.url("/account"))
        .header(COOKIE, &cookie)
        .send()
        .await?;
    ensure!(page.status() == 200 && page.text().await?.contains("hana"));
    let admin_page = app
        .http
        .get(app.url("/admin/users"))
        .header(COOKIE, &cookie)
        .send()
        .await?;
    ensure!(admin_page.status() == 404, "{}", admin_page.status());

    // A token session has the token's scopes, no more.
    let read = key_for(&app, &id, &["videos:read"]).await?;
    let by_token = cookie_of(&app.login(&[("token", &read)], None).await?)?;
    let me = expect_status(me_with_cookie(&app, &by_token).await?, 200).await?;
    ensure!(me["scopes"] == json!(["videos:read"]), "{me}");
    let create = cookie_write(&app, Method::POST, "/api/v1/videos", &by_token)
        .json(&json!({"filename": "a.mp4", "size_bytes": 10}));
    expect_error(create.send().await?, 403, "insufficient_scope").await?;
    // The admin's account page and users page.
    let admin = app.session_cookie().await?;
    let users = app
        .http
        .get(app.url("/admin/users"))
        .header(COOKIE, &admin)
        .send()
        .await?;
    ensure!(users.status() == 200 && users.text().await?.contains("hana"));

    // A password change ends every session of the user; the new password signs in.
    let change = cookie_write(&app, Method::POST, "/api/v1/me/password", &cookie)
        .json(&json!({"current_password": "wrong password!", "new_password": "another long one"}));
    expect_error(change.send().await?, 403, "wrong_password").await?;
    let change = cookie_write(&app, Method::POST, "/api/v1/me/password", &cookie)
        .json(&json!({"current_password": PASSWORD, "new_password": "another long one"}));
    expect_status(change.send().await?, 204).await?;
    expect_error(me_with_cookie(&app, &cookie).await?, 401, "unauthorized").await?;
    expect_error(me_with_cookie(&app, &by_token).await?, 401, "unauthorized").await?;
    let old = app
        .login(&[("username", "hana"), ("password", PASSWORD)], None)
        .await?;
    ensure!(old.status() == 401, "{}", old.status());
    // (The failure above started a back-off: wait it out.)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = app
        .login(
            &[("username", "hana"), ("password", "another long one")],
            None,
        )
        .await?;
    let cookie = cookie_of(&again)?;
    let key_still_works = call(&app, Method::GET, "/api/v1/me", &read).send().await?;
    expect_status(key_still_works, 200).await?;

    // Sign out everywhere.
    let out = cookie_write(&app, Method::DELETE, "/api/v1/me/sessions", &cookie);
    expect_status(out.send().await?, 204).await?;
    expect_error(me_with_cookie(&app, &cookie).await?, 401, "unauthorized").await?;

    let actions = audit_actions(&app).await?;
    for action in [
        "user_added",
        "key_created",
        "sign_in",
        "sign_in_failed",
        "password_changed",
        "sign_out_everywhere",
    ] {
        ensure!(
            actions.contains(action),
            "no {action} in the audit log: {actions:?}"
        );
    }
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_back_off_with_retry_after() -> Result<()> {
    let app = app_without_processor().await?;
    add_user(&app, "ivan", Some(PASSWORD)).await?;
    let wrong = [("username", "ivan"), ("password", "not the password")];
    let first = app.login(&wrong, None).await?;
    ensure!(first.status() == 401, "{}", first.status());
    // The next tries come within the wait: refused before the password is even checked, the
    // right one included; the waits double.
    let mut waits = Vec::new();
    for fields in [
        &wrong[..],
        &[("username", "ivan"), ("password", PASSWORD)][..],
    ] {
        let blocked = app.login(fields, None).await?;
        ensure!(blocked.status() == 429, "{}", blocked.status());
        let retry: u64 = blocked
            .headers()
            .get(RETRY_AFTER)
            .context("no Retry-After")?
            .to_str()?
            .parse()?;
        ensure!(blocked.text().await?.contains("try again in"));
        waits.push(retry);
    }
    ensure!(waits.iter().all(|&w| (1..=1).contains(&w)), "{waits:?}");
    // Another username from the same address is not blocked.
    let other = app
        .login(
            &[("username", "nobody"), ("password", "whatever it is")],
            None,
        )
        .await?;
    ensure!(other.status() == 401, "{}", other.status());
    // After the wait, a wrong password again: now two seconds.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ensure!(app.login(&wrong, None).await?.status() == 401);
    let blocked = app.login(&wrong, None).await?;
    ensure!(blocked.status() == 429);
    ensure!(
        blocked.headers().get(RETRY_AFTER).is_some_and(|v| v == "2"),
        "{:?}",
        blocked.headers()
    );
    // Once it has passed, the right password signs in and clears the count.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    cookie_of(
        &app.login(&[("username", "ivan"), ("password", PASSWORD)], None)
            .await?,
    )?;
    let rows: i64 =
        sqlx::query_scalar("select count(*) from sign_in_failures where username = 'ivan'")
            .fetch_one(&app.pool)
            .await?;
    ensure!(rows == 0, "a success clears the failures");
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_sets_a_password_once() -> Result<()> {
    let app = app_without_processor().await?;
    let added = app
        .post(
            "/api/v1/users",
            &json!({"username": "jo", "role": "creator"}),
        )
        .send()
        .await?;
    let added = expect_status(added, 201).await?;
    let id = added["user"]["id"].as_str().context("id")?.to_owned();
    let first_link = added["invite_url"]
        .as_str()
        .context("invite_url")?
        .to_owned();
    // Re-sending makes a fresh link; the first stops working.
    let resent = app
        .post(&format!("/api/v1/users/{id}/invite"), &json!({}))
        .send()
        .await?;
    let link = expect_status(resent, 200).await?["invite_url"]
        .as_str()
        .context("invite_url")?
        .to_owned();
    let stale = app.http.get(&first_link).send().await?;
    ensure!(stale.status() == 410, "{}", stale.status());
    let form = app.http.get(&link).send().await?;
    ensure!(form.status() == 200 && form.text().await?.contains("Welcome, jo"));

    let secret = link.split("invite=").nth(1).context("secret")?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let signup = |password: &'static str, origin: &str| {
        client
            .post(app.url("/signup"))
            .header("origin", origin)
            .form(&[
                ("invite", secret),
                ("password", password),
                ("confirm", password),
            ])
            .send()
    };
    let foreign = signup(PASSWORD, "http://evil.example").await?;
    ensure!(foreign.status() == 403, "{}", foreign.status());
    let weak = signup("short", &app.api_url).await?;
    ensure!(weak.status() == 422, "{}", weak.status());
    let done = signup(PASSWORD, &app.api_url).await?;
    let cookie = cookie_of(&done)?;
    let me = expect_status(me_with_cookie(&app, &cookie).await?, 200).await?;
    ensure!(me["user"]["username"] == "jo", "{me}");
    let reused = signup("yet another password", &app.api_url).await?;
    ensure!(reused.status() == 410, "{}", reused.status());
    cookie_of(
        &app.login(&[("username", "jo"), ("password", PASSWORD)], None)
            .await?,
    )?;

    let actions = audit_actions(&app).await?;
    ensure!(
        actions.contains("invite_sent") && actions.contains("sign_in"),
        "{actions:?}"
    );
    app.stop().await
}

/// The actions in the audit log (one page of the newest).
pub async fn audit_actions(app: &TestApp) -> Result<BTreeSet<String>> {
    let page = expect_status(app.get("/api/v1/audit?limit=500").send().await?, 200).await?;
    let events = page["events"].as_array().context("events")?;
    for event in events {
        for field in ["at", "actor", "action", "target"] {
            if event.get(field).is_none_or(Value::is_null) {
                bail!("an event without {field}: {event}");
            }
        }
    }
    Ok(events
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect())
}

/// `/account` and `/admin/users` in Chromium: their scripts make and revoke a key, add, show
/// and delete a webhook and add a user through the JSON API with the session cookie, under the
/// pages' CSP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_pages_work_in_a_browser() -> Result<()> {
    let app = app_without_processor().await?;
    let result = vodnest_e2e::browser::run(&app, "account.mjs", &[]).await?;
    ensure!(result["ok"] == true, "{result}");
    let users = expect_status(app.get("/api/v1/users").send().await?, 200).await?;
    ensure!(users.to_string().contains("browser-made"), "{users}");
    let keys = expect_status(app.get("/api/v1/keys").send().await?, 200).await?;
    ensure!(
        keys["keys"] == json!([]),
        "the key made in the browser was revoked: {keys}"
    );
    app.stop().await
}
