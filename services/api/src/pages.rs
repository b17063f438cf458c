//! The HTML pages (minijinja templates embedded in the binary) and their assets: our own
//! stylesheet and scripts, embedded too, and the npm packages they load (hls.js, Swagger UI)
//! read from the npm install at start-up.

use std::path::Path;

use axum::Form;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use minijinja::{Environment, context};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use vodnest_core::auth;

use crate::account_pages;
use crate::auth::{jar_caller, page_caller};
use crate::client_ip::ClientIp;
use crate::config::ApiConfig;
use crate::error::{ApiError, Query};
use crate::same_origin::SameOrigin;
use crate::session_cookie;
use crate::sign_in;
use crate::state::AppState;
use vodnest_core::caller::Caller;

mod viewer;

const TEMPLATES: [(&str, &str); 16] = [
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("library.html", include_str!("../templates/library.html")),
    ("creator.html", include_str!("../templates/creator.html")),
    ("watch.html", include_str!("../templates/watch.html")),
    ("embed.html", include_str!("../templates/embed.html")),
    ("upload.html", include_str!("../templates/upload.html")),
    ("docs.html", include_str!("../templates/docs.html")),
    ("signup.html", include_str!("../templates/signup.html")),
    ("account.html", include_str!("../templates/account.html")),
    (
        "admin_users.html",
        include_str!("../templates/admin_users.html"),
    ),
    ("_cards.html", include_str!("../templates/_cards.html")),
    ("_search.html", include_str!("../templates/_search.html")),
    ("_player.html", include_str!("../templates/_player.html")),
    (
        "_share_meta.html",
        include_str!("../templates/_share_meta.html"),
    ),
    ("_pager.html", include_str!("../templates/_pager.html")),
];

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
/// The scripts are ES modules: each page loads its own, which imports `events.js`, `time.js`,
/// `encoding.js` (and the watch page's `chapters.js`, `comforts.js`, `player_time.js`,
/// `download.js`, `clip.js`, `edit.js`).
const ASSETS: [(&str, &str, &str); 18] = [
    ("app.css", CSS, include_str!("../static/app.css")),
    ("events.js", JS, include_str!("../static/events.js")),
    ("time.js", JS, include_str!("../static/time.js")),
    ("encoding.js", JS, include_str!("../static/encoding.js")),
    ("library.js", JS, include_str!("../static/library.js")),
    ("watch.js", JS, include_str!("../static/watch.js")),
    ("chapters.js", JS, include_str!("../static/chapters.js")),
    ("comforts.js", JS, include_str!("../static/comforts.js")),
    (
        "player_time.js",
        JS,
        include_str!("../static/player_time.js"),
    ),
    ("share.js", JS, include_str!("../static/share.js")),
    ("download.js", JS, include_str!("../static/download.js")),
    ("clip.js", JS, include_str!("../static/clip.js")),
    ("edit.js", JS, include_str!("../static/edit.js")),
    ("upload.js", JS, include_str!("../static/upload.js")),
    ("docs.js", JS, include_str!("../static/docs.js")),
    ("api.js", JS, include_str!("../static/api.js")),
    ("account.js", JS, include_str!("../static/account.js")),
    (
        "admin_users.js",
        JS,
        include_str!("../static/admin_users.js"),
    ),
];

/// Files of npm packages, served as `/static/vendor/{name}`: name, path under `VENDOR_DIR`,
/// content type, and the page that cannot work without it.
const VENDOR: [(&str, &str, &str, &str); 3] = [
    (
        "hls.min.js",
        "hls.js/dist/hls.min.js",
        JS,
        "the watch page cannot play",
    ),
    (
        "swagger-ui-bundle.js",
        "swagger-ui-dist/swagger-ui-bundle.js",
        JS,
        "/docs cannot render",
    ),
    (
        "swagger-ui.css",
        "swagger-ui-dist/swagger-ui.css",
        CSS,
        "/docs cannot render",
    ),
];

/// A vendored file read at start-up: its name, content type and bytes.
struct VendorFile {
    name: &'static str,
    content_type: &'static str,
    bytes: Vec<u8>,
}

/// Templates and vendored files, loaded once.
pub struct Site {
    env: Environment<'static>,
    vendor: Vec<VendorFile>,
}

impl Site {
    pub fn load(config: &ApiConfig) -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        let vendor = VENDOR
            .iter()
            .filter_map(|&(name, path, content_type, without)| {
                let bytes = read_vendor(&config.vendor_dir.join(path), without)?;
                Some(VendorFile {
                    name,
                    content_type,
                    bytes,
                })
            })
            .collect();
        Ok(Self { env, vendor })
    }

    pub(crate) fn render(
        &self,
        name: &str,
        ctx: minijinja::Value,
    ) -> Result<Html<String>, PageError> {
        let template = self.env.get_template(name)?;
        Ok(Html(template.render(ctx)?))
    }
}

fn read_vendor(path: &Path, without: &str) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(err) => {
            tracing::warn!(
                path = %path.display(),
                error = %err,
                "{without}: run `npm ci` (the dev script does) or set VENDOR_DIR"
            );
            None
        }
    }
}

/// Every page but the embed player: none may be framed (see `startup`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(viewer::home))
        .route("/watch", get(viewer::watch))
        .route("/u/{username}", get(viewer::creator))
        .route("/upload", get(upload))
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/docs", get(docs))
        .route("/static/vendor/{file}", get(vendor_file))
        .route("/static/{file}", get(asset))
        .route(
            "/signup",
            get(account_pages::signup_form).post(account_pages::signup),
        )
        .route("/account", get(account_pages::account))
        .route("/admin/users", get(account_pages::admin_users))
}

/// The embed player, the one page other sites may frame (`EMBED_FRAME_ANCESTORS`).
pub fn embed_router() -> Router<AppState> {
    Router::new().route("/embed/{id}", get(viewer::embed))
}

/// A page that failed: answered with its status and a small HTML page built here, not from a
/// template, so that it can still be shown when the templates are what failed.
#[derive(Debug)]
pub enum PageError {
    NotFound(&'static str),
    /// Something that was here is no more (an expired or used invite).
    Gone(&'static str),
    BadRequest(&'static str),
    Internal(String),
}

impl From<minijinja::Error> for PageError {
    fn from(err: minijinja::Error) -> Self {
        Self::Internal(format!("template: {err:#}"))
    }
}

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        Self::Internal(err.to_string())
    }
}

impl From<sqlx::Error> for PageError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(format!("database: {err}"))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::NotFound(message) => (StatusCode::NOT_FOUND, message),
            Self::Gone(message) => (StatusCode::GONE, message),
            Self::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side. Try again in a moment.",
                )
            }
        };
        let body = format!(
            "<!doctype html><meta charset=utf-8><title>{0}</title>\
             <link rel=stylesheet href=/static/app.css><main class=container><h1>{0}</h1>\
             <p>{1}</p><p><a href=/>Back to the library</a></p></main>",
            status.as_u16(),
            message
        );
        (status, Html(body)).into_response()
    }
}

/// A page request with a valid session; otherwise the visitor is sent to `/login`.
pub struct SignedIn(pub Caller);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match page_caller(parts, state).await {
            Ok(Some(caller)) => Ok(Self(caller)),
            Ok(None) => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|pq| pq.as_str())
                    .unwrap_or("/");
                Err(redirect(&format!("/login?next={}", encode_component(next))))
            }
            Err(err) => Err(PageError::from(err).into_response()),
        }
    }
}

pub(crate) fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// What `encode_component` escapes: everything but unreserved characters and `/`, so that a
/// path survives as a readable `next=` value.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// Only paths of this site: one leading `/` (never `//evil.example`, `/\evil` or a full URL),
/// and nothing but visible ASCII, since browsers drop tabs and newlines from a URL (`/\t/evil`
/// would become `//evil`) and a `Location` header holds nothing else. The paths the pages send
/// here are percent-encoded already.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n
        }
        _ => "/",
    }
}

async fn upload(State(state): State<AppState>, _: SignedIn) -> Result<Html<String>, PageError> {
    state.site.render(
        "upload.html",
        context! { signed_in => true, max_upload_bytes => state.config.max_upload_bytes },
    )
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_form(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
) -> Result<Html<String>, PageError> {
    let next = safe_next(query.next.as_deref());
    state.site.render(
        "login.html",
        context! { next, error => None::<&str>, signed_in => false },
    )
}

/// The sign-in form: `username` and `password`, or `token` (which wins when both are sent).
#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    _: SameOrigin,
    ip: ClientIp,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let next = safe_next(form.next.as_deref());
    let token = form.token.trim();
    let outcome = if token.is_empty() {
        sign_in::with_password(&state, ip, &form.username, form.password).await?
    } else {
        sign_in::with_token(&state, ip, token).await?
    };
    let username = form.username.trim();
    let refused = |status: StatusCode, error: String| -> Result<Response, PageError> {
        let ctx = context! { next, error, username, signed_in => false };
        Ok((status, state.site.render("login.html", ctx)?).into_response())
    };
    match outcome {
        sign_in::Outcome::SignedIn(secret) => {
            let ttl = state.config.session_ttl();
            let cookie = session_cookie::issue(state.config.serves_https(), secret, ttl);
            Ok((jar.add(cookie), redirect(next)).into_response())
        }
        sign_in::Outcome::Refused if token.is_empty() => refused(
            StatusCode::UNAUTHORIZED,
            "That username and password do not match.".into(),
        ),
        sign_in::Outcome::Refused => {
            refused(StatusCode::UNAUTHORIZED, "That token is not valid.".into())
        }
        sign_in::Outcome::Blocked(wait) => {
            // Whole seconds, rounded up: a client that waits this long is let through.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let error = format!(
                "Too many failed sign-ins for this username from here: try again in {secs} s."
            );
            let mut response = refused(StatusCode::TOO_MANY_REQUESTS, error)?;
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
            Ok(response)
        }
    }
}

async fn logout(
    State(state): State<AppState>,
    _: SameOrigin,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let https = state.config.serves_https();
    if let Some(secret) = session_cookie::read(&jar, https) {
        auth::end_session(&state.pool, &secret).await?;
    }
    let ended = session_cookie::remove(jar, https);
    Ok((ended, redirect("/login")).into_response())
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            *body,
        )
            .into_response(),
        None => PageError::NotFound("There is no such file.").into_response(),
    }
}

async fn vendor_file(
    State(state): State<AppState>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    match state.site.vendor.iter().find(|v| v.name == file) {
        Some(found) => (
            [
                (CONTENT_TYPE, HeaderValue::from_static(found.content_type)),
                (
                    CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
            ],
            found.bytes.clone(),
        )
            .into_response(),
        None => PageError::NotFound("This file is not installed on this server.").into_response(),
    }
}

/// The API reference: Swagger UI over `/api/v1/openapi.json`. Public, like the document.
async fn docs(State(state): State<AppState>, jar: CookieJar) -> Result<Html<String>, PageError> {
    let signed_in = jar_caller(&jar, &state).await?.is_some();
    state.site.render("docs.html", context! { signed_in })
}

#[cfg(test)]
mod tests {
    use super::{encode_component, safe_next};

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/watch?v=1")), "/watch?v=1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\r\nSet-Cookie:x=1")), "/");
        assert_eq!(safe_next(Some("/watch\u{7f}")), "/");
        assert_eq!(safe_next(Some("/\u{2028}/evil")), "/");
        assert_eq!(safe_next(Some("/watch?v=%C3%A9")), "/watch?v=%C3%A9");
        assert_eq!(safe_next(Some("")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn encodes_query_characters() {
        assert_eq!(encode_component("/watch?v=a&b"), "/watch%3Fv%3Da%26b");
    }
}
