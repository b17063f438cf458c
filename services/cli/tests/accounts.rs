//! `vodnest users`, `vodnest keys`, `vodnest videos` and `vodnest webhooks` against a real API (in-process, fresh
//! database, no processor): tables for people, JSON for scripts, the server's refusals passed
//! on with a failing exit code.

use std::process::Output;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use vodnest_e2e::{TestApp, TestDatabase, TestSettings};

/// Runs `vodnest` against `app` with `token`.
async fn vodnest(app: &TestApp, token: &str, args: &[&str]) -> Result<Output> {
    Ok(tokio::process::Command::new(env!("CARGO_BIN_EXE_vodnest"))
        .arg("--api")
        .arg(&app.api_url)
        .env("VODNEST_TOKEN", token)
        .args(args)
        .output()
        .await?)
}

/// Runs it with `--json`, expecting success, and parses what it printed.
async fn json(app: &TestApp, token: &str, args: &[&str]) -> Result<Value> {
    let output = vodnest(app, token, &[&["--json"], args].concat()).await?;
    ensure!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_keys_and_videos_from_the_command_line() -> Result<()> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    let app = TestApp::spawn_with(db, settings).await?;
    let admin = app.token.clone();

    let added = vodnest(&app, &admin, &["users", "add", "kim"]).await?;
    ensure!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    ensure!(
        text(&added).contains("invite link: http://"),
        "{}",
        text(&added)
    );
    let list = vodnest(&app, &admin, &["users", "list"]).await?;
    ensure!(
        text(&list).starts_with("ID") && text(&list).contains("kim"),
        "{}",
        text(&list)
    );
    let taken = vodnest(&app, &admin, &["users", "add", "kim"]).await?;
    ensure!(!taken.status.success());
    ensure!(String::from_utf8_lossy(&taken.stderr).contains("username_taken"));

    // An admin makes kim a key by username; kim lists and uses it.
    let made = json(
        &app,
        &admin,
        &[
            "keys",
            "create",
            "laptop",
            "--scope",
            "videos:read",
            "--scope",
            "videos:write",
            "--user",
            "kim",
        ],
    )
    .await?;
    let kim = made["token"].as_str().context("token")?.to_owned();
    let keys = json(&app, &kim, &["keys", "list"]).await?;
    ensure!(keys["keys"][0]["name"] == "laptop", "{keys}");

    // kim's videos: create one through the API, then list, edit, get and delete it here.
    let created = app
        .http
        .post(app.url("/api/v1/videos"))
        .bearer_auth(&kim)
        .json(&serde_json::json!({"title": "draft", "filename": "d.mp4", "size_bytes": 10}))
        .send()
        .await?;
    let created: Value = created.json().await?;
    let id = created["video"]["id"].as_str().context("id")?.to_owned();
    let table = vodnest(&app, &kim, &["videos", "list"]).await?;
    ensure!(
        text(&table).contains(&id) && text(&table).contains("draft"),
        "{}",
        text(&table)
    );
    let edited = json(
        &app,
        &kim,
        &[
            "videos",
            "edit",
            &id,
            "--title",
            "final",
            "--description",
            "the cut",
            "--visibility",
            "unlisted",
        ],
    )
    .await?;
    ensure!(edited["video"]["title"] == "final" && edited["video"]["visibility"] == "unlisted");
    let got = json(&app, &kim, &["videos", "get", &id]).await?;
    ensure!(got["video"]["description"] == "the cut", "{got}");
    json(&app, &kim, &["videos", "delete", &id]).await?;
    let gone = vodnest(&app, &kim, &["videos", "get", &id]).await?;
    ensure!(!gone.status.success());

    // Revoking a key; removing kim.
    let key_id = keys["keys"][0]["id"].as_str().context("key id")?.to_owned();
    let spare = json(
        &app,
        &admin,
        &[
            "keys",
            "create",
            "spare",
            "--scope",
            "videos:read",
            "--user",
            "kim",
        ],
    )
    .await?;
    let spare = spare["token"].as_str().context("token")?.to_owned();
    json(&app, &kim, &["keys", "revoke", &key_id]).await?;
    let refused = vodnest(&app, &kim, &["keys", "list"]).await?;
    ensure!(String::from_utf8_lossy(&refused.stderr).contains("401"));
    json(&app, &admin, &["users", "remove", "kim"]).await?;
    let users = json(&app, &admin, &["users", "list"]).await?;
    ensure!(
        users["users"].as_array().is_some_and(|u| u.len() == 1),
        "{users}"
    );
    ensure!(
        !vodnest(&app, &spare, &["keys", "list"])
            .await?
            .status
            .success()
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_from_the_command_line() -> Result<()> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    // Nothing listens there: the delivery fails and shows in the log.
    settings.hosts.set("hooks.test", "127.0.0.1")?;
    let app = TestApp::spawn_with(db, settings).await?;
    let admin = app.token.clone();

    let url = "http://hooks.test:9/hook";
    let made = json(
        &app,
        &admin,
        &["webhooks", "add", url, "--event", "video.deleted"],
    )
    .await?;
    let id = made["webhook"]["id"].as_str().context("id")?.to_owned();
    ensure!(
        made["webhook"]["events"] == serde_json::json!(["video.deleted"]),
        "{made}"
    );
    ensure!(
        made["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_")),
        "{made}"
    );
    let all = vodnest(
        &app,
        &admin,
        &["webhooks", "add", "http://hooks.test:9/all"],
    )
    .await?;
    ensure!(
        text(&all).contains("secret (shown only now): whsec_"),
        "{}",
        text(&all)
    );
    let refused = vodnest(&app, &admin, &["webhooks", "add", "http://10.0.0.1/x"]).await?;
    ensure!(!refused.status.success());
    ensure!(String::from_utf8_lossy(&refused.stderr).contains("forbidden_address"));

    let list = vodnest(&app, &admin, &["webhooks", "list"]).await?;
    ensure!(
        text(&list).starts_with("ID") && text(&list).contains(url),
        "{}",
        text(&list)
    );

    let video = app.create_video("brief", "b.mp4", 1000).await?;
    let video_id = video["video"]["id"].as_str().context("video id")?;
    let deleted = app
        .delete(&format!("/api/v1/videos/{video_id}"))
        .send()
        .await?;
    ensure!(deleted.status() == 204);
    let line = vodnest_testkit::eventually(
        "an attempt",
        std::time::Duration::from_secs(60),
        async || {
            let log = json(&app, &admin, &["webhooks", "deliveries", &id]).await?;
            let line = log["deliveries"][0].clone();
            Ok(if line["attempts"].as_i64() >= Some(1) {
                vodnest_testkit::Look::Done(line)
            } else {
                vodnest_testkit::Look::NotYet(log.to_string())
            })
        },
    )
    .await?;
    ensure!(
        line["event"] == "video.deleted" && line["status"] == "pending",
        "{line}"
    );
    let delivery = line["id"].as_str().context("delivery id")?;
    let pending = vodnest(&app, &admin, &["webhooks", "redeliver", &id, delivery]).await?;
    ensure!(!pending.status.success());
    ensure!(String::from_utf8_lossy(&pending.stderr).contains("delivery_pending"));

    let removed = vodnest(&app, &admin, &["webhooks", "remove", &id]).await?;
    ensure!(removed.status.success() && text(&removed).contains("removed"));
    let gone = vodnest(&app, &admin, &["webhooks", "deliveries", &id]).await?;
    ensure!(!gone.status.success());
    app.stop().await
}
