//! The API's rate limits: one per client address on every request, and one per caller on
//! every authenticated `/api/v1` call (per API key; per user for a session signed in with a
//! password; `ADMIN_TOKEN` counts as the built-in admin). Over either, the answer is
//! `429 rate_limited` with `Retry-After`.
//!
//! Exempt from the address limit: the health checks (the load balancer polls them from its
//! own address) and the pages' static files (a page pulls several; they cost nothing to
//! serve).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;
use vodnest_core::caller::{Caller, Credential};

use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::rate_limit::{KeyedLimiter, Rate};
use crate::state::AppState;

/// The limits, each a setting.
#[derive(Debug, Clone, Copy, PartialEq, clap::Args)]
pub struct RateLimits {
    /// Requests a client address may make at once after a quiet spell.
    #[arg(long, env = "RATE_LIMIT_IP_BURST", default_value_t = 300,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ip_burst: u32,
    /// Requests per second a client address may sustain.
    #[arg(long, env = "RATE_LIMIT_IP_PER_SEC", default_value_t = 50.0, value_parser = per_sec)]
    pub ip_per_sec: f64,
    /// `/api/v1` calls an API key (or a signed-in user) may make at once after a quiet spell.
    #[arg(long, env = "RATE_LIMIT_KEY_BURST", default_value_t = 120,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub key_burst: u32,
    /// `/api/v1` calls per second an API key (or a signed-in user) may sustain.
    #[arg(long, env = "RATE_LIMIT_KEY_PER_SEC", default_value_t = 20.0, value_parser = per_sec)]
    pub key_per_sec: f64,
    /// How many addresses and keys each limiter remembers at most (memory: about 100 bytes
    /// each). Idle ones are forgotten first.
    #[arg(long, env = "RATE_LIMIT_MAX_KEYS", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_keys: u64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            ip_burst: 300,
            ip_per_sec: 50.0,
            key_burst: 120,
            key_per_sec: 20.0,
            max_keys: 100_000,
        }
    }
}

fn per_sec(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "{value:?} is not a positive number of requests per second"
        )),
    }
}

/// The limiters, shared by every request.
pub struct Throttle {
    by_ip: KeyedLimiter<IpAddr>,
    by_caller: KeyedLimiter<Uuid>,
}

impl Throttle {
    pub fn new(limits: &RateLimits) -> Self {
        let max_keys = usize::try_from(limits.max_keys).unwrap_or(usize::MAX);
        let ip = Rate {
            burst: limits.ip_burst,
            per_sec: limits.ip_per_sec,
        };
        let key = Rate {
            burst: limits.key_burst,
            per_sec: limits.key_per_sec,
        };
        Self {
            by_ip: KeyedLimiter::new(ip, max_keys),
            by_caller: KeyedLimiter::new(key, max_keys),
        }
    }

    /// 429 when `caller`'s budget is spent.
    pub fn check_caller(&self, caller: &Caller) -> Result<(), ApiError> {
        let key = match caller.credential {
            Credential::Key(id) | Credential::Session { key: Some(id) } => id,
            Credential::Session { key: None } | Credential::AdminToken => caller.user.id,
        };
        self.by_caller.check(&key, Instant::now()).map_err(too_many)
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.by_ip
            .check(&crate::client_ip::subscriber(ip), Instant::now())
            .map_err(too_many)
    }
}

fn too_many(wait: Duration) -> ApiError {
    let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::RateLimited {
        message: format!("too many requests; try again in {retry_after_secs} s"),
        retry_after_secs,
    }
}

/// Whether a path is exempt from the address limit.
pub fn is_exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz") || path.starts_with("/static/")
}

/// The per-address limit, as a middleware around every route.
pub async fn by_ip(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: Request,
    next: Next,
) -> Response {
    if let Some(ip) = ip.filter(|_| !is_exempt(request.uri().path()))
        && let Err(refused) = state.throttle.check_ip(ip)
    {
        return refused.into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("an address");
        assert_eq!(
            crate::client_ip::subscriber(ip("2001:db8:1:2:aaaa::1")),
            crate::client_ip::subscriber(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            crate::client_ip::subscriber(ip("2001:db8:1:2::1")),
            crate::client_ip::subscriber(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            crate::client_ip::subscriber(ip("::ffff:1.2.3.4")),
            ip("1.2.3.4")
        );
        assert_eq!(crate::client_ip::subscriber(ip("1.2.3.4")), ip("1.2.3.4"));
    }

    #[test]
    fn retry_after_is_rounded_up() {
        let secs = |d| match too_many(d) {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => retry_after_secs,
            _ => 0,
        };
        assert_eq!(secs(Duration::from_millis(1)), 1);
        assert_eq!(secs(Duration::from_secs(2)), 2);
        assert_eq!(secs(Duration::from_millis(2001)), 3);
    }

    /// Every operation lists the 429 (with `Retry-After`), those the rate limits exempt too:
    /// the connection cap per address answers it on any route. And a 503, for the same reason.
    #[test]
    fn the_document_lists_429_wherever_it_can_happen() {
        let doc = serde_json::to_value(crate::routes::document()).expect("the document");
        let paths = doc["paths"].as_object().expect("paths");
        let mut checked = 0;
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("a path item") {
                let answer = &operation["responses"]["429"];
                assert!(
                    answer["headers"]["Retry-After"].is_object(),
                    "{method} {path} lacks the 429 with Retry-After: {answer}"
                );
                assert!(
                    operation["responses"]["503"].is_object(),
                    "{method} {path} lacks a 503"
                );
                checked += 1;
            }
        }
        assert!(checked >= 8, "only {checked} operations");
    }

    #[test]
    fn rates_must_be_positive() {
        assert_eq!(per_sec("2.5"), Ok(2.5));
        assert!(per_sec("0").is_err() && per_sec("-1").is_err() && per_sec("NaN").is_err());
    }
}
