//! Metrics and traces on vs off, each run in a child process of the bench itself: a process's
//! metrics recorder and tracing subscriber are global and cannot be taken back, so every run is
//! a fresh process, set up as the processor sets itself up: with the Prometheus recorder
//! installed and spans exported over OTLP (to a collector stand-in in the parent), or with
//! `METRICS_ADDR=off` and no endpoint. Logs are the same in both (the default filter).

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, Result, ensure};
use vodnest_core::telemetry;
use vodnest_core::traces::TraceSettings;

/// Set in a child run: `on` or `off`.
const MODE: &str = "VODNEST_BENCH_TELEMETRY";
const DATABASE_URL: &str = "VODNEST_BENCH_DATABASE_URL";
const OTLP_ENDPOINT: &str = "VODNEST_BENCH_OTLP_ENDPOINT";
/// Where a child run writes its figure.
const RESULT: &str = "VODNEST_BENCH_RESULT";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Telemetry {
    Off,
    On,
}

impl Telemetry {
    fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::On => "on",
        }
    }
}

/// This process as a child run, its telemetry set up.
pub struct Child {
    pub database_url: String,
    result: PathBuf,
    telemetry: telemetry::Telemetry,
}

impl Child {
    /// `None` unless this process is a child run.
    pub fn from_env() -> Result<Option<Self>> {
        let Ok(mode) = std::env::var(MODE) else {
            return Ok(None);
        };
        let on = mode == Telemetry::On.as_str();
        let traces = TraceSettings {
            otlp_endpoint: if on {
                Some(std::env::var(OTLP_ENDPOINT).context(OTLP_ENDPOINT)?)
            } else {
                None
            },
            service_name: None,
        };
        if on {
            vodnest_core::metrics::handle().map_err(anyhow::Error::msg)?;
        }
        Ok(Some(Self {
            database_url: std::env::var(DATABASE_URL).context(DATABASE_URL)?,
            result: std::env::var(RESULT).context(RESULT)?.into(),
            telemetry: telemetry::init("vodnest-processor", &traces)?,
        }))
    }

    /// Hands `figure` to the parent; flushes the traces (after the measurement).
    pub async fn report(self, figure: f64) -> Result<()> {
        std::fs::write(&self.result, figure.to_string())?;
        self.telemetry.shutdown().await;
        Ok(())
    }
}

/// Runs this bench again as a child with `telemetry`, on `database_url`, exporting spans to
/// `otlp_endpoint` when on; returns the figure it measured.
pub async fn measure(telemetry: Telemetry, database_url: &str, otlp_endpoint: &str) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let result = dir.path().join("figure");
    let status = tokio::process::Command::new(std::env::current_exe()?)
        .env(MODE, telemetry.as_str())
        .env(DATABASE_URL, database_url)
        .env(OTLP_ENDPOINT, otlp_endpoint)
        .env(RESULT, &result)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await?;
    ensure!(status.success(), "the {telemetry:?} run failed: {status}");
    Ok(std::fs::read_to_string(&result)?.trim().parse()?)
}
