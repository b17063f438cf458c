//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;

use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Live {
    /// Always `ok`.
    status: &'static str,
}

/// Whether each dependency answered: `ok` or `unavailable`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    database: &'static str,
    storage: &'static str,
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    summary = "Liveness",
    security(()),
    responses((status = 200, description = "The process is up", body = Live))
)]
pub async fn live() -> impl IntoResponse {
    axum::Json(Live { status: "ok" })
}

/// Ready when Postgres and both buckets answer.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    summary = "Readiness: Postgres and both buckets answer",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "A dependency does not answer", body = Readiness),
    )
)]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let database = sqlx::query_scalar!("select 1 as one")
        .fetch_one(&state.pool)
        .await;
    let storage = state.storage.check().await;
    if let Err(err) = &database {
        tracing::warn!(error = %err, "readiness: database");
    }
    if let Err(err) = &storage {
        tracing::warn!(error = %err, "readiness: storage");
    }
    let status = if database.is_ok() && storage.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    (
        status,
        axum::Json(Readiness {
            database: word(database.is_ok()),
            storage: word(storage.is_ok()),
        }),
    )
}
