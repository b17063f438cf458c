//! Traces over OpenTelemetry: when `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector, the
//! service's `tracing` spans are exported to it over OTLP/HTTP (protobuf; no second gRPC stack)
//! in batches, from a thread of the exporter's own. Unset, nothing is built: no exporter, no
//! layer, no cost.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

/// Where traces go. Both services take these settings.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TraceSettings {
    /// Base URL of an OTLP/HTTP collector (`http://127.0.0.1:4318`): spans are POSTed to
    /// `{endpoint}/v1/traces`. Unset: no traces. `OTEL_EXPORTER_OTLP_HEADERS` adds headers.
    #[arg(
        long = "otel-exporter-otlp-endpoint",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT"
    )]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the spans (default: `vodnest-api`, `vodnest-processor`).
    #[arg(long = "otel-service-name", env = "OTEL_SERVICE_NAME")]
    pub service_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("setting up the OTLP trace exporter: {0}")]
pub struct TraceError(#[from] opentelemetry_otlp::ExporterBuildError);

/// A service's span exporter. Clones share it.
#[derive(Clone, Debug)]
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// The exporter `settings` ask for, with `service.name` `default_service` unless the
    /// settings name another; `None` when they name no endpoint.
    pub fn start(
        default_service: &str,
        settings: &TraceSettings,
    ) -> Result<Option<Self>, TraceError> {
        let Some(endpoint) = settings
            .otlp_endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        else {
            return Ok(None);
        };
        let service = settings
            .service_name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(default_service)
            .to_owned();
        Ok(Some(Self::to_collector(endpoint, service)?))
    }

    /// Spans of `service` to the OTLP/HTTP collector at `endpoint` (its base URL).
    pub fn to_collector(endpoint: &str, service: String) -> Result<Self, TraceError> {
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_resource(Resource::builder().with_service_name(service).build())
            .with_batch_exporter(exporter)
            .build();
        Ok(Self { provider })
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans of this exporter.
    pub fn layer<S>(&self) -> OpenTelemetryLayer<S, SdkTracer>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        // No busy/idle timing of every span enter and exit: a websocket's task polls inside
        // its request span for hours, and timing each poll cost the fan-out ×1.09 on p99
        // (docs/limits.md); the spans keep their start and end.
        tracing_opentelemetry::layer()
            .with_tracked_inactivity(false)
            .with_tracer(self.provider.tracer("vodnest"))
    }

    /// Sends the spans that ended so far (blocks until the collector answered).
    pub fn flush(&self) {
        if let Err(err) = self.provider.force_flush() {
            eprintln!("flushing traces: {err}");
        }
    }

    /// Sends what is left and stops the exporter (blocks; call it once, at shutdown).
    pub fn shutdown(&self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("shutting the trace exporter down: {err}");
        }
    }
}
