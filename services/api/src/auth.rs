//! Who may call what. `/api/v1` takes `Authorization: Bearer <token>`, a `?token=` query
//! parameter (browsers cannot set headers on a websocket) or the session cookie that
//! `POST /login` sets for the pages.

use axum::extract::{FromRequestParts, Query};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use vodnest_core::auth;

use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "vodnest_session";

/// Proof that the request carries a valid token or session.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated;

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = bearer_token(parts).or_else(|| query_token(parts)) {
            return if auth::token_is_valid(&state.pool, state.config.admin_token.as_deref(), &token)
                .await?
            {
                Ok(Self)
            } else {
                Err(ApiError::Unauthorized)
            };
        }
        match session_cookie(&CookieJar::from_headers(&parts.headers)) {
            Some(secret) if auth::session_is_valid(&state.pool, &secret).await? => Ok(Self),
            _ => Err(ApiError::Unauthorized),
        }
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

/// The session secret among the request's cookies, if any.
pub fn session_cookie(jar: &CookieJar) -> Option<String> {
    jar.get(SESSION_COOKIE)
        .map(|cookie| cookie.value().to_owned())
}

/// Whether the page request carries a valid session (pages redirect to `/login` otherwise).
pub async fn has_session(parts: &Parts, state: &AppState) -> Result<bool, ApiError> {
    match session_cookie(&CookieJar::from_headers(&parts.headers)) {
        Some(secret) => Ok(auth::session_is_valid(&state.pool, &secret).await?),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use axum::http::header::COOKIE;

    use super::*;

    fn parts(uri: &str, cookie: Option<&str>) -> Parts {
        let mut request = Request::builder().uri(uri);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.body(()).expect("a test request").into_parts().0
    }

    #[test]
    fn the_token_parameter_is_decoded() {
        let with = parts("/api/v1/videos/x/events?a=1&token=a%20b+c", None);
        assert_eq!(query_token(&with).as_deref(), Some("a b c"));
        assert_eq!(query_token(&parts("/api/v1/videos?limit=2", None)), None);
        assert_eq!(query_token(&parts("/api/v1/videos", None)), None);
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let jar = |cookie| CookieJar::from_headers(&parts("/", cookie).headers);
        let found = session_cookie(&jar(Some("theme=dark; vodnest_session=s3cret; lang=en")));
        assert_eq!(found.as_deref(), Some("s3cret"));
        assert_eq!(session_cookie(&jar(Some("theme=dark"))), None);
        assert_eq!(session_cookie(&jar(None)), None);
    }
}
