//! The OpenAPI document: served without a token, valid OpenAPI 3.1 (checked by
//! `openapi-spec-validator`, which `./dev` installs), browsable at `/docs`, and true to the
//! router: every method of every documented path answers, every other method of it is 405,
//! and `/api/v1` answers 404 for paths the document lacks.

use std::process::Stdio;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use vodnest_e2e::{TestApp, concrete, expect_status};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Result<Value> {
    // No token: the document is public.
    let response = app.http.get(app.url("/api/v1/openapi.json")).send().await?;
    expect_status(response, 200).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_valid_openapi_3_1() -> Result<()> {
    let app = TestApp::spawn().await?;
    let doc = document(&app).await?;
    ensure!(
        doc["openapi"] == "3.1.0",
        "not OpenAPI 3.1: {}",
        doc["openapi"]
    );
    every_guarded_operation_documents_401(&doc)?;
    let validator =
        std::env::var("OPENAPI_VALIDATOR").unwrap_or_else(|_| "openapi-spec-validator".into());
    let mut child = tokio::process::Command::new(&validator)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("running {validator} (./dev installs it)"))?;
    let mut stdin = child.stdin.take().context("validator stdin")?;
    stdin.write_all(&serde_json::to_vec(&doc)?).await?;
    drop(stdin);
    let output = child.wait_with_output().await?;
    ensure!(
        output.status.success(),
        "the document is not valid OpenAPI:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    app.stop().await
}

/// An operation that needs a caller says so, and lists the 401 it answers without one.
fn every_guarded_operation_documents_401(doc: &Value) -> Result<()> {
    for (path, item) in doc["paths"].as_object().context("paths")? {
        for (method, op) in item.as_object().context("path item")? {
            let public = op["security"] == serde_json::json!([{}]);
            let has_401 = op["responses"].get("401").is_some();
            ensure!(
                public != has_401,
                "{method} {path}: public {public}, documents 401 {has_401}"
            );
        }
    }
    Ok(())
}

async fn status_of(app: &TestApp, method: &str, path: &str) -> Result<(u16, Value)> {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())?;
    let response = app
        .http
        .request(method, app.url(path))
        .bearer_auth(&app.token)
        .json(&serde_json::json!({}))
        .send()
        .await?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_answers_exactly_what_the_document_lists() -> Result<()> {
    let app = TestApp::spawn().await?;
    let doc = document(&app).await?;
    let paths = doc["paths"].as_object().context("paths")?;
    ensure!(paths.len() >= 9, "too few paths: {:?}", paths.keys());
    for (path, item) in paths {
        let url = concrete(path);
        for method in METHODS {
            let (status, body) = status_of(&app, method, &url).await?;
            if item.get(method).is_some() {
                ensure!(
                    status != 405 && body["error"]["message"] != "no such endpoint",
                    "{method} {path} is documented but the router does not answer it ({status} {body})"
                );
            } else {
                ensure!(
                    status == 405,
                    "{method} {path} answers {status} but the document does not list it"
                );
            }
        }
    }
    // A path under /api/v1 the document lacks is the API's own 404.
    let (status, body) = status_of(&app, "get", "/api/v1/undocumented").await?;
    ensure!(
        status == 404 && body["error"]["message"] == "no such endpoint",
        "{status} {body}"
    );
    app.stop().await
}

/// `/docs` renders every operation in headless Chromium under the page policy, with no
/// console error (CSP violations are console errors) and nothing loaded from elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_renders_every_operation() -> Result<()> {
    let app = TestApp::spawn().await?;
    let page = app.http.get(app.url("/docs")).send().await?;
    let policy = page
        .headers()
        .get("content-security-policy")
        .context("/docs has a Content-Security-Policy")?
        .to_str()?
        .to_owned();
    ensure!(
        policy.contains("script-src 'self';"),
        "/docs must keep the strict script policy: {policy}"
    );
    let result = vodnest_e2e::browser::run(&app, "docs.mjs", &[]).await?;
    ensure!(result["operations"].as_u64() >= Some(10), "{result}");
    app.stop().await
}
