//! The API's settings. Every field is an environment variable and a flag.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use vodnest_core::config::{DatabaseConfig, StorageConfig};

#[derive(clap::Parser, Clone, Debug)]
#[command(
    name = "vodnest-api",
    about = "vodnest HTTP API, websocket and web pages"
)]
pub struct ApiConfig {
    /// Listen address.
    #[arg(long, env = "API_ADDR", default_value = "127.0.0.1:3000")]
    pub api_addr: SocketAddr,
    /// Accepted as a bearer token with full rights.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<vodnest_core::secret::Secret>,
    /// Largest accepted upload in bytes (default 100 GiB).
    #[arg(long, env = "MAX_UPLOAD_BYTES", default_value_t = 100 * 1024 * 1024 * 1024)]
    pub max_upload_bytes: i64,
    /// Smallest multipart part size in bytes; S3 refuses parts under 5 MiB but the last.
    #[arg(long, env = "UPLOAD_MIN_PART_BYTES", default_value_t = 8 * 1024 * 1024,
          value_parser = clap::value_parser!(i64).range(5 * 1024 * 1024..))]
    pub upload_min_part_bytes: i64,
    /// How long a presigned part URL stays valid (seconds, 300 to 604800); clients ask for
    /// fresh ones.
    #[arg(long, env = "UPLOAD_URL_TTL_SECS", default_value_t = 3600, value_parser = url_ttl_secs)]
    pub upload_url_ttl_secs: u64,
    /// How long an upload may stay unfinished before the sweeper aborts it (seconds). The raw
    /// bucket's lifecycle rule aborts stray multipart uploads after a day as a backstop.
    #[arg(long, env = "UPLOAD_EXPIRY_SECS", default_value_t = 24 * 3600)]
    pub upload_expiry_secs: u64,
    /// How often the sweeper looks for expired uploads (seconds).
    #[arg(long, env = "UPLOAD_SWEEP_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub upload_sweep_secs: u64,
    /// How long a browser session lasts (seconds).
    #[arg(long, env = "SESSION_TTL_SECS", default_value_t = 7 * 24 * 3600)]
    pub session_ttl_secs: u64,
    /// The site is served over HTTPS (behind a TLS-terminating load balancer): the session
    /// cookie becomes `__Host-` and `Secure`, and responses carry HSTS. Implied by an `https://`
    /// `PUBLIC_URL`.
    #[arg(long, env = "SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,
    /// The origin browsers reach the pages at (`https://vod.example.com`): sign-in, sign-out,
    /// writes made with the session cookie and websockets are refused from any other. Default:
    /// `http://` and the listen address (`http://localhost:PORT` too on a loopback address).
    #[arg(long, env = "PUBLIC_URL", value_parser = crate::same_origin::parse_public_url)]
    pub public_url: Option<String>,
    /// Addresses (or CIDR ranges, comma-separated) of the proxies in front of the API, such as
    /// the load balancer: only a request from one of them has its client address read from
    /// `X-Forwarded-For`. Empty: the peer address is the client's.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = crate::client_ip::parse_range)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Which sites may show `/embed/{id}` in an iframe: the CSP `frame-ancestors` sources of
    /// the embed page, space-separated (`*` any site; `https://blog.example.com` one). Every
    /// other page refuses to be framed.
    #[arg(long, env = "EMBED_FRAME_ANCESTORS", default_value = "*",
          value_parser = crate::csp::parse_frame_ancestors)]
    pub embed_frame_ancestors: String,
    /// How many public event websockets one client address (an IPv6 /64) may hold open.
    #[arg(long, env = "PUBLIC_SOCKETS_PER_IP", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub public_sockets_per_ip: u32,
    /// Where npm installed the front-end packages (hls.js).
    #[arg(long, env = "VENDOR_DIR", default_value = "node_modules")]
    pub vendor_dir: PathBuf,
    #[command(flatten)]
    pub server: crate::server_limits::ServerLimits,
    #[command(flatten)]
    pub quotas: crate::quotas::Quotas,
    #[command(flatten)]
    pub accounts: crate::account_settings::AccountSettings,
    #[command(flatten)]
    pub rate_limits: crate::throttle::RateLimits,
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub storage: StorageConfig,
}

/// Bounds of `UPLOAD_URL_TTL_SECS`. Clients renew a URL that has less than two minutes left
/// before sending a part with it, so a shorter life leaves no time to send one; S3 refuses
/// signatures valid for more than a week.
const URL_TTL_SECS: std::ops::RangeInclusive<u64> = 300..=7 * 24 * 3600;

fn url_ttl_secs(value: &str) -> Result<u64, String> {
    let secs: u64 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number of seconds"))?;
    if URL_TTL_SECS.contains(&secs) {
        Ok(secs)
    } else {
        Err(format!(
            "presigned part URLs must live {} to {} seconds (5 minutes to a week), not {secs}: \
             a browser renews a URL that has less than 2 minutes left, and S3 refuses longer",
            URL_TTL_SECS.start(),
            URL_TTL_SECS.end()
        ))
    }
}

impl ApiConfig {
    /// `ADMIN_TOKEN`, when one is set and not empty.
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token
            .as_ref()
            .map(vodnest_core::secret::Secret::expose)
            .filter(|t| !t.is_empty())
    }

    pub fn upload_url_ttl(&self) -> Duration {
        Duration::from_secs(self.upload_url_ttl_secs)
    }

    pub fn upload_expiry(&self) -> Duration {
        Duration::from_secs(self.upload_expiry_secs)
    }

    pub fn upload_sweep_every(&self) -> Duration {
        Duration::from_secs(self.upload_sweep_secs)
    }

    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_secs)
    }

    /// Whether browsers reach the site over HTTPS: `SECURE_COOKIES`, or an `https://`
    /// `PUBLIC_URL`.
    pub fn serves_https(&self) -> bool {
        self.secure_cookies
            || self
                .public_url
                .as_deref()
                .is_some_and(|url| url.starts_with("https://"))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ApiConfig;

    /// The settings from the required flags plus `extra`.
    fn parse_with(extra: &[&str]) -> Result<ApiConfig, clap::Error> {
        let required = [
            "vodnest-api",
            "--database-url",
            "postgres://localhost/x",
            "--raw-bucket",
            "raw",
            "--media-bucket",
            "media",
            "--media-base-url",
            "http://127.0.0.1:4566/media",
        ];
        ApiConfig::try_parse_from(required.iter().chain(extra))
    }

    fn parse(ttl: &str) -> Result<u64, String> {
        parse_with(&["--upload-url-ttl-secs", ttl])
            .map(|config| config.upload_url_ttl_secs)
            .map_err(|err| err.to_string())
    }

    #[test]
    fn the_admin_token_never_shows_in_debug_output() {
        let config = parse_with(&["--admin-token", "sekrit-admin-token"]).expect("parses");
        assert_eq!(config.admin_token(), Some("sekrit-admin-token"));
        assert!(!format!("{config:?}").contains("sekrit"));
    }

    #[test]
    fn part_urls_live_at_least_five_minutes() {
        assert_eq!(parse("300"), Ok(300));
        assert_eq!(parse("3600"), Ok(3600));
        let short = parse("60").expect_err("a minute is too short");
        assert!(short.contains("300 to 604800 seconds"), "{short}");
        assert!(parse("604801").is_err());
        assert!(parse("soon").is_err());
    }
}
