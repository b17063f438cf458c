//! The `/api/v1` routes and the health checks.

mod events;
mod health;
pub(crate) mod upload;
mod videos;

pub use videos::view;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    let api = Router::new()
        .route("/videos", post(videos::create).get(videos::list))
        .route("/videos/{id}", get(videos::get).delete(videos::delete))
        .route(
            "/videos/{id}/upload",
            get(upload::status).delete(upload::abort),
        )
        .route("/videos/{id}/upload/parts", post(upload::presign_parts))
        .route("/videos/{id}/upload/complete", post(upload::complete))
        .route("/videos/{id}/events", get(events::subscribe))
        .fallback(|| async { ApiError::NotFound("no such endpoint") });
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
}

/// The `{id}` path segment; anything that is not a UUID names no video, hence 404.
pub struct VideoId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for VideoId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound("no such video"))?;
        raw.parse()
            .map(Self)
            .map_err(|_| ApiError::NotFound("no such video"))
    }
}
