//! The same-origin check for requests that carry ambient authority. A browser sends the session
//! cookie with every request to this site, whichever page makes it, so a write authenticated by
//! that cookie, the websocket upgrade (any page may open one) and sign-in and sign-out (login
//! CSRF) must come from this site's own pages. Browsers say where a request comes from in
//! `Origin`, or, without it, `Sec-Fetch-Site`; a request from another origin, or one that says
//! neither (every current browser sends `Origin` on these requests), is refused with `403
//! cross_origin_request`. Bearer tokens are not ambient (no page can make a browser send one),
//! so requests authenticated by them are not checked.
//!
//! The site's own origin is `PUBLIC_URL`, or, unset, `http://` and the listen address (plus
//! `http://localhost:PORT` when that address is a loopback one), which suits local use.

use std::net::SocketAddr;

use axum::extract::FromRequestParts;
use axum::http::header::{ORIGIN, UPGRADE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};

use crate::csp;
use crate::error::ApiError;
use crate::state::AppState;

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// The origins browsers reach this site at, as they serialize them in `Origin`.
#[derive(Debug, Clone)]
pub struct OwnOrigin {
    origins: Vec<String>,
}

impl OwnOrigin {
    /// `public_url` (already normalized by [`parse_public_url`]) when set, else what the
    /// listener's address is called in a browser.
    pub fn new(public_url: Option<&str>, listening: SocketAddr) -> Self {
        let origins = match public_url {
            Some(url) => vec![url.to_owned()],
            None if listening.ip().is_loopback() => vec![
                format!("http://{listening}"),
                format!("http://localhost:{}", listening.port()),
            ],
            None => {
                if listening.ip().is_unspecified() {
                    tracing::warn!(
                        "the API listens on every interface but PUBLIC_URL is not set: browsers \
                         are refused sign-in and writes unless they use http://{listening}"
                    );
                }
                vec![format!("http://{listening}")]
            }
        };
        Self { origins }
    }

    /// The origin this site is known by (the first of them).
    pub fn primary(&self) -> &str {
        self.origins.first().map_or("", String::as_str)
    }

    /// Ok when the request says it comes from this site's own pages.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let allowed = match (headers.get(ORIGIN), headers.get(SEC_FETCH_SITE)) {
            (Some(origin), _) => {
                let origin = origin.as_bytes();
                self.origins
                    .iter()
                    .any(|own| own.as_bytes().eq_ignore_ascii_case(origin))
            }
            (None, Some(site)) => site.as_bytes() == b"same-origin",
            (None, None) => false,
        };
        if allowed {
            return Ok(());
        }
        tracing::info!(
            origin = ?headers.get(ORIGIN),
            sec_fetch_site = ?headers.get(SEC_FETCH_SITE),
            own = ?self.origins,
            "refused a cross-origin request"
        );
        Err(ApiError::forbidden(
            "cross_origin_request",
            format!(
                "this request does not come from this site's own pages ({}): the session cookie \
                 is accepted for writes only from them; programs should send a bearer token",
                self.primary()
            ),
        ))
    }
}

/// Requests on which the session cookie would act for whichever page made the browser send
/// them: writes (any method but GET, HEAD, OPTIONS and TRACE) and websocket upgrades.
pub fn needs_check(parts: &Parts) -> bool {
    let upgrade = parts
        .headers
        .get(UPGRADE)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket"));
    !parts.method.is_safe() || upgrade
}

/// A request from this site's own pages (for the sign-in and sign-out forms, which are checked
/// whatever cookie they carry).
pub struct SameOrigin;

impl FromRequestParts<AppState> for SameOrigin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state.own_origin.check(&parts.headers).map(|()| Self)
    }
}

/// `PUBLIC_URL` as browsers serialize an origin: `http` or `https`, the host in lower case, no
/// default port, no path (a trailing `/` is allowed).
pub fn parse_public_url(value: &str) -> Result<String, String> {
    let refuse = || {
        format!(
            "PUBLIC_URL must be the origin browsers use, such as https://vod.example.com \
             (http or https, a host, an optional port, no path), not {value:?}"
        )
    };
    let trimmed = value.strip_suffix('/').unwrap_or(value);
    let origin = csp::origin(trimmed)
        .filter(|origin| origin.len() == trimmed.len())
        .ok_or_else(refuse)?
        .to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://").ok_or_else(refuse)?;
    let default_port = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => return Err(refuse()),
    };
    if authority.contains(['@', ' ']) || authority.starts_with(':') {
        return Err(refuse());
    }
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    Ok(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, Method, Request};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn origin_then_sec_fetch_site_decide() {
        let own = OwnOrigin::new(
            Some("https://vod.example.com"),
            "0.0.0.0:3000".parse().expect("an address"),
        );
        assert!(
            own.check(&headers(&[("origin", "https://vod.example.com")]))
                .is_ok()
        );
        assert!(
            own.check(&headers(&[("origin", "https://VOD.example.com")]))
                .is_ok()
        );
        for refused in [
            &[("origin", "https://evil.example")][..],
            &[("origin", "null")],
            &[("origin", "http://vod.example.com")],
            &[("origin", "https://vod.example.com.evil.example")],
            // Origin wins over a Sec-Fetch-Site that says otherwise.
            &[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "same-origin"),
            ],
            &[("sec-fetch-site", "same-site")],
            &[("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "none")],
            &[],
        ] {
            let err = own.check(&headers(refused)).expect_err("refused");
            assert_eq!(
                err.status(),
                axum::http::StatusCode::FORBIDDEN,
                "{refused:?}"
            );
        }
        assert!(
            own.check(&headers(&[("sec-fetch-site", "same-origin")]))
                .is_ok()
        );
    }

    #[test]
    fn without_public_url_the_listen_address_is_the_origin() {
        let local = OwnOrigin::new(None, "127.0.0.1:3000".parse().expect("an address"));
        assert!(
            local
                .check(&headers(&[("origin", "http://127.0.0.1:3000")]))
                .is_ok()
        );
        assert!(
            local
                .check(&headers(&[("origin", "http://localhost:3000")]))
                .is_ok()
        );
        assert!(
            local
                .check(&headers(&[("origin", "http://localhost:3001")]))
                .is_err()
        );
        let lan = OwnOrigin::new(None, "192.168.1.5:3000".parse().expect("an address"));
        assert_eq!(lan.primary(), "http://192.168.1.5:3000");
        assert!(
            lan.check(&headers(&[("origin", "http://localhost:3000")]))
                .is_err()
        );
    }

    #[test]
    fn writes_and_websocket_upgrades_need_the_check() {
        let parts = |method: Method, upgrade: Option<&str>| {
            let mut request = Request::builder().method(method).uri("/api/v1/videos");
            if let Some(upgrade) = upgrade {
                request = request.header(UPGRADE, upgrade);
            }
            request.body(()).expect("a request").into_parts().0
        };
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(needs_check(&parts(method, None)));
        }
        assert!(needs_check(&parts(Method::GET, Some("WebSocket"))));
        assert!(!needs_check(&parts(Method::GET, None)));
        assert!(!needs_check(&parts(Method::HEAD, None)));
    }

    #[test]
    fn public_urls_are_origins() {
        let parse = parse_public_url;
        assert_eq!(
            parse("https://Vod.Example.com/").as_deref(),
            Ok("https://vod.example.com")
        );
        assert_eq!(
            parse("https://vod.example.com:443").as_deref(),
            Ok("https://vod.example.com")
        );
        assert_eq!(
            parse("http://127.0.0.1:80").as_deref(),
            Ok("http://127.0.0.1")
        );
        assert_eq!(
            parse("http://[::1]:3000").as_deref(),
            Ok("http://[::1]:3000")
        );
        assert_eq!(
            parse("https://vod.example.com:8443").as_deref(),
            Ok("https://vod.example.com:8443")
        );
        for bad in [
            "vod.example.com",
            "ftp://vod.example.com",
            "https://vod.example.com/app",
            "https://vod.example.com?x=1",
            "https://user@vod.example.com",
            "https://",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
