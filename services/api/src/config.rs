//! The API's settings. Every field is an environment variable and a flag.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use vodnest_core::cloudfront::{CloudFrontSigner, KeyError, KeyPairId, PrivateKey};
use vodnest_core::config::{DatabaseConfig, StorageConfig};
use vodnest_core::metrics::MetricsAddr;
use vodnest_core::traces::TraceSettings;

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
    /// Where `GET /metrics` (Prometheus) is served; keep it off the public network.
    /// `off`: no metrics at all.
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9300")]
    pub metrics_addr: MetricsAddr,
    /// How long the signed playback URLs of unlisted and private videos work (seconds, 60 to
    /// 518400); a video longer than this gets URLs that outlive its duration by half an hour.
    /// Making a video private or deleting it stops new playback within this time.
    #[arg(long, env = "PLAYBACK_URL_TTL_SECS", default_value_t = 4 * 3600,
          value_parser = clap::value_parser!(u64).range(60..=518_400))]
    pub playback_url_ttl_secs: u64,
    /// How long a video's replaced output stays in storage (seconds): players that started
    /// before a re-run or a visibility change play on, and no CDN copy or signed URL can still
    /// point at it once it is deleted. Keep it above the longest playback URL lifetime plus
    /// the CDN's playlist TTL (an hour).
    #[arg(long, env = "RETIRED_MEDIA_GRACE_SECS", default_value_t = 24 * 3600)]
    pub retired_media_grace_secs: u64,
    /// How long the sweeper keeps long-dead rows (days): expired API keys, finished jobs a
    /// later job of their video superseded, videos of abandoned uploads. Expired sessions and
    /// invites go at once; audit events stay.
    #[arg(long, env = "DEAD_ROW_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub dead_row_retention_days: u64,
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
    pub cloudfront: CloudFrontSettings,
    #[command(flatten)]
    pub quotas: crate::quotas::Quotas,
    #[command(flatten)]
    pub accounts: crate::account_settings::AccountSettings,
    #[command(flatten)]
    pub rate_limits: crate::throttle::RateLimits,
    #[command(flatten)]
    pub webhooks: crate::webhooks::WebhookSettings,
    #[command(flatten)]
    pub traces: TraceSettings,
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub storage: StorageConfig,
    #[command(flatten)]
    pub cloudwatch: vodnest_core::cloudwatch::CloudWatchConfig,
}

/// CloudFront signed URLs for unlisted and private videos (the AWS stack sets both). Unset, the
/// API presigns S3 GETs of those videos' objects instead (local development).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CloudFrontSettings {
    /// Id of the CloudFront public key (in the distribution's trusted key group) that verifies
    /// the API's playback signatures.
    #[arg(
        long = "cloudfront-key-pair-id",
        env = "CLOUDFRONT_KEY_PAIR_ID",
        requires = "cloudfront_private_key"
    )]
    pub key_pair_id: Option<KeyPairId>,
    /// The private half of that key pair, PEM (PKCS#1 or PKCS#8): the API signs with it. (A PEM
    /// starts with dashes: as a flag's value, not taken for a flag.)
    #[arg(id = "cloudfront_private_key", long = "cloudfront-private-key",
          env = "CLOUDFRONT_PRIVATE_KEY", hide_env_values = true, allow_hyphen_values = true,
          value_parser = PrivateKeyParser, requires = "key_pair_id")]
    pub private_key: Option<PrivateKey>,
    /// The distribution in front of the media bucket: deleted videos and versions that stopped
    /// being public are invalidated there, so its edges stop serving them.
    #[arg(
        long = "cloudfront-distribution-id",
        env = "CLOUDFRONT_DISTRIBUTION_ID"
    )]
    pub distribution_id: Option<String>,
}

impl CloudFrontSettings {
    /// The signer, when both settings are given (clap refuses one without the other).
    pub fn signer(&self) -> Option<CloudFrontSigner> {
        let (id, key) = (self.key_pair_id.clone()?, self.private_key.clone()?);
        Some(CloudFrontSigner::new(id, key))
    }
}

/// Parses `CLOUDFRONT_PRIVATE_KEY` at start-up. Its own parser because clap's usual error
/// quotes the refused value, and this one must never reach a log.
#[derive(Clone)]
struct PrivateKeyParser;

impl clap::builder::TypedValueParser for PrivateKeyParser {
    type Value = PrivateKey;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<PrivateKey, clap::Error> {
        value
            .to_str()
            .ok_or(KeyError::NotAnRsaPrivateKey)
            .and_then(PrivateKey::from_pem)
            .map_err(|err| {
                clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("{err}\n"))
                    .with_cmd(cmd)
            })
    }
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

    pub fn playback_url_ttl(&self) -> Duration {
        Duration::from_secs(self.playback_url_ttl_secs)
    }

    pub fn dead_row_retention(&self) -> Duration {
        Duration::from_secs(self.dead_row_retention_days * 24 * 3600)
    }

    pub fn retired_media_grace(&self) -> Duration {
        Duration::from_secs(self.retired_media_grace_secs)
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

    #[test]
    fn cloudfront_signing_is_optional_but_complete_and_checked_at_start() {
        let none = parse_with(&[]).expect("parses");
        assert!(none.cloudfront.signer().is_none());

        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("openssl runs (./dev installs it)");
        let pem = String::from_utf8(out.stdout).expect("PEM");
        let id = ["--cloudfront-key-pair-id", "K2JCJMDEHXQW5F"];
        let key = ["--cloudfront-private-key", pem.as_str()];
        let both = parse_with(&[id, key].concat()).expect("parses");
        assert!(both.cloudfront.signer().is_some());
        let body: String = pem.lines().nth(1).unwrap_or_default().into();
        assert!(!format!("{both:?}").contains(&body[..16]));

        for half in [&id[..], &key[..]] {
            let err = parse_with(half)
                .expect_err("one without the other")
                .to_string();
            assert!(err.contains("required"), "{err}");
        }
        let malformed = "-----BEGIN PRIVATE KEY-----\nc2VrcmV0LWJ1dC1ub3QtYS1rZXk=\n";
        let err = parse_with(&[id[0], id[1], key[0], malformed])
            .expect_err("not a key")
            .to_string();
        assert!(
            err.contains("CLOUDFRONT_PRIVATE_KEY is not an RSA private key"),
            "{err}"
        );
        assert!(
            !err.contains("c2VrcmV0LWJ1dC1ub3Q"),
            "the value is echoed: {err}"
        );
    }
}
