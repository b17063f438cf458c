//! Fuzzing against the OpenAPI document: Schemathesis (`$SCHEMATHESIS`, which `./dev` installs
//! in a cached venv) runs every operation of a test API (real Postgres, real LocalStack) with
//! a real key, through its examples, coverage, fuzzing and stateful phases (following the
//! document's links), and must find no 5xx, no answer that breaks the document (status,
//! headers, content type, body) and no operation that answers without its credentials. Its
//! settings are in `tests/e2e/fuzzing/schemathesis.toml`; the time budget is
//! `VODNEST_FUZZ_SECS` (default 120 s). Beside it, every guarded operation is tried without a
//! key and with a wrong one, and what the fuzzer once found is pinned by a focused test.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use vodnest_e2e::{TestApp, TestDatabase, TestSettings, concrete, expect_error, expect_status};

/// A fixed seed: every run generates the same inputs (ids, times and S3's answers still vary).
const SEED: &str = "20261129";
const DEFAULT_SECS: u64 = 120;

/// The API alone: fuzzing needs no processor, and the CPU is better spent on requests.
async fn spawn_api() -> Result<TestApp> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    TestApp::spawn_with(db, settings).await
}

/// A real key (not `ADMIN_TOKEN`) with every scope, made the way a client makes one: its id
/// and its token.
async fn fuzz_key(app: &TestApp) -> Result<(String, String)> {
    let response = app
        .post(
            "/api/v1/keys",
            &json!({"name": "schemathesis", "scopes": ["videos:read", "videos:write", "admin"]}),
        )
        .send()
        .await?;
    let created = expect_status(response, 201).await?;
    let id = created["key"]["id"].as_str().context("key id")?.to_owned();
    Ok((id, created["token"].as_str().context("token")?.to_owned()))
}

fn budget_secs() -> Result<u64> {
    match std::env::var("VODNEST_FUZZ_SECS") {
        Ok(secs) => secs
            .parse()
            .with_context(|| format!("VODNEST_FUZZ_SECS={secs:?} is not a number of seconds")),
        Err(_) => Ok(DEFAULT_SECS),
    }
}

/// The last `lines` lines of a run's output, where Schemathesis prints its failures.
fn tail(output: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(output);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing() -> Result<()> {
    let app = spawn_api().await?;
    let (key_id, key) = fuzz_key(&app).await?;
    let secs = budget_secs()?;
    let schemathesis = std::env::var("SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".to_owned());
    let settings = vodnest_e2e::repo_root().join("tests/e2e/fuzzing");
    // Its reports and caches go to a scratch directory, not the checkout.
    let scratch = tempfile::tempdir()?;
    let run = tokio::process::Command::new(&schemathesis)
        .current_dir(scratch.path())
        // The hooks keep the run from revoking its own key.
        .env("SCHEMATHESIS_HOOKS", settings.join("hooks.py"))
        .env("VODNEST_FUZZ_KEY_ID", &key_id)
        .arg("--config-file")
        .arg(settings.join("schemathesis.toml"))
        .args(["run", &app.url("/api/v1/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args(["--checks", "all", "--seed", SEED, "--max-examples", "50"])
        .args(["--max-time", &secs.to_string(), "--workers", "1"])
        // No examples carried over from an earlier run: the same seed, the same run.
        .args(["--generation-database", "none", "--no-color"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    // Its own budget bounds the phases; this bounds a hung process (it is killed on drop).
    let output = tokio::time::timeout(Duration::from_secs(secs + 120), run)
        .await
        .context("schemathesis outlived its time budget")?
        .with_context(|| format!("running {schemathesis} (./dev installs it)"))?;
    ensure!(
        output.status.success(),
        "schemathesis found problems ({}):\n{}\n{}",
        output.status,
        tail(&output.stdout, 200),
        tail(&output.stderr, 20)
    );
    // The run was made with a key that still works: its answers were not all 401s.
    let me = app
        .http
        .get(app.url("/api/v1/me"))
        .bearer_auth(&key)
        .send()
        .await?;
    expect_status(me, 200).await?;
    println!("{}", tail(&output.stdout, 25));
    app.stop().await
}

/// Every operation the document guards answers 401 without a key and with a wrong one,
/// whatever it names (a UUID that names nothing, an empty JSON body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_operations_refuse_callers_without_a_valid_key() -> Result<()> {
    let app = spawn_api().await?;
    let doc = expect_status(
        app.http.get(app.url("/api/v1/openapi.json")).send().await?,
        200,
    )
    .await?;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().context("paths")? {
        for (method, op) in item.as_object().context("path item")? {
            if op["security"] == json!([{}]) {
                continue;
            }
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())?;
            for token in [None, Some("vn_not_a_key")] {
                let mut request = app
                    .http
                    .request(method.clone(), app.url(&concrete(path)))
                    .json(&json!({}));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let answer = request.send().await?;
                let status = answer.status().as_u16();
                let body: Value = answer.json().await.unwrap_or(Value::Null);
                ensure!(
                    status == 401 && body["error"]["code"] == "unauthorized",
                    "{method} {path} with token {token:?}: {status} {body}"
                );
            }
            checked += 1;
        }
    }
    ensure!(checked >= 20, "only {checked} guarded operations");
    app.stop().await
}

/// What the fuzzer found, fixed: a playback path whose version is past `i32` was a plain-text
/// 400 the document did not list; it names nothing, so it is the API's JSON 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playback_path_that_cannot_parse_is_a_json_404() -> Result<()> {
    let app = spawn_api().await?;
    let id = uuid::Uuid::now_v7();
    for path in [
        format!("/api/v1/playback/{id}/2147483648/0-x/master.m3u8"),
        format!("/api/v1/playback/{id}/-1x/0-x/720p/index.m3u8"),
        "/api/v1/playback/not-a-uuid/1/0-x/master.m3u8".to_owned(),
    ] {
        let answer = app.http.get(app.url(&path)).send().await?;
        expect_error(answer, 404, "not_found")
            .await
            .with_context(|| path.clone())?;
    }
    app.stop().await
}
