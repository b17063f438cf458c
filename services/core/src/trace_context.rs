//! The W3C trace context (`traceparent`) that makes one video's life one trace across both
//! services: the API stores the context of the request that completed an upload in the job row
//! (`jobs.trace_context`, see [`crate::queue::enqueue`]), a job's follow-up inherits it, and the
//! processor makes it the parent of the job's span. An incoming request's `traceparent` header
//! is continued the same way. Without an OpenTelemetry layer (traces off) every span's context
//! is empty: nothing is stored and nothing is parented.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const TRACEPARENT: &str = "traceparent";

/// The `traceparent` of the current span, when it is traced.
pub fn current() -> Option<String> {
    let cx = tracing::Span::current().context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes the span `traceparent` names the parent of `span`, which must not have been entered
/// yet. A missing or malformed `traceparent` leaves `span` the root of a new trace.
pub fn continue_in(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    if cx.span().span_context().is_valid() {
        // Fails only when traces are off (no layer) or the span started already.
        let _ = span.set_parent(cx);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    const REMOTE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// `traceparent`'s trace id and span id.
    fn ids(traceparent: &str) -> (&str, &str) {
        let mut parts = traceparent.split('-').skip(1);
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
    }

    fn traced<T>(f: impl FnOnce() -> T) -> T {
        let tracer = SdkTracerProvider::builder().build().tracer("test");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::with_default(subscriber, f)
    }

    #[test]
    fn a_span_continues_the_trace_it_is_given() {
        let carried = traced(|| {
            let span = tracing::info_span!("job");
            continue_in(&span, Some(REMOTE));
            span.in_scope(current)
        })
        .expect("a traced span has a context");
        let (trace, span) = ids(&carried);
        assert_eq!(trace, ids(REMOTE).0);
        assert_ne!(
            span,
            ids(REMOTE).1,
            "the span is a child, not the remote span"
        );
    }

    #[test]
    fn a_bad_traceparent_starts_a_new_trace() {
        let carried = traced(|| {
            let span = tracing::info_span!("job");
            continue_in(&span, Some("00-not-a-trace-01"));
            span.in_scope(current)
        })
        .expect("a traced span has a context");
        assert_ne!(ids(&carried).0, ids(REMOTE).0);
        assert_eq!(ids(&carried).0.len(), 32);
    }

    #[test]
    fn nothing_is_carried_without_traces() {
        let span = tracing::info_span!("untraced");
        continue_in(&span, Some(REMOTE));
        assert_eq!(span.in_scope(current), None);
    }
}
