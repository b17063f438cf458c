//! Requests by route and status, with their latency: `vodnest_http_requests_total` and
//! `vodnest_http_request_duration_seconds`. The route is axum's matched path
//! written with `:` for its parameters (`/api/v1/videos/:id`: braces in label values trip
//! simple exposition parsers), never the raw path, so ids do not multiply the series (the layer
//! wraps the routes only: requests no route matched are not counted).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

pub async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| route_label(p.as_str()));
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("vodnest_http_requests_total",
        "route" => route.clone(), "method" => method.clone(), "status" => status)
    .increment(1);
    metrics::histogram!("vodnest_http_request_duration_seconds",
        "route" => route, "method" => method)
    .record(started.elapsed().as_secs_f64());
    response
}

/// `/api/v1/videos/{id}` → `/api/v1/videos/:id`.
fn route_label(matched: &str) -> String {
    matched.replace('{', ":").replace('}', "")
}

#[cfg(test)]
mod tests {
    #[test]
    fn route_labels_name_parameters_without_braces() {
        assert_eq!(
            super::route_label("/api/v1/videos/{id}/upload/complete"),
            "/api/v1/videos/:id/upload/complete"
        );
        assert_eq!(super::route_label("/static/{*path}"), "/static/:*path");
    }
}
