//! The processor as a real process, for the tests that kill, stop or cancel it.

use std::process::Stdio;

use anyhow::{Context, Result, ensure};
use tokio::process::{Child, Command};
use vodnest_core::storage::Storage;
use vodnest_testkit::TestDatabase;

/// `vodnest-processor` on the test database with a short lease and poll, and `extra`
/// settings (environment variables) on top; killed if the test drops it.
pub fn spawn_processor(
    db: &TestDatabase,
    lease_secs: f64,
    grace_secs: f64,
    extra: &[(&str, &str)],
) -> Result<Child> {
    Command::new(env!("CARGO_BIN_EXE_vodnest-processor"))
        .env("DATABASE_URL", &db.url)
        .env("GRPC_ADDR", "127.0.0.1:0")
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("JOB_LEASE_SECS", lease_secs.to_string())
        .env("QUEUE_POLL_SECS", "0.5")
        .env("SHUTDOWN_GRACE_SECS", grace_secs.to_string())
        .env("RUST_LOG", "warn")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting vodnest-processor")
}

pub async fn signal(child: &Child, name: &str) -> Result<()> {
    let pid = child.id().context("the processor has exited")?;
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .await?;
    ensure!(status.success(), "kill -{name} {pid}");
    Ok(())
}

/// ffmpeg processes whose parent is `pid`.
pub async fn ffmpeg_children(pid: u32) -> Result<usize> {
    let output = Command::new("pgrep")
        .args(["-P", &pid.to_string(), "-x", "ffmpeg"])
        .output()
        .await?;
    Ok(String::from_utf8_lossy(&output.stdout).lines().count())
}

/// The media bucket's keys under `prefix` (up to the first 1000), each with when it was last
/// written (nanoseconds since the epoch, as precise as the store keeps it).
pub async fn objects_under(storage: &Storage, prefix: &str) -> Result<Vec<(String, i128)>> {
    let listing = storage
        .client()
        .list_objects_v2()
        .bucket(storage.media_bucket())
        .prefix(prefix)
        .send()
        .await?;
    Ok(listing
        .contents()
        .iter()
        .filter_map(|o| Some((o.key()?.to_owned(), o.last_modified()?.as_nanos())))
        .collect())
}
