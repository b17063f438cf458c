//! Running the Playwright scripts in `tests/browser/` (Debian's Chromium, headless) against a
//! test API. Each script prints one JSON result and exits non-zero when the page misbehaved;
//! screenshots go to `tests/artifacts/`.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{TestApp, repo_root};

/// Runs `tests/browser/{script}` signed in to `app`, with `args` after the usual ones, and
/// returns its result, or fails with it.
pub async fn run(app: &TestApp, script: &str, args: &[&std::ffi::OsStr]) -> Result<Value> {
    let root = repo_root();
    let artifacts = root.join("tests/artifacts");
    tokio::fs::create_dir_all(&artifacts).await?;
    let output = tokio::process::Command::new("node")
        .current_dir(&root)
        .arg(format!("tests/browser/{script}"))
        .args(["--base", &app.api_url, "--token", &app.token])
        .args(args)
        .arg("--screenshots")
        .arg(&artifacts)
        .kill_on_drop(true)
        .output()
        .await
        .context("running node (./dev installs it)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let result: Value = serde_json::from_str(stdout.trim())
        .with_context(|| format!("{script} printed no result: {stdout}\n{stderr}"))?;
    if !output.status.success() {
        bail!("{script} failed: {result}\n{stderr}");
    }
    Ok(result)
}
