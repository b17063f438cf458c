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
use vodnest_core::auth;

use crate::error::ApiError;
use crate::same_origin;
use crate::session_cookie;
use crate::state::AppState;

/// Proof that the request carries a valid token or session.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated;

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = bearer_token(parts) {
            return check_token(state, &token).await;
        }
        let Some(secret) = session_secret(parts, state) else {
            return Err(ApiError::Unauthorized);
        };
        if same_origin::needs_check(parts) {
            state.own_origin.check(&parts.headers)?;
        }
        if auth::session_is_valid(&state.pool, &secret).await? {
            Ok(Self)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

/// The websocket route's caller: [`Authenticated`], or a valid `?token=` when no
/// `Authorization` header is sent.
#[derive(Debug, Clone, Copy)]
pub struct SocketAuthenticated;

impl FromRequestParts<AppState> for SocketAuthenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let query = bearer_token(parts).is_none().then(|| query_token(parts));
        match query.flatten() {
            Some(token) => check_token(state, &token).await.map(|_| Self),
            None => Authenticated::from_request_parts(parts, state)
                .await
                .map(|_| Self),
        }
    }
}

async fn check_token(state: &AppState, token: &str) -> Result<Authenticated, ApiError> {
    if auth::token_is_valid(&state.pool, state.config.admin_token.as_deref(), token).await? {
        Ok(Authenticated)
    } else {
        Err(ApiError::Unauthorized)
    }
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

/// Whether the page request carries a valid session (pages redirect to `/login` otherwise).
pub async fn has_session(parts: &Parts, state: &AppState) -> Result<bool, ApiError> {
    match session_secret(parts, state) {
        Some(secret) => Ok(auth::session_is_valid(&state.pool, &secret).await?),
        None => Ok(false),
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
