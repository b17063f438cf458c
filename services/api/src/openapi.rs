//! The OpenAPI 3.1 document of the JSON API. The routes themselves are declared through
//! `utoipa_axum`'s `routes!` (see [`crate::routes`]), so a route and its documentation are
//! added together; this module holds what is not a route: the title, the auth schemes, the
//! error schema, and the handler that serves the document at `GET /api/v1/openapi.json`.

use axum::Extension;
use axum::body::Bytes;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use utoipa::Modify;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::error::ErrorBody;
use crate::session_cookie;

/// The names of the auth schemes, as routes list them in `security(...)`.
pub const BEARER: &str = "bearer";
pub const SESSION: &str = "session_cookie";
pub const QUERY_TOKEN: &str = "query_token";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "vodnest",
        description = "Upload videos (multipart, straight to S3), follow their processing and \
                       play them as HLS. Every route under `/api/v1` except this document and \
                       the public reads under `/api/v1/public/` needs a bearer token or a \
                       signed-in session cookie. Errors are \
                       `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "MIT", identifier = "MIT"),
    ),
    modifiers(&AuthSchemes),
    components(schemas(ErrorBody)),
    tags(
        (name = "videos", description = "Creating, listing, reading and deleting videos"),
        (name = "uploads", description = "The multipart upload of a video's file"),
        (name = "events", description = "A video's live status over a websocket"),
        (name = "users", description = "People who may sign in (admins manage them)"),
        (name = "keys", description = "API keys with scopes, each belonging to a user"),
        (name = "account", description = "The caller's own account: who, scopes, usage, password, sessions"),
        (name = "audit", description = "Who did what from where"),
        (name = "webhooks", description = "Endpoints told of your videos' events by signed POSTs, and their delivery logs"),
        (name = "public", description = "What anyone may read without a token: public and unlisted videos"),
        (name = "health", description = "Liveness and readiness"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The three ways `/api/v1` accepts a caller (see [`crate::auth`]). The bearer scheme is where
/// scopes will go: a route will then list them in its `security` requirement.
struct AuthSchemes;

impl Modify for AuthSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token or the server's ADMIN_TOKEN: \
                         `Authorization: Bearer <token>`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                session_cookie::name(false),
                "The session cookie that `POST /login` sets for the web pages (named \
                 `__Host-vodnest_session` when the site is served over HTTPS). Writes made \
                 with it must come from the site's own origin.",
            ))),
        );
        components.add_security_scheme(
            QUERY_TOKEN,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "The token as `?token=`, for websockets (browsers cannot set headers on them).",
            ))),
        );
    }
}

/// The document as JSON, serialized once when the router is built.
#[derive(Clone)]
pub struct Published(Bytes);

impl Published {
    pub fn new(doc: &utoipa::openapi::OpenApi) -> Result<Self, serde_json::Error> {
        Ok(Self(Bytes::from(doc.to_json()?)))
    }
}

/// The OpenAPI document of this API, generated from the code. No token needed.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    security(()),
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"),
    )
)]
pub async fn document(Extension(Published(json)): Extension<Published>) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        json,
    )
        .into_response()
}

/// The error answers many routes share, listed in their `responses(...)` by type.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 401,
    description = "No valid token or session (`unauthorized`)"
)]
pub struct Unauthorized(pub ErrorBody);

/// Writes and websockets authenticated by the session cookie must come from the site itself
/// (see `same_origin.rs`); bearer tokens are not checked.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 403,
    description = "Made with the session cookie from another site's page (`cross_origin_request`)"
)]
pub struct CrossOrigin(pub ErrorBody);

/// A valid token or session without the scope the route needs.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 403,
    description = "The key or session lacks the scope this needs (`insufficient_scope`)"
)]
pub struct InsufficientScope(pub ErrorBody);

#[derive(utoipa::IntoResponses)]
#[response(status = 404, description = "No such video (`not_found`)")]
pub struct NoSuchVideo(pub ErrorBody);

#[derive(utoipa::IntoResponses)]
#[response(status = 404, description = "No such user (`not_found`)")]
pub struct NoSuchUser(pub ErrorBody);

#[derive(utoipa::IntoResponses)]
#[response(status = 404, description = "No such key of the caller (`not_found`)")]
pub struct NoSuchKey(pub ErrorBody);

#[derive(utoipa::IntoResponses)]
#[response(
    status = 400,
    description = "The body is not JSON (`invalid_json`, `invalid_content_type`)"
)]
pub struct NotJson(pub ErrorBody);

#[derive(utoipa::IntoResponses)]
#[response(
    status = 409,
    description = "The video has no upload in progress (`upload_not_active`)"
)]
pub struct NoActiveUpload(pub ErrorBody);

#[derive(utoipa::IntoResponses)]
#[response(status = 500, description = "Internal error (`internal_error`)")]
pub struct Internal(pub ErrorBody);

/// Over a rate limit (see `throttle.rs`) or a connection cap per address (see
/// `connection_gate.rs`, which answers before any route, the health checks included):
/// [`document_limits`] adds it to every operation, routes need not name it.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 429,
    description = "Too many requests or connections from this address or with this key, or (event sockets) too many open (`rate_limited`)",
    headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))
)]
pub struct RateLimited(pub ErrorBody);

/// At the connection cap, or no pooled database connection within `DB_ACQUIRE_TIMEOUT_MS`:
/// possible on every operation, so [`document_limits`] adds it to all of them.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 503,
    description = "The server is at its connection cap (`server_busy`) or its database is busy (`database_busy`)",
    headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))
)]
pub struct Busy(pub ErrorBody);

/// A body over `MAX_BODY_BYTES` (see `body_limit.rs`): [`document_limits`] adds it to every
/// operation that takes a body.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 413,
    description = "The request body is larger than the server allows (`body_too_large`)"
)]
pub struct BodyTooLarge(pub ErrorBody);

/// Adds what the server's limits may answer on any route (they act before the handler, so
/// routes do not list them): [`RateLimited`] and [`Busy`] everywhere, [`BodyTooLarge`] where
/// there is a body. An operation's own answer for a status stays.
pub fn document_limits(doc: &mut utoipa::openapi::OpenApi) {
    let everywhere: Vec<_> = [
        <RateLimited as utoipa::IntoResponses>::responses(),
        <Busy as utoipa::IntoResponses>::responses(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let with_body: Vec<_> = <BodyTooLarge as utoipa::IntoResponses>::responses()
        .into_iter()
        .collect();
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            let body = operation.request_body.is_some().then_some(&with_body);
            for (status, answer) in everywhere.iter().chain(body.into_iter().flatten()) {
                operation
                    .responses
                    .responses
                    .entry(status.clone())
                    .or_insert_with(|| answer.clone());
            }
        }
    }
}

/// What a route that calls S3 may answer besides its own errors.
#[derive(utoipa::IntoResponses)]
pub enum StorageFailures {
    #[response(status = 500, description = "Internal error (`internal_error`)")]
    Internal(ErrorBody),
    #[response(status = 502, description = "S3 refused (`storage_unavailable`)")]
    Refused(ErrorBody),
    #[response(
        status = 503,
        description = "S3 is briefly unavailable (`storage_unavailable`)"
    )]
    Unavailable(ErrorBody),
}
