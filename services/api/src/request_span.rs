//! The span of each HTTP request: `request`, at info level, named for OpenTelemetry by method
//! and route (`POST /api/v1/videos/{id}/upload/complete`, never the raw path), continuing the
//! trace of an incoming `traceparent` header, with the response status recorded on it. Handlers
//! run inside it, so a job they enqueue carries its trace (see `vodnest_core::trace_context`).

use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use tower_http::trace::{DefaultOnResponse, MakeSpan, OnResponse};
use tracing::Span;
use tracing::field::Empty;
use vodnest_core::trace_context;

#[derive(Clone, Copy, Debug, Default)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        let method = request.method().as_str();
        let name = match route {
            Some(route) => format!("{method} {route}"),
            None => method.to_owned(),
        };
        let span = tracing::info_span!(
            "request",
            otel.name = name,
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = method,
            http.route = route,
            http.response.status_code = Empty,
        );
        let traceparent = request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok());
        trace_context::continue_in(&span, traceparent);
        span
    }
}

/// Records the status on the span (a 5xx marks it failed), then logs as tower-http does.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecordStatus;

impl<B> OnResponse<B> for RecordStatus {
    fn on_response(self, response: &Response<B>, latency: Duration, span: &Span) {
        let status = response.status();
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
        DefaultOnResponse::default().on_response(response, latency, span);
    }
}
