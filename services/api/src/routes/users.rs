//! Users, managed by admins: add one (with an invite link that lets them set their password),
//! list them, remove one (their videos deleted or given to another user), re-send an invite.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vodnest_core::audit::{self, Action, Actor};
use vodnest_core::caller::{BUILTIN_ADMIN, Role, Scope, UserRef};
use vodnest_core::users::{self, User};
use vodnest_core::videos;

use super::path_uuid;
use crate::auth::{Authenticated, require};
use crate::client_ip::ClientIp;
use crate::error::{ApiError, ErrorBody, Json, Query};
use crate::openapi::{
    CrossOrigin, InsufficientScope, Internal, NoSuchUser, NotJson, StorageFailures, Unauthorized,
};
use crate::passwords;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 2 to 32 characters: lowercase letters, digits, `_`, `.` or `-`.
    #[schema(pattern = "^[a-z0-9][a-z0-9_.-]{1,31}$")]
    username: String,
    role: Role,
    /// 10 to 256 characters. Without one, the user sets theirs through the invite link.
    #[serde(default)]
    #[schema(min_length = 10, max_length = 256)]
    password: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Added {
    user: User,
    /// Give this link to the new user: it lets them set their password (it works once, until
    /// `INVITE_TTL_SECS` after now).
    invite_url: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    users: Vec<User>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Invite {
    invite_url: String,
}

/// The `{id}` of a user; anything that is not a UUID names no user (404).
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct UserId(
    /// The user's id.
    pub Uuid,
);

impl<S: Send + Sync> FromRequestParts<S> for UserId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        path_uuid(parts, state, "no such user").await.map(Self)
    }
}

/// The link an invite's secret is used through: this site's `/signup` page.
pub fn invite_url(state: &AppState, secret: &str) -> String {
    format!("{}/signup?invite={secret}", state.own_origin.primary())
}

/// A username or password the user rules refuse: 422 with the rule.
pub fn refused(err: users::Refused) -> ApiError {
    let code = match err {
        users::Refused::Username => "invalid_username",
        users::Refused::Password => "invalid_password",
    };
    ApiError::invalid(code, err.to_string())
}

/// The user, or 404.
pub async fn existing(state: &AppState, id: Uuid) -> Result<User, ApiError> {
    users::get(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("no such user"))
}

#[utoipa::path(
    post,
    path = "/users",
    operation_id = "add_user",
    tag = "users",
    summary = "Add a user (admin)",
    description = "Answers the user and an invite link that lets them set their password \
                   (also when a password is given: they may replace it).",
    security(("bearer" = ["admin"]), ("session_cookie" = ["admin"])),
    request_body = NewUser,
    responses(
        (status = 201, description = "The user and their invite link", body = Added, links(
            ("send_invite" = (operation_id = "send_invite", parameters(("id" = "$response.body#/user/id")))),
            ("create_key_for_user" = (operation_id = "create_key_for_user", parameters(("id" = "$response.body#/user/id")))),
            ("remove_user" = (operation_id = "remove_user", parameters(("id" = "$response.body#/user/id")))),
        )),
        NotJson,
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        (status = 409, description = "The username is taken (`username_taken`)", body = ErrorBody),
        (status = 422, description = "A field is wrong (`invalid_body`, `invalid_username`, `invalid_password`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<Added>), ApiError> {
    require(&caller, Scope::Admin)?;
    users::check_username(&body.username).map_err(refused)?;
    let password_hash = match body.password {
        Some(password) => {
            users::check_password(&password).map_err(refused)?;
            Some(passwords::hash(password).await?)
        }
        None => None,
    };
    let mut tx = state.pool.begin().await?;
    let user = users::create(
        &mut *tx,
        &body.username,
        body.role,
        password_hash.as_deref(),
    )
    .await?
    .ok_or_else(|| {
        ApiError::conflict(
            "username_taken",
            format!("there is already a user called {}", body.username),
        )
    })?;
    let secret = users::create_invite(&mut tx, user.id, state.config.accounts.invite_ttl()).await?;
    let ip = ip.text();
    let target = format!("{} ({})", user.username, user.role);
    let actor = Actor::User(&caller.user);
    audit::record(&mut *tx, actor, Action::UserAdded, &target, ip.as_deref()).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, role = %user.role, "user added");
    let invite_url = invite_url(&state, &secret);
    Ok((StatusCode::CREATED, Json(Added { user, invite_url })))
}

#[utoipa::path(
    get,
    path = "/users",
    operation_id = "list_users",
    tag = "users",
    summary = "List users (admin)",
    security(("bearer" = ["admin"]), ("session_cookie" = ["admin"])),
    responses(
        (status = 200, description = "Every user, oldest first", body = UserList),
        Unauthorized,
        InsufficientScope,
        Internal,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<UserList>, ApiError> {
    require(&caller, Scope::Admin)?;
    let users = users::list(&state.pool).await?;
    Ok(Json(UserList { users }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveQuery {
    /// Give the user's videos to this user instead of deleting them.
    transfer_to: Option<Uuid>,
}

/// Their keys, sessions and invite stop working first; then their videos are deleted (files
/// included) or transferred, then the user.
#[utoipa::path(
    delete,
    path = "/users/{id}",
    operation_id = "remove_user",
    tag = "users",
    summary = "Remove a user (admin)",
    description = "Their keys and sessions stop working at once. Their videos are deleted, \
                   files included, unless `transfer_to` names the user who gets them.",
    security(("bearer" = ["admin"]), ("session_cookie" = ["admin"])),
    params(UserId, RemoveQuery),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "A malformed query (`invalid_query`)", body = ErrorBody),
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        NoSuchUser,
        (status = 409, description = "The built-in admin cannot be removed (`builtin_user`)", body = ErrorBody),
        (status = 422, description = "`transfer_to` names no other user (`invalid_transfer`)", body = ErrorBody),
        StorageFailures,
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    UserId(id): UserId,
    Query(query): Query<RemoveQuery>,
) -> Result<StatusCode, ApiError> {
    require(&caller, Scope::Admin)?;
    if id == BUILTIN_ADMIN {
        return Err(ApiError::conflict(
            "builtin_user",
            "the built-in admin (ADMIN_TOKEN's user) cannot be removed",
        ));
    }
    let user = existing(&state, id).await?;
    if let Some(to) = query.transfer_to {
        let to_someone_else = to != id && users::get(&state.pool, to).await?.is_some();
        if !to_someone_else {
            return Err(ApiError::invalid(
                "invalid_transfer",
                "transfer_to must name another existing user",
            ));
        }
    }
    let ip = ip.text();
    let mut tx = state.pool.begin().await?;
    users::lock_out(&mut tx, id).await?;
    tx.commit().await?;
    // Their keys stop here now; other processes empty theirs on the NOTIFY.
    state.keys.clear();
    match query.transfer_to {
        Some(to) => {
            let mut tx = state.pool.begin().await?;
            users::transfer_videos(&mut *tx, id, to).await?;
            users::delete(&mut *tx, id).await?;
            tx.commit().await?;
        }
        None => delete_with_videos(&state, &caller.user, ip.as_deref(), id).await?,
    }
    let target = format!("{} ({})", user.username, user.role);
    let actor = Actor::User(&caller.user);
    audit::record(
        &state.pool,
        actor,
        Action::UserRemoved,
        &target,
        ip.as_deref(),
    )
    .await?;
    tracing::info!(user_id = %id, "user removed");
    Ok(StatusCode::NO_CONTENT)
}

/// Videos deleted per page while removing a user.
const PAGE: i64 = 100;

/// Deletes every video of the user the way `DELETE /videos/{id}` does, then the user. An upload
/// created by a request already in flight when the user was locked out may land meanwhile: a
/// few rounds catch it.
async fn delete_with_videos(
    state: &AppState,
    actor: &UserRef,
    ip: Option<&str>,
    id: Uuid,
) -> Result<(), ApiError> {
    for _ in 0..3 {
        loop {
            let page = videos::list(&state.pool, Some(id), PAGE, None).await?;
            if page.is_empty() {
                break;
            }
            for row in &page {
                super::videos::remove(state, actor, ip, row).await?;
            }
        }
        match users::delete(&state.pool, id).await {
            Ok(_) => return Ok(()),
            Err(sqlx::Error::Database(err)) if err.is_foreign_key_violation() => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::conflict(
        "user_busy",
        "the user's videos kept changing while they were being deleted; try again",
    ))
}

#[utoipa::path(
    post,
    path = "/users/{id}/invite",
    operation_id = "send_invite",
    tag = "users",
    summary = "Re-send a user's invite (admin)",
    description = "A fresh invite link; the previous one stops working. Using it sets a new \
                   password.",
    security(("bearer" = ["admin"]), ("session_cookie" = ["admin"])),
    params(UserId),
    responses(
        (status = 200, description = "The new invite link", body = Invite),
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        NoSuchUser,
        (status = 409, description = "The built-in admin signs in with ADMIN_TOKEN only (`builtin_user`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn invite(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    UserId(id): UserId,
) -> Result<Json<Invite>, ApiError> {
    require(&caller, Scope::Admin)?;
    let user = existing(&state, id).await?;
    if id == BUILTIN_ADMIN {
        return Err(ApiError::conflict(
            "builtin_user",
            "the built-in admin signs in with ADMIN_TOKEN, not a password",
        ));
    }
    let mut tx = state.pool.begin().await?;
    let secret = users::create_invite(&mut tx, id, state.config.accounts.invite_ttl()).await?;
    let ip = ip.text();
    let actor = Actor::User(&caller.user);
    audit::record(
        &mut *tx,
        actor,
        Action::InviteSent,
        &user.username,
        ip.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Invite {
        invite_url: invite_url(&state, &secret),
    }))
}
