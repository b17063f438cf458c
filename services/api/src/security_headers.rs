//! Headers on every response, pages and API alike (a route may set its own beforehand):
//! `X-Content-Type-Options: nosniff` (a response is never read as another type than it says),
//! `Referrer-Policy: strict-origin-when-cross-origin` (other sites see our origin, never a
//! page's path and query) and, when the site is served over HTTPS, `Strict-Transport-Security`
//! for a year (without `includeSubDomains`: other hosts of the domain are not ours to bind).

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS};
use tower_http::set_header::SetResponseHeaderLayer;

pub const HSTS: &str = "max-age=31536000";

/// `router` with the headers added to its responses.
pub fn add(router: Router, https: bool) -> Router {
    let router = router
        .layer(SetResponseHeaderLayer::if_not_present(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ));
    if https {
        router.layer(SetResponseHeaderLayer::if_not_present(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ))
    } else {
        router
    }
}
