//! The vodnest API: a JSON API under `/api/v1`, a websocket of status changes and the web
//! pages, all served by one axum router.
//!
//! - [`config`]: the API's settings (environment variables and flags).
//! - [`startup`]: builds the state, binds the listener, serves until shutdown.
//! - [`background`]: the tasks that run beside the server; one that dies stops the API.
//! - [`state`]: what every handler shares.
//! - [`error`]: the one error type and its JSON shape.
//! - [`auth`]: bearer tokens, `?token=` (the websocket only) and session cookies;
//!   [`session_cookie`]: the cookie's name and attributes; [`same_origin`]: the check that
//!   keeps other sites from acting with it; [`security_headers`]: headers on every response.
//! - [`hub`]: one LISTEN connection fanned out to websocket subscribers by video id; it also
//!   empties [`key_cache`] (the callers of recently used keys) when keys change.
//! - [`routes`]: the `/api/v1` handlers and health checks.
//! - [`openapi`]: the OpenAPI document those routes make, served at `/api/v1/openapi.json`.
//! - [`pages`]: the HTML pages and their static assets; [`csp`]: their security policy.
//! - [`account_settings`]: invite lifetime, sign-in back-off cap, keys per user;
//!   [`passwords`]: Argon2 off the async threads; [`sign_in`]: password and token sign-in;
//!   [`account_pages`]: `/signup`, `/account` and `/admin/users`.
//! - [`client_ip`]: the client's address (behind `TRUSTED_PROXIES`); [`quotas`]: per-user limits;
//!   [`throttle`]: the rate limits per address and per caller, kept by [`rate_limit`].
//! - [`socket_limit`]: how many event websockets may be open, in all, per client, per key.
//! - [`server`]: the HTTP server under the router, with [`server_limits`] (its settings),
//!   [`connection_gate`] (connection caps) and [`connection_timeouts`] (header and idle
//!   timeouts); [`body_limit`]: the request body limit; [`keyed_limit`]: counts per key.
//! - [`complete_turns`]: upload completes of one video take turns off the shared pool.
//! - [`sweeper`]: aborts uploads left unfinished past their deadline, forgets old viewer digests.
//! - [`upload_plan`]: how an upload is cut into multipart parts.
//! - [`request_span`]: each request's span, continuing an incoming trace.
//! - [`webhooks`]: users' endpoints' settings and address checks, and the sender of deliveries.

pub mod account_pages;
pub mod account_settings;
pub mod auth;
pub mod background;
pub mod body_limit;
pub mod client_ip;
pub mod complete_turns;
pub mod config;
pub mod connection_gate;
pub mod connection_timeouts;
pub mod csp;
pub mod error;
pub mod http_metrics;
pub mod hub;
pub mod key_cache;
pub mod keyed_limit;
pub mod openapi;
pub mod pages;
pub mod passwords;
pub mod playback;
pub mod poster_image;
pub mod quotas;
pub mod rate_limit;
pub mod request_span;
pub mod routes;
pub mod same_origin;
pub mod security_headers;
pub mod server;
pub mod server_limits;
pub mod session_cookie;
pub mod sign_in;
pub mod socket_limit;
pub mod startup;
pub mod state;
pub mod sweeper;
pub mod throttle;
pub mod upload_plan;
pub mod webhooks;

pub use config::ApiConfig;
pub use startup::Application;
