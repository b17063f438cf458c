//! The caller's own account: who they are, what this request may do, their usage against each
//! quota, changing their password, signing out everywhere.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vodnest_core::audit::{self, Action, Actor};
use vodnest_core::caller::{BUILTIN_ADMIN, Caller, Role, Scope};
use vodnest_core::users::{self, User};
use vodnest_core::videos;

use super::users::refused;
use crate::auth::Authenticated;
use crate::client_ip::ClientIp;
use crate::error::{ApiError, ErrorBody, Json};
use crate::openapi::{CrossOrigin, Internal, NotJson, Unauthorized};
use crate::passwords;
use crate::state::AppState;

/// One quota: how much is used and the limit (`null`: this user is exempt, as admins are).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Measure {
    used: i64,
    limit: Option<i64>,
}

/// The caller's usage against each quota.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// Uploads created and not completed yet.
    uploads_in_flight: Measure,
    /// Bytes of the videos created in the last 24 hours.
    bytes_per_day: Measure,
    /// Bytes of all the caller's videos.
    storage_bytes: Measure,
    /// Whether quotas apply to the caller at all (admins are exempt).
    exempt: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    user: User,
    /// What this request may do: the key's or session's scopes.
    scopes: Vec<Scope>,
    usage: Usage,
}

/// The caller's usage against each quota, as `/me` and the account page show it.
pub async fn usage(state: &AppState, caller: &Caller) -> Result<Usage, ApiError> {
    let used = videos::usage(&state.pool, caller.user.id).await?;
    let quotas = state.config.quotas;
    let exempt = caller.role == Role::Admin;
    let limit = |value: i64| (!exempt).then_some(value);
    Ok(Usage {
        uploads_in_flight: Measure {
            used: used.uploads_in_flight,
            limit: limit(quotas.uploads_in_flight),
        },
        bytes_per_day: Measure {
            used: used.bytes_last_day,
            limit: limit(quotas.bytes_per_day),
        },
        storage_bytes: Measure {
            used: used.bytes_total,
            limit: limit(quotas.storage_bytes),
        },
        exempt,
    })
}

#[utoipa::path(
    get,
    path = "/me",
    operation_id = "get_me",
    tag = "account",
    summary = "Who you are, what you may do, and your usage against each quota",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "You (the built-in `admin` for ADMIN_TOKEN)", body = Me),
        Unauthorized,
        Internal,
    )
)]
pub async fn me(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Me>, ApiError> {
    // The caller was just authenticated, so the user exists (unless removed this instant).
    let user = users::get(&state.pool, caller.user.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let usage = usage(&state, &caller).await?;
    Ok(Json(Me {
        user,
        scopes: caller.scopes.clone(),
        usage,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    current_password: String,
    /// 10 to 256 characters.
    #[schema(min_length = 10, max_length = 256)]
    new_password: String,
}

#[utoipa::path(
    post,
    path = "/me/password",
    operation_id = "change_password",
    tag = "account",
    summary = "Change your password",
    description = "Every session of yours ends, the one of this browser included: sign in \
                   again with the new password. Keys keep working.",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = NewPassword,
    responses(
        (status = 204, description = "Changed; every session of yours has ended"),
        NotJson,
        Unauthorized,
        (status = 403, description = "The current password is wrong (`wrong_password`), or the request comes from another site (`cross_origin_request`)", body = ErrorBody),
        (status = 409, description = "The built-in admin has no password (`builtin_user`)", body = ErrorBody),
        (status = 422, description = "The new password breaks the rules (`invalid_body`, `invalid_password`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    Json(body): Json<NewPassword>,
) -> Result<StatusCode, ApiError> {
    if caller.user.id == BUILTIN_ADMIN {
        return Err(ApiError::conflict(
            "builtin_user",
            "the built-in admin signs in with ADMIN_TOKEN and has no password",
        ));
    }
    let (_, current_hash) = users::credentials(&state.pool, &caller.user.username)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    users::check_password(&body.new_password).map_err(refused)?;
    let ip = ip.text();
    if !passwords::matches(body.current_password, current_hash).await? {
        let actor = Actor::User(&caller.user);
        let action = Action::SignInFailed;
        audit::record(&state.pool, actor, action, "password change", ip.as_deref()).await?;
        return Err(ApiError::forbidden(
            "wrong_password",
            "the current password is not right",
        ));
    }
    let new_hash = passwords::hash(body.new_password).await?;
    let mut tx = state.pool.begin().await?;
    users::set_password(&mut tx, caller.user.id, &new_hash).await?;
    let actor = Actor::User(&caller.user);
    audit::record(&mut *tx, actor, Action::PasswordChanged, "", ip.as_deref()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/me/sessions",
    operation_id = "sign_out_everywhere",
    tag = "account",
    summary = "Sign out everywhere",
    description = "Ends every browser session of yours, this one included. Keys keep working.",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Every session of yours has ended"),
        Unauthorized,
        CrossOrigin,
        Internal,
    )
)]
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.pool.begin().await?;
    let ended = vodnest_core::auth::end_all_sessions(&mut *tx, caller.user.id).await?;
    let actor = Actor::User(&caller.user);
    let target = format!("{ended} sessions");
    let ip = ip.text();
    audit::record(
        &mut *tx,
        actor,
        Action::SignOutEverywhere,
        &target,
        ip.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
