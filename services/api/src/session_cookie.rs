//! The session cookie that `POST /login` sets for the pages: its name, its attributes and how it
//! is read back. Over HTTPS it is `__Host-vodnest_session`: browsers accept a `__Host-` cookie
//! only with `Secure`, `Path=/` and no `Domain`, so no other host (a sibling subdomain, a
//! plain-http page) can set or shadow it. Plain HTTP (local development) cannot use the prefix,
//! so there it is `vodnest_session`. Either way `HttpOnly` and `SameSite=Lax`. Only the name in
//! use is read: over HTTPS a cookie of the plain name may have been planted, not issued here.

use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

const PLAIN: &str = "vodnest_session";
const HOST_ONLY: &str = "__Host-vodnest_session";

/// The cookie's name when the site is served over HTTPS (`https`) or not.
pub fn name(https: bool) -> &'static str {
    if https { HOST_ONLY } else { PLAIN }
}

/// The cookie that carries `secret` for `max_age`.
pub fn issue(https: bool, secret: String, max_age: std::time::Duration) -> Cookie<'static> {
    let mut cookie = base(https, secret);
    cookie.set_max_age(time::Duration::try_from(max_age).unwrap_or(time::Duration::MAX));
    cookie
}

/// The session secret among the request's cookies, if any.
pub fn read(jar: &CookieJar, https: bool) -> Option<String> {
    jar.get(name(https)).map(|cookie| cookie.value().to_owned())
}

/// `jar` with the session cookie removed (browsers drop a `__Host-` cookie only when told with
/// the same attributes, `Secure` included).
pub fn remove(jar: CookieJar, https: bool) -> CookieJar {
    jar.remove(base(https, String::new()))
}

fn base(https: bool, value: String) -> Cookie<'static> {
    Cookie::build((name(https), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https)
        .build()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::header::{COOKIE, SET_COOKIE};
    use axum::http::{HeaderMap, HeaderValue};
    use axum::response::IntoResponse;

    use super::*;

    fn jar(cookie: &'static str) -> CookieJar {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static(cookie));
        CookieJar::from_headers(&headers)
    }

    fn set_cookie(jar: CookieJar) -> String {
        let response = jar.into_response();
        let value = response.headers().get(SET_COOKIE).expect("a Set-Cookie");
        value.to_str().expect("ASCII").to_owned()
    }

    #[test]
    fn over_https_the_cookie_is_host_only_and_secure() {
        let cookie = issue(true, "s3cret".into(), Duration::from_secs(60)).to_string();
        assert!(
            cookie.starts_with("__Host-vodnest_session=s3cret;"),
            "{cookie}"
        );
        for attribute in [
            "; HttpOnly",
            "; SameSite=Lax",
            "; Secure",
            "; Path=/",
            "; Max-Age=60",
        ] {
            assert!(cookie.contains(attribute), "{attribute} in {cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
        let removal = set_cookie(remove(jar("__Host-vodnest_session=s3cret"), true));
        assert!(removal.starts_with("__Host-vodnest_session=;"), "{removal}");
        assert!(
            removal.contains("; Secure") && removal.contains("; Path=/"),
            "{removal}"
        );
        assert!(removal.contains("Max-Age=0"), "{removal}");
    }

    #[test]
    fn over_http_the_cookie_has_the_plain_name_and_no_secure() {
        let cookie = issue(false, "s3cret".into(), Duration::from_secs(60)).to_string();
        assert!(cookie.starts_with("vodnest_session=s3cret;"), "{cookie}");
        assert!(
            cookie.contains("; HttpOnly") && cookie.contains("; SameSite=Lax"),
            "{cookie}"
        );
        assert!(
            !cookie.contains("Secure") && !cookie.contains("Domain"),
            "{cookie}"
        );
    }

    #[test]
    fn only_the_name_in_use_is_read() {
        let both = jar("theme=dark; vodnest_session=planted; __Host-vodnest_session=mine");
        assert_eq!(read(&both, true).as_deref(), Some("mine"));
        assert_eq!(read(&both, false).as_deref(), Some("planted"));
        assert_eq!(read(&jar("vodnest_session=planted"), true), None);
        assert_eq!(read(&jar("theme=dark"), false), None);
    }
}
