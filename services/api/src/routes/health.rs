//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::state::AppState;

pub async fn live() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// Ready when Postgres and both buckets answer.
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
        axum::Json(json!({
            "database": word(database.is_ok()),
            "storage": word(storage.is_ok()),
        })),
    )
}
