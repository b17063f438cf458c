//! An OTLP/HTTP trace collector stand-in on 127.0.0.1: it answers `POST /v1/traces` (protobuf,
//! as the services export) with 200 and keeps the bodies, decoded only when a test asks for the
//! spans (so a bench that only needs a sink pays nothing for decoding). It stops when dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Request bodies received so far.
type Received = Arc<Mutex<Vec<Bytes>>>;

pub struct Collector {
    endpoint: String,
    received: Received,
    server: JoinHandle<()>,
}

/// One span as the collector received it; ids in lowercase hex, as in `traceparent`.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// `service.name` of the resource that exported it.
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// String, integer and boolean attributes, as text.
    pub attributes: HashMap<String, String>,
}

impl Collector {
    pub async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let received = Received::default();
        let router = Router::new()
            .route("/v1/traces", post(receive))
            .with_state(received.clone());
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router).await {
                eprintln!("the OTLP collector stand-in stopped: {err}");
            }
        });
        Ok(Self {
            endpoint,
            received,
            server,
        })
    }

    /// The base URL to give as `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// How many exports arrived.
    pub fn exports(&self) -> usize {
        self.received.lock().map_or(0, |r| r.len())
    }

    /// Every span received so far.
    pub fn spans(&self) -> Result<Vec<ReceivedSpan>> {
        let bodies = self
            .received
            .lock()
            .map_err(|_| anyhow::anyhow!("the collector's lock is poisoned"))?
            .clone();
        let mut spans = Vec::new();
        for body in bodies {
            let request =
                ExportTraceServiceRequest::decode(body).context("an export that is not OTLP")?;
            for resource in request.resource_spans {
                let attributes = resource.resource.map(|r| r.attributes).unwrap_or_default();
                let service = text_attributes(&attributes)
                    .remove("service.name")
                    .unwrap_or_default();
                for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                    spans.push(ReceivedSpan {
                        service: service.clone(),
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        attributes: text_attributes(&span.attributes),
                    });
                }
            }
        }
        Ok(spans)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(received): State<Received>, body: Bytes) {
    if let Ok(mut received) = received.lock() {
        received.push(body);
    }
}

fn text_attributes(attributes: &[KeyValue]) -> HashMap<String, String> {
    attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref()?)?)))
        .collect()
}

fn text(value: &AnyValue) -> Option<String> {
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
