//! The `vodnest jobs` commands against the real control plane (served in-process on an
//! ephemeral port, fresh database): output, JSON and exit codes.

use std::process::Output;

use anyhow::{Result, ensure};
use vodnest_testkit::control_plane::ControlPlane;
use vodnest_testkit::fake_video;

/// Runs the `vodnest` binary against `plane` with its admin token.
async fn vodnest(plane: &ControlPlane, args: &[&str]) -> Result<Output> {
    vodnest_as(plane, Some(&plane.admin_token), args).await
}

async fn vodnest_as(plane: &ControlPlane, token: Option<&str>, args: &[&str]) -> Result<Output> {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_vodnest"));
    command
        .env_remove("VODNEST_TOKEN")
        .arg("--grpc")
        .arg(&plane.addr);
    if let Some(token) = token {
        command.env("VODNEST_TOKEN", token);
    }
    Ok(command.args(args).output().await?)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn jobs_commands_show_and_steer_the_queue() -> Result<()> {
    let plane = ControlPlane::start().await?;
    let (_, job) = fake_video(&plane.pool, true).await?;
    let job = job.map(|j| j.to_string()).unwrap_or_default();

    let list = vodnest(&plane, &["jobs", "list"]).await?;
    ensure!(list.status.success(), "{}", stderr(&list));
    let text = stdout(&list);
    ensure!(
        text.starts_with("JOB") && text.contains(&job) && text.contains("queued"),
        "{text}"
    );

    let stats = vodnest(&plane, &["--json", "jobs", "stats"]).await?;
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout)?;
    ensure!(stats["queued"] == 1, "{stats}");

    let canceled = vodnest(&plane, &["--json", "jobs", "cancel", &job]).await?;
    ensure!(canceled.status.success(), "{}", stderr(&canceled));
    let canceled: serde_json::Value = serde_json::from_slice(&canceled.stdout)?;
    ensure!(canceled["state"] == "canceled", "{canceled}");

    let retried = vodnest(&plane, &["jobs", "retry", &job]).await?;
    ensure!(
        retried.status.success() && stdout(&retried).contains("queued"),
        "{}",
        stderr(&retried)
    );

    let failed_only = vodnest(&plane, &["jobs", "list", "--state", "failed"]).await?;
    ensure!(
        !stdout(&failed_only).contains(&job),
        "{}",
        stdout(&failed_only)
    );
    plane.stop().await
}

#[tokio::test]
async fn errors_are_one_clear_line_and_a_failure_exit() -> Result<()> {
    let plane = ControlPlane::start().await?;
    let unknown = uuid::Uuid::new_v4().to_string();
    let missing = vodnest(&plane, &["jobs", "get", &unknown]).await?;
    ensure!(missing.status.code() == Some(1), "{missing:?}");
    ensure!(
        stderr(&missing).trim() == "error: no such job",
        "{}",
        stderr(&missing)
    );

    let malformed = vodnest(&plane, &["jobs", "get", "not-an-id"]).await?;
    ensure!(malformed.status.code() == Some(1));
    ensure!(
        stderr(&malformed).contains("job_id is not a UUID"),
        "{}",
        stderr(&malformed)
    );

    let usage = vodnest(&plane, &["jobs", "list", "--state", "sleeping"]).await?;
    ensure!(
        usage.status.code() == Some(2),
        "clap's usage error: {usage:?}"
    );

    let no_token = vodnest_as(&plane, None, &["jobs", "stats"]).await?;
    ensure!(no_token.status.code() == Some(1));
    ensure!(
        stderr(&no_token).contains("need a key with the admin scope"),
        "{}",
        stderr(&no_token)
    );
    let wrong_token = vodnest_as(&plane, Some("vn_wrong"), &["jobs", "stats"]).await?;
    ensure!(wrong_token.status.code() == Some(1));
    ensure!(
        stderr(&wrong_token).trim() == "error: that token is not valid",
        "{}",
        stderr(&wrong_token)
    );

    let unreachable = tokio::process::Command::new(env!("CARGO_BIN_EXE_vodnest"))
        .args([
            "--grpc",
            "http://127.0.0.1:1",
            "--token",
            "t",
            "jobs",
            "stats",
        ])
        .output()
        .await?;
    ensure!(unreachable.status.code() == Some(1));
    ensure!(
        stderr(&unreachable).contains("cannot reach the processor"),
        "{}",
        stderr(&unreachable)
    );
    plane.stop().await
}
