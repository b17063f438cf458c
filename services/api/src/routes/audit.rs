//! The audit log, newest first, for admins.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use vodnest_core::audit::{self, AuditEvent};
use vodnest_core::caller::Scope;

use super::videos::{checked_page_size, page_of};
use crate::auth::{Authenticated, require};
use crate::error::{ApiError, ErrorBody, Json, Query};
use crate::openapi::{InsufficientScope, Internal, Unauthorized};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Events per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    events: Vec<AuditEvent>,
    next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/audit",
    operation_id = "list_audit_events",
    tag = "audit",
    summary = "The audit log, newest first (admin)",
    security(("bearer" = ["admin"]), ("session_cookie" = ["admin"])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events; `next_cursor` is null on the last page", body = AuditPage),
        (status = 400, description = "A malformed query or cursor (`invalid_query`, `invalid_cursor`)", body = ErrorBody),
        Unauthorized,
        InsufficientScope,
        (status = 422, description = "`limit` out of range (`invalid_limit`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    require(&caller, Scope::Admin)?;
    let limit = checked_page_size(query.limit, 100, 500)?;
    // The cursor is the id of the last event of the previous page.
    let before = match query.cursor.as_deref() {
        Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| {
            ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
        })?),
        None => None,
    };
    let events = audit::list(&state.pool, limit + 1, before).await?;
    let (events, next_cursor) = page_of(events, limit, |e| e.id.to_string());
    Ok(Json(AuditPage {
        events,
        next_cursor,
    }))
}
