//! Who may call what. `/api/v1` takes `Authorization: Bearer <token>` or the session cookie
//! that `POST /login` sets for the pages; a write made with the cookie must also come from this
//! site's own pages ([`crate::same_origin`]). The websocket route alone also takes the token as
//! `?token=` (browsers cannot set headers on a websocket): anywhere else a token in the URL
//! would end up in logs and histories for nothing.

use axum::extract::{FromRequestParts, Query};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use time::OffsetDateTime;
use vodnest_core::auth;
use vodnest_core::caller::{Caller, Scope};

use crate::error::ApiError;
use crate::same_origin;
use crate::session_cookie;
use crate::state::AppState;

/// The caller of a route: who they are and which scopes this request carries. Extracting it
/// refuses a request without a valid token or session (401), and one over the caller's rate
/// limit (429, see [`crate::throttle`]).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = header_or_cookie_caller(parts, state).await?;
        state.throttle.check_caller(&caller)?;
        Ok(Self(caller))
    }
}

async fn header_or_cookie_caller(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    if let Some(token) = bearer_token(parts) {
        return check_token(state, &token).await;
    }
    let Some(secret) = session_secret(parts, state) else {
        return Err(ApiError::Unauthorized);
    };
    if same_origin::needs_check(parts) {
        state.own_origin.check(&parts.headers)?;
    }
    session_caller(state, &secret)
        .await?
        .ok_or(ApiError::Unauthorized)
}

/// The websocket route's caller: [`Authenticated`], or a valid `?token=` when no
/// `Authorization` header is sent.
#[derive(Debug, Clone)]
pub struct SocketAuthenticated(pub Caller);

impl FromRequestParts<AppState> for SocketAuthenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let query = bearer_token(parts).is_none().then(|| query_token(parts));
        let caller = match query.flatten() {
            Some(token) => check_token(state, &token).await?,
            None => header_or_cookie_caller(parts, state).await?,
        };
        state.throttle.check_caller(&caller)?;
        Ok(Self(caller))
    }
}

/// 403 `insufficient_scope` unless the caller carries `scope`.
pub fn require(caller: &Caller, scope: Scope) -> Result<(), ApiError> {
    if caller.has(scope) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "insufficient_scope",
            format!("this needs a key with the {scope} scope"),
        ))
    }
}

/// The caller a token stands for, if any.
/// Keys are looked up in [`crate::key_cache`] first, then in Postgres.
pub async fn token_caller(state: &AppState, token: &str) -> Result<Option<Caller>, ApiError> {
    if token.is_empty() {
        return Ok(None);
    }
    if auth::is_admin_token(state.config.admin_token(), token) {
        return Ok(Some(Caller::admin_token()));
    }
    let digest = auth::digest(token);
    if let Some(hit) = state.keys.get(&digest, OffsetDateTime::now_utc()) {
        if let Some(key) = hit.touch {
            let pool = state.pool.clone();
            // Bookkeeping: the request does not wait for it.
            tokio::spawn(async move {
                if let Err(err) = auth::touch_key(&pool, key).await {
                    tracing::warn!(error = %err, "cannot stamp the key's last use");
                }
            });
        }
        return Ok(Some(hit.caller));
    }
    let generation = state.keys.generation();
    let found = auth::authenticate_key(&state.pool, &digest).await?;
    if let Some(key) = &found {
        state.keys.insert(generation, digest, key);
    }
    Ok(found.map(|key| key.caller))
}

async fn check_token(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    token_caller(state, token)
        .await?
        .ok_or(ApiError::Unauthorized)
}

async fn session_caller(state: &AppState, secret: &str) -> Result<Option<Caller>, ApiError> {
    let admin_token = state.config.admin_token();
    Ok(auth::authenticate_session(&state.pool, admin_token, secret).await?)
}

fn bearer_token(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// `?token=`; a query string that cannot be read carries no token.
fn query_token(parts: &Parts) -> Option<String> {
    Query::<TokenQuery>::try_from_uri(&parts.uri)
        .ok()
        .and_then(|Query(query)| query.token)
}

fn session_secret(parts: &Parts, state: &AppState) -> Option<String> {
    let jar = CookieJar::from_headers(&parts.headers);
    session_cookie::read(&jar, state.config.serves_https())
}

/// The signed-in caller of a page, if any (pages for viewers need none).
pub async fn page_caller(parts: &Parts, state: &AppState) -> Result<Option<Caller>, ApiError> {
    jar_caller(&CookieJar::from_headers(&parts.headers), state).await
}

/// The signed-in caller of a page that reads only the cookie jar.
pub async fn jar_caller(jar: &CookieJar, state: &AppState) -> Result<Option<Caller>, ApiError> {
    match session_cookie::read(jar, state.config.serves_https()) {
        Some(secret) => session_caller(state, &secret).await,
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(uri: &str) -> Parts {
        let request = Request::builder().uri(uri);
        request.body(()).expect("a test request").into_parts().0
    }

    #[test]
    fn the_token_parameter_is_decoded() {
        let with = parts("/api/v1/videos/x/events?a=1&token=a%20b+c");
        assert_eq!(query_token(&with).as_deref(), Some("a b c"));
        assert_eq!(query_token(&parts("/api/v1/videos?limit=2")), None);
        assert_eq!(query_token(&parts("/api/v1/videos")), None);
    }
}
