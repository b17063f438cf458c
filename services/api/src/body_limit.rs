//! `MAX_BODY_BYTES` on every route: a request whose `Content-Length` is over it is answered
//! `413 body_too_large` before its body is read; a body sent without a length (chunked) is
//! cut off at the limit, and whatever the handler's extractor then answers, the client gets
//! the same JSON 413. axum's own limit (2 MiB on its extractors) is replaced by this one.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::Limited;

use crate::error::body_too_large;
use crate::state::AppState;

pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let max = state.config.server.max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return body_too_large(max).into_response();
    }
    let request = request.map(|body| Body::new(Limited::new(body, max)));
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json(&response) {
        return body_too_large(max).into_response();
    }
    response
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
}
