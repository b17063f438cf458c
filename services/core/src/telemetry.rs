//! Tracing set-up: human-readable logs by default, JSON with `LOG_FORMAT=json`, and spans
//! exported over OTLP when traces are configured (see [`crate::traces`]).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::traces::{TraceError, TraceSettings, Traces};

/// `RUST_LOG`, or info without the chatter of the database and AWS layers. It decides which
/// spans exist, for the logs and the traces alike.
fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,aws_config=warn,aws_smithy_runtime=warn")
    })
}

/// What [`init`] set up that must be stopped at exit.
#[must_use = "flush the traces at exit with `shutdown`"]
pub struct Telemetry {
    traces: Option<Traces>,
}

impl Telemetry {
    /// Sends the spans still buffered and stops the exporter.
    pub async fn shutdown(self) {
        if let Some(traces) = self.traces {
            // The exporter blocks while it sends.
            let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
        }
    }
}

/// Installs the process's subscriber for `service` (its default `service.name`). A second init
/// (several services in one process) keeps the first subscriber.
pub fn init(service: &str, settings: &TraceSettings) -> Result<Telemetry, TraceError> {
    let traces = Traces::start(service, settings)?;
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json");
    let (text, json) = if json {
        (None, Some(tracing_subscriber::fmt::layer().json()))
    } else {
        (Some(tracing_subscriber::fmt::layer()), None)
    };
    let _ = tracing_subscriber::registry()
        .with(filter())
        .with(text)
        .with(json)
        .with(traces.as_ref().map(Traces::layer))
        .try_init();
    Ok(Telemetry { traces })
}

/// For tests: logs go through the test harness's capture, shown only for failing tests.
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_test_writer()
        .try_init();
}

/// For tests that run a service in-process with traces: the subscriber one service would
/// install, exporting to `traces`, to set as the default of that service's threads (the
/// process's global subscriber belongs to whichever test came first).
pub fn dispatch_for_tests(traces: &Traces) -> tracing::Dispatch {
    tracing_subscriber::registry()
        .with(filter())
        .with(tracing_subscriber::fmt::layer().with_test_writer())
        .with(traces.layer())
        .into()
}
