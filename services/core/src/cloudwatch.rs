//! The queue's CloudWatch metrics, in the Embedded Metric Format (EMF): once a minute, one JSON
//! line on stdout that the ECS `awslogs` driver ships to CloudWatch Logs, which turns it into
//! metrics (no `x-amzn-logs-format` header is needed, no agent, no VPC endpoint beyond the logs
//! one the tasks already use). The alarms and the dashboard of the Terraform `monitoring`
//! module, and the processor autoscaling, read these metrics.
//!
//! One kind of process emits them: the API (`CLOUDWATCH_METRICS=emf` in its task definition).
//! It always runs, so the queue is still measured when no processor does (scaled to zero, or
//! all of them crashing). Several API tasks print the same numbers for the same minute: read
//! them with the `Maximum` statistic, never `Sum`.

use serde_json::{Value, json};
use sqlx::PgPool;
use std::io::Write;
use time::OffsetDateTime;

/// The namespace of every metric here.
pub const NAMESPACE: &str = "vodnest";
/// The one dimension: which deployment (the Terraform stack's name prefix).
pub const STACK_DIMENSION: &str = "Stack";
/// Jobs queued for the processors and due: work a processor could start now (webhook
/// deliveries are the API's, and jobs whose `run_at` is ahead wait for time, not processors;
/// see [`crate::jobs::due_work`]).
pub const QUEUE_DEPTH: &str = "QueueDepth";
/// Seconds the oldest queued, due job has waited (0 when none waits).
pub const OLDEST_QUEUED_JOB_AGE: &str = "OldestQueuedJobAge";
/// Processor jobs that ended `failed` (retries exhausted or a permanent error) in the minute
/// before the data point's timestamp.
pub const JOBS_FAILED: &str = "JobsFailed";

/// Whether and how the queue's metrics reach CloudWatch.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CloudWatchMetrics {
    /// Nothing is printed (local runs, or a fleet scraped by Prometheus alone).
    #[default]
    Off,
    /// One EMF line a minute on stdout.
    Emf,
}

/// The API's CloudWatch settings (the processor has none: it never emits these metrics).
#[derive(clap::Args, Clone, Debug)]
pub struct CloudWatchConfig {
    /// `emf`: print the queue's CloudWatch metrics once a minute on stdout in the Embedded
    /// Metric Format (the AWS stack sets it); `off`: don't.
    #[arg(long, env = "CLOUDWATCH_METRICS", value_enum, default_value_t = CloudWatchMetrics::Off)]
    pub cloudwatch_metrics: CloudWatchMetrics,
    /// Value of the metrics' `Stack` dimension (the AWS stack sets its name prefix).
    #[arg(long, env = "CLOUDWATCH_STACK", default_value = "vodnest")]
    pub cloudwatch_stack: String,
}

impl Default for CloudWatchConfig {
    fn default() -> Self {
        Self {
            cloudwatch_metrics: CloudWatchMetrics::Off,
            cloudwatch_stack: NAMESPACE.into(),
        }
    }
}

impl CloudWatchConfig {
    /// The emitter to give the metrics sampler, if metrics are on.
    pub fn emitter(&self) -> Option<Emitter> {
        (self.cloudwatch_metrics == CloudWatchMetrics::Emf).then(|| Emitter {
            stack: self.cloudwatch_stack.clone(),
            last_minute: None,
        })
    }
}

/// What the sampler measured of the queue ([`crate::jobs::due_work`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueueSample {
    pub depth: f64,
    pub oldest_age_s: f64,
}

/// Prints one EMF line per minute from the samples it is given.
#[derive(Debug)]
pub struct Emitter {
    stack: String,
    last_minute: Option<i64>,
}

impl Emitter {
    /// Called with every sample; prints at the first one of each minute.
    pub async fn sample(&mut self, pool: &PgPool, queue: QueueSample) {
        let minute = Minute::of(OffsetDateTime::now_utc().unix_timestamp());
        if self.last_minute == Some(minute.0) {
            return;
        }
        match jobs_failed_in_minute(pool, minute.previous().start_s()).await {
            Ok(failed) => {
                self.last_minute = Some(minute.0);
                let line = emf_line(&self.stack, minute.start_ms(), queue, failed);
                // A full or closed stdout loses a data point, nothing more.
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            Err(err) => tracing::debug!(error = %err, "cannot count failed jobs for CloudWatch"),
        }
    }
}

/// A whole minute of Unix time, by its number. Every API task sampling during minute `m`
/// reports the failures of `[m - 1, m)` stamped `m`: the same value for the same timestamp,
/// so `Maximum` counts each failure once however many tasks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Minute(i64);

impl Minute {
    fn of(unix_seconds: i64) -> Self {
        Self(unix_seconds.div_euclid(60))
    }

    fn previous(self) -> Self {
        Self(self.0 - 1)
    }

    fn start_s(self) -> i64 {
        self.0 * 60
    }

    fn start_ms(self) -> i64 {
        self.start_s() * 1000
    }
}

/// Processor jobs that ended `failed` in the minute from `start` (Unix seconds) on (a webhook
/// delivery given up is its receiver's trouble, not the operators').
pub async fn jobs_failed_in_minute(pool: &PgPool, start: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from jobs where state = 'failed' and queue = 'processor'
         and finished_at >= to_timestamp($1) and finished_at < to_timestamp($2)"#,
        start as f64,
        (start + 60) as f64,
    )
    .fetch_one(pool)
    .await
}

/// One EMF document: the metrics' values as members of the root object, described by the
/// `_aws` metadata (namespace, dimension, units).
fn emf_line(stack: &str, timestamp_ms: i64, queue: QueueSample, jobs_failed: i64) -> String {
    let metrics: Value = [
        (QUEUE_DEPTH, "Count"),
        (OLDEST_QUEUED_JOB_AGE, "Seconds"),
        (JOBS_FAILED, "Count"),
    ]
    .iter()
    .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
    .collect();
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[STACK_DIMENSION]],
                "Metrics": metrics,
            }],
        },
        STACK_DIMENSION: stack,
        QUEUE_DEPTH: queue.depth,
        OLDEST_QUEUED_JOB_AGE: queue.oldest_age_s,
        JOBS_FAILED: jobs_failed,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_emf_document_whose_metrics_are_root_members() -> serde_json::Result<()> {
        let queue = QueueSample {
            depth: 3.0,
            oldest_age_s: 42.5,
        };
        let line = emf_line("prod \"eu\"", 1_700_000_040_000, queue, 2);
        assert!(!line.contains('\n'), "{line}");
        let doc: Value = serde_json::from_str(&line)?;
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_040_000_i64);
        let [directive] = doc["_aws"]["CloudWatchMetrics"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        else {
            panic!("one metric directive expected: {doc}");
        };
        assert_eq!(directive["Namespace"], "vodnest");
        assert_eq!(directive["Dimensions"], json!([["Stack"]]));
        // The spec: each dimension and each metric named in a directive is a root member.
        assert_eq!(doc["Stack"], "prod \"eu\"");
        let metrics = directive["Metrics"].as_array().cloned().unwrap_or_default();
        let described: Vec<(&str, &str)> = metrics
            .iter()
            .map(|m| {
                (
                    m["Name"].as_str().unwrap_or("?"),
                    m["Unit"].as_str().unwrap_or("?"),
                )
            })
            .collect();
        assert_eq!(
            described,
            [
                ("QueueDepth", "Count"),
                ("OldestQueuedJobAge", "Seconds"),
                ("JobsFailed", "Count")
            ]
        );
        assert_eq!(doc["QueueDepth"], 3.0);
        assert_eq!(doc["OldestQueuedJobAge"], 42.5);
        assert_eq!(doc["JobsFailed"], 2);
        let members = doc.as_object().map(|o| o.len()).unwrap_or_default();
        assert_eq!(members, 5, "nothing else at the root: {doc}");
        Ok(())
    }

    #[test]
    fn tasks_sampling_in_one_minute_report_the_same_window_and_timestamp() {
        let minute = Minute::of(1_700_000_040);
        for second in [1_700_000_040, 1_700_000_069, 1_700_000_099] {
            assert_eq!(Minute::of(second), minute, "{second}");
        }
        assert_ne!(Minute::of(1_700_000_100), minute);
        assert_eq!(minute.start_ms(), 1_700_000_040_000);
        assert_eq!(minute.previous().start_s(), 1_699_999_980);
        assert_eq!(Minute::of(-1).start_s(), -60);
    }

    #[test]
    fn metrics_are_off_unless_asked_for() {
        let mut config = CloudWatchConfig::default();
        assert!(config.emitter().is_none());
        config.cloudwatch_metrics = CloudWatchMetrics::Emf;
        assert!(config.emitter().is_some());
    }
}
