//! The processor's settings. Every field is an environment variable and a flag.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use vodnest_core::config::{DatabaseConfig, StorageConfig};
use vodnest_core::metrics::MetricsAddr;
use vodnest_core::traces::TraceSettings;

#[derive(clap::Parser, Clone, Debug)]
#[command(
    name = "vodnest-processor",
    about = "Claims vodnest jobs, runs ffprobe/ffmpeg, writes HLS to S3; serves a gRPC control plane"
)]
pub struct ProcessorConfig {
    /// gRPC control-plane listen address.
    #[arg(long, env = "GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// Where `GET /metrics` (Prometheus) is served; keep it off the public network.
    /// `off`: no metrics at all.
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9301")]
    pub metrics_addr: MetricsAddr,
    /// Jobs this processor runs at once.
    #[arg(long, env = "PROCESSOR_CONCURRENCY", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// How long a claimed job stays ours without a heartbeat (seconds).
    #[arg(long, env = "JOB_LEASE_SECS", default_value_t = 30.0)]
    pub lease_secs: f64,
    /// Longest wait between two looks at the queue when no notification arrives (seconds).
    #[arg(long, env = "QUEUE_POLL_SECS", default_value_t = 2.0)]
    pub poll_secs: f64,
    /// On SIGTERM, how long running jobs may take to finish before they are released (seconds).
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 30.0)]
    pub shutdown_grace_secs: f64,
    /// Longest a single ffmpeg run may take (seconds); 4-hour sources need hours.
    #[arg(long, env = "TRANSCODE_TIMEOUT_SECS", default_value_t = 12.0 * 3600.0)]
    pub transcode_timeout_secs: f64,
    /// Longest ffprobe may take (seconds).
    #[arg(long, env = "PROBE_TIMEOUT_SECS", default_value_t = 60.0)]
    pub probe_timeout_secs: f64,
    /// The ABR ladder as `HEIGHT:BITRATE` rungs; a source is encoded to every rung at or
    /// below its own height.
    #[arg(long, env = "PROCESSOR_LADDER", default_value = crate::media::ladder::DEFAULT)]
    pub ladder: crate::media::ladder::Ladder,
    /// The API's bootstrap admin token: it may call the control plane, as may API keys with
    /// the `admin` scope (checked in Postgres). Without it, only such keys may.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<vodnest_core::secret::Secret>,
    /// Encodes of sources longer than this (seconds) are split into chunks that any processor
    /// runs, then stitched (see `job::split`); 0 splits none.
    #[arg(long, env = "CHUNK_THRESHOLD_SECS", default_value_t = 600.0)]
    pub chunk_threshold_secs: f64,
    /// The length of the source one chunk encodes (seconds; rounded to segment boundaries).
    /// At the default ladder's speed on 2 vCPUs, 120 s of 720p is about a minute of work:
    /// short enough that new uploads wait at most that long, and that a processor scaled in
    /// finishes its chunk within the task's stop timeout.
    #[arg(long, env = "CHUNK_SECS", default_value_t = 120.0)]
    pub chunk_secs: f64,
    /// Where jobs keep their scratch files (default: the system temp dir).
    #[arg(long, env = "WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    #[command(flatten)]
    pub limits: crate::media::limits::SourceLimits,
    #[command(flatten)]
    pub traces: TraceSettings,
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub storage: StorageConfig,
}

impl ProcessorConfig {
    pub fn lease(&self) -> Duration {
        secs(self.lease_secs)
    }

    /// A third of the lease: two heartbeats may fail before the lease runs out.
    pub fn heartbeat_every(&self) -> Duration {
        secs(self.lease_secs / 3.0)
    }

    pub fn poll(&self) -> Duration {
        secs(self.poll_secs)
    }

    pub fn shutdown_grace(&self) -> Duration {
        secs(self.shutdown_grace_secs)
    }

    pub fn transcode_timeout(&self) -> Duration {
        secs(self.transcode_timeout_secs)
    }

    pub fn probe_timeout(&self) -> Duration {
        secs(self.probe_timeout_secs)
    }
}

/// Seconds from a flag; negative or absurd values fall back to one second.
fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::from_secs(1))
}
