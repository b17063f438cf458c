//! Processor processes for a bench, and the long sources they work on. Declared by the
//! processor's own benches that run processes (`#[path] mod fleet;`), not by `common`: it
//! names the processor binary, which only this package's benches are built beside.

use std::path::Path;
use std::process::Stdio;

use anyhow::Result;
use tokio::process::{Child, Command};
use vodnest_testkit::TestDatabase;

use crate::common::cpu_seconds;

/// Processor processes on the bench database; their CPU is read before they are stopped.
pub struct Fleet(Vec<Child>);

impl Fleet {
    pub fn start(db: &TestDatabase, processors: usize, env: &[(&str, &str)]) -> Result<Self> {
        let mut children = Vec::new();
        for _ in 0..processors {
            children.push(
                Command::new(env!("CARGO_BIN_EXE_vodnest-processor"))
                    .env("DATABASE_URL", &db.url)
                    .env("GRPC_ADDR", "127.0.0.1:0")
                    .env("METRICS_ADDR", "127.0.0.1:0")
                    .env("QUEUE_POLL_SECS", "0.2")
                    .env("RUST_LOG", "warn")
                    .envs(env.iter().copied())
                    .stdout(Stdio::null())
                    .kill_on_drop(true)
                    .spawn()?,
            );
        }
        Ok(Self(children))
    }

    /// CPU seconds so far: the processors' own and their ffmpegs' (which they have waited for).
    pub fn cpu(&self) -> f64 {
        self.0
            .iter()
            .filter_map(|c| cpu_seconds(c.id()?))
            .map(|(own, children)| own + children)
            .sum()
    }

    /// The largest peak resident set of the processors so far (`VmHWM`), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        self.0
            .iter()
            .filter_map(|c| peak_rss_kib(c.id()?))
            .fold(0.0, f64::max)
            / 1024.0
    }

    pub async fn stop(mut self) -> Result<()> {
        for child in &mut self.0 {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }
}

/// A process's peak resident set (`VmHWM` of /proc/{pid}/status), in KiB.
fn peak_rss_kib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `copies` of `clip` end to end, without re-encoding (a long replay costs nothing to make).
pub async fn concat(clip: &Path, copies: usize, out: &Path) -> Result<()> {
    let list = out.with_extension("txt");
    let line = format!("file '{}'\n", clip.display());
    tokio::fs::write(&list, line.repeat(copies)).await?;
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
        ])
        .arg(&list)
        .args(["-c", "copy"])
        .arg(out)
        .status()
        .await?;
    anyhow::ensure!(status.success(), "concat failed");
    Ok(())
}
