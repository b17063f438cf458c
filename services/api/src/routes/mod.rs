//! The `/api/v1` routes and the health checks.

mod audit;
mod captions;
mod chapters;
mod clips;
mod downloads;
mod events;
mod health;
mod keys;
mod me;
mod playback;
mod poster;
mod public;
pub(crate) mod upload;
mod users;
mod videos;
mod webhooks;

pub use me::usage as account_usage;
pub use public::{checked_search, is_watchable, public_view};
pub use videos::view;
pub(crate) use videos::{checked_cursor, paged};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::{Extension, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::ApiError;
use crate::openapi::{self, ApiDoc, Published};
use crate::state::AppState;

/// Every JSON route, each declared with `routes!` so that it is in the OpenAPI document too.
/// Declare new ones the same way: a plain `.route()` would be missing from the document (and
/// `tests/e2e` `openapi::` fails when the router answers a route the document lacks).
fn documented() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .routes(routes!(videos::create, videos::list))
        .routes(routes!(videos::get, videos::edit, videos::delete))
        .routes(routes!(chapters::set))
        .routes(routes!(chapters::track))
        .routes(routes!(captions::put_captions, captions::delete_captions))
        .routes(routes!(downloads::download))
        .routes(routes!(clips::create_clip))
        .routes(routes!(poster::upload_poster))
        .routes(routes!(upload::status, upload::abort))
        .routes(routes!(upload::presign_parts))
        .routes(routes!(upload::complete))
        .routes(routes!(events::subscribe))
        .routes(routes!(users::create, users::list))
        .routes(routes!(users::delete))
        .routes(routes!(users::invite))
        .routes(routes!(keys::create_for_user))
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::revoke))
        .routes(routes!(me::me))
        .routes(routes!(me::change_password))
        .routes(routes!(me::sign_out_everywhere))
        .routes(routes!(audit::list))
        .routes(routes!(public::list))
        .routes(routes!(public::get))
        .routes(routes!(events::subscribe_public))
        .routes(routes!(public::count_view))
        .routes(routes!(chapters::public_track))
        .routes(routes!(playback::top))
        .routes(routes!(playback::rendition))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(openapi::document))
        .fallback(|| async { ApiError::NotFound("no such endpoint") });
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api)
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
}

/// The routes and their OpenAPI document, with what applies to every route added to it.
fn with_document() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = documented().split_for_parts();
    openapi::document_limits(&mut doc);
    (router, doc)
}

/// The OpenAPI document of [`router`].
pub fn document() -> utoipa::openapi::OpenApi {
    with_document().1
}

/// The JSON API, the health checks and the document they make.
pub fn router() -> Result<Router<AppState>, serde_json::Error> {
    let (router, doc) = with_document();
    Ok(router.layer(Extension(Published::new(&doc)?)))
}

/// The `{id}` path segment; anything that is not a UUID names no video, hence 404.
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct VideoId(
    /// The video's id (a UUID; anything else answers 404).
    pub Uuid,
);

impl<S: Send + Sync> FromRequestParts<S> for VideoId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        path_uuid(parts, state, "no such video").await.map(Self)
    }
}

/// The UUID in a path's `{id}`; anything else names nothing: 404 with `missing`.
pub(crate) async fn path_uuid<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    missing: &'static str,
) -> Result<Uuid, ApiError> {
    let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::NotFound(missing))?;
    raw.parse().map_err(|_| ApiError::NotFound(missing))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Routes reach the router through `routes!` (documented) or the pages' router (HTML, not
    /// the JSON API). A plain `.route()` anywhere else would be a route the document lacks.
    #[test]
    fn no_route_bypasses_the_document() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offenders = Vec::new();
        visit(&src, &mut |path, text| {
            let pages = path.ends_with("pages.rs");
            // Code only: comments, and the tests that follow `#[cfg(test)]`, may name the calls.
            let code = text.lines().take_while(|l| l.trim() != "#[cfg(test)]");
            for (n, line) in code.enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                let raw = [".route(", ".route_service(", ".nest_service("]
                    .iter()
                    .any(|call| line.contains(call));
                let under_api = line.contains("\"/api");
                if (raw && !pages) || (pages && under_api) {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        });
        assert!(
            offenders.is_empty(),
            "declare API routes with routes!: {offenders:#?}"
        );
    }

    /// The schema a `201` of `method path` refers to, as JSON.
    fn created_schema(doc: &serde_json::Value, path: &str, method: &str) -> serde_json::Value {
        let reference =
            doc["paths"][path][method]["responses"]["201"]["content"]["application/json"]["schema"]
                ["$ref"]
                .as_str()
                .expect("a 201 with a schema reference");
        let name = reference.trim_start_matches("#/components/schemas/");
        doc["components"]["schemas"][name].clone()
    }

    /// Two response types of one name (both were `Created`) became one component, and the
    /// video's `201` was documented with the key's fields (found by Schemathesis).
    #[test]
    fn each_created_answer_has_its_own_schema() {
        let doc = serde_json::to_value(super::document()).expect("the document serializes");
        let video = created_schema(&doc, "/api/v1/videos", "post");
        assert!(video["properties"]["upload"].is_object(), "{video}");
        let key = created_schema(&doc, "/api/v1/keys", "post");
        assert!(key["properties"]["token"].is_object(), "{key}");
    }

    /// Every link (the stateful fuzzing follows them) names an operation that exists.
    #[test]
    fn links_name_real_operations() {
        let doc = serde_json::to_value(super::document()).expect("the document serializes");
        let operations: Vec<&serde_json::Value> = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|item| item.as_object().expect("a path item").values())
            .collect();
        let ids: Vec<&str> = operations
            .iter()
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let mut links = 0;
        for op in &operations {
            for answer in op["responses"].as_object().expect("responses").values() {
                for link in answer["links"]
                    .as_object()
                    .into_iter()
                    .flat_map(|l| l.values())
                {
                    let target = link["operationId"].as_str().expect("an operationId");
                    assert!(ids.contains(&target), "a link to {target}");
                    links += 1;
                }
            }
        }
        assert!(links >= 10, "only {links} links");
    }

    fn visit(dir: &Path, check: &mut impl FnMut(&Path, &str)) {
        for entry in std::fs::read_dir(dir).expect("the source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                visit(&path, check);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("a source file");
                check(&path, &text);
            }
        }
    }
}
