//! API keys: made by their owner (or by an admin for any user), listed without their tokens,
//! revoked with immediate effect. A key never carries more than its owner's role allows nor
//! more than the key (or session) that made it.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use vodnest_core::audit::{self, Action, Actor};
use vodnest_core::auth::{self, ApiKey};
use vodnest_core::caller::{Caller, Role, Scope, UserRef};

use super::path_uuid;
use super::users::{UserId, existing};
use crate::auth::{Authenticated, require};
use crate::client_ip::ClientIp;
use crate::error::{ApiError, ErrorBody, Json};
use crate::openapi::{
    CrossOrigin, InsufficientScope, Internal, NoSuchKey, NoSuchUser, NotJson, Unauthorized,
};
use crate::state::AppState;

/// Longest key name, in characters.
const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// 1 to 100 characters, to recognise the key by.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// At least one; never more than the owner's role allows nor than the calling key carries.
    #[schema(min_items = 1)]
    scopes: Vec<Scope>,
    /// When the key stops working (RFC 3339, in the future); never when absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

/// Named apart from the video's `Created`: two schemas of one name would be one component.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = KeyCreated)]
pub struct Created {
    key: ApiKey,
    /// The secret: shown this once, stored only as a digest.
    token: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyList {
    keys: Vec<ApiKey>,
}

/// The `{id}` of a key; anything that is not a UUID names no key (404).
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct KeyId(
    /// The key's id.
    pub Uuid,
);

impl<S: Send + Sync> FromRequestParts<S> for KeyId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        path_uuid(parts, state, "no such key").await.map(Self)
    }
}

/// The checked name and scopes (deduplicated, in a stable order) of a new key.
fn checked(body: &NewKey) -> Result<(String, Vec<Scope>), ApiError> {
    let name = body.name.trim();
    let name_ok =
        (1..=MAX_NAME_CHARS).contains(&name.chars().count()) && !name.chars().any(char::is_control);
    if !name_ok {
        return Err(ApiError::invalid(
            "invalid_field",
            format!("name must be 1 to {MAX_NAME_CHARS} characters without control characters"),
        ));
    }
    let scopes: Vec<Scope> = Scope::ALL
        .iter()
        .copied()
        .filter(|s| body.scopes.contains(s))
        .collect();
    if scopes.is_empty() {
        return Err(ApiError::invalid(
            "invalid_field",
            "scopes must name at least one of videos:read, videos:write, admin",
        ));
    }
    if body
        .expires_at
        .is_some_and(|at| at <= OffsetDateTime::now_utc())
    {
        return Err(ApiError::invalid(
            "invalid_field",
            "expires_at must be in the future",
        ));
    }
    Ok((name.to_owned(), scopes))
}

/// Makes a key for `owner` (of `role`) as `caller` asked, within what the caller may grant and
/// the per-user cap.
async fn make(
    state: &AppState,
    caller: &Caller,
    ip: ClientIp,
    owner: &UserRef,
    role: Role,
    body: &NewKey,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let (name, scopes) = checked(body)?;
    caller.may_grant(role, &scopes).map_err(|scope| {
        ApiError::forbidden(
            "insufficient_scope",
            format!(
                "a key for {} cannot have the {scope} scope: neither their role ({role}) nor \
                 the key that asks may exceed it",
                owner.username
            ),
        )
    })?;
    let cap = state.config.accounts.max_keys_per_user;
    if auth::count_keys(&state.pool, owner.id).await? >= cap {
        return Err(ApiError::conflict(
            "too_many_keys",
            format!(
                "{} already has {cap} keys, the most allowed; revoke one first",
                owner.username
            ),
        ));
    }
    let mut tx = state.pool.begin().await?;
    let (key, token) =
        auth::create_key(&mut *tx, owner.id, &name, &scopes, body.expires_at).await?;
    let target = format!("key {} of {}", key.id, owner.username);
    let ip = ip.text();
    let actor = Actor::User(&caller.user);
    audit::record(&mut *tx, actor, Action::KeyCreated, &target, ip.as_deref()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(Created { key, token })))
}

#[utoipa::path(
    post,
    path = "/keys",
    operation_id = "create_key",
    tag = "keys",
    summary = "Make an API key for yourself",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = NewKey,
    responses(
        (status = 201, description = "The key and its token (shown this once)", body = Created, links(
            ("revoke_key" = (operation_id = "revoke_key", parameters(("id" = "$response.body#/key/id")))),
        )),
        NotJson,
        Unauthorized,
        (status = 403, description = "A scope beyond your role or the calling key's (`insufficient_scope`), or from another site (`cross_origin_request`)", body = ErrorBody),
        (status = 409, description = "You hold the most keys allowed (`too_many_keys`)", body = ErrorBody),
        (status = 422, description = "A field is wrong (`invalid_body`, `invalid_field`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    Json(body): Json<NewKey>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let owner = caller.user.clone();
    make(&state, &caller, ip, &owner, caller.role, &body).await
}

#[utoipa::path(
    post,
    path = "/users/{id}/keys",
    operation_id = "create_key_for_user",
    tag = "keys",
    summary = "Make an API key for a user (admin)",
    security(("bearer" = ["admin"]), ("session_cookie" = ["admin"])),
    params(UserId),
    request_body = NewKey,
    responses(
        (status = 201, description = "The key and its token (shown this once)", body = Created, links(
            ("revoke_key" = (operation_id = "revoke_key", parameters(("id" = "$response.body#/key/id")))),
        )),
        NotJson,
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        NoSuchUser,
        (status = 409, description = "The user holds the most keys allowed (`too_many_keys`)", body = ErrorBody),
        (status = 422, description = "A field is wrong (`invalid_body`, `invalid_field`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn create_for_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    UserId(id): UserId,
    Json(body): Json<NewKey>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    require(&caller, Scope::Admin)?;
    let owner = existing(&state, id).await?;
    make(&state, &caller, ip, &owner.as_ref(), owner.role, &body).await
}

#[utoipa::path(
    get,
    path = "/keys",
    operation_id = "list_keys",
    tag = "keys",
    summary = "List your API keys (never their tokens)",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Your keys, newest first", body = KeyList),
        Unauthorized,
        Internal,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<KeyList>, ApiError> {
    let keys = auth::list_keys(&state.pool, caller.user.id).await?;
    Ok(Json(KeyList { keys }))
}

#[utoipa::path(
    delete,
    path = "/keys/{id}",
    operation_id = "revoke_key",
    tag = "keys",
    summary = "Revoke an API key (yours; an admin's: anyone's)",
    description = "The key is refused from the next request on, and every session signed in \
                   with it ends.",
    security(("bearer" = []), ("session_cookie" = [])),
    params(KeyId),
    responses(
        (status = 204, description = "Revoked"),
        Unauthorized,
        CrossOrigin,
        NoSuchKey,
        Internal,
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    KeyId(id): KeyId,
) -> Result<StatusCode, ApiError> {
    let only_of = caller.owner_filter();
    let mut tx = state.pool.begin().await?;
    let owner = auth::revoke_key(&mut *tx, id, only_of)
        .await?
        .ok_or(ApiError::NotFound("no such key"))?;
    let target = format!("key {id} of user {owner}");
    let ip = ip.text();
    let actor = Actor::User(&caller.user);
    audit::record(&mut *tx, actor, Action::KeyRevoked, &target, ip.as_deref()).await?;
    tx.commit().await?;
    // This process forgets it now; the others on the NOTIFY the delete fired.
    state.keys.clear();
    Ok(StatusCode::NO_CONTENT)
}
