//! Configuration shared by the services. Each field is an environment variable and a flag.

use std::fmt;

/// Where the database is. `Debug` hides the password.
#[derive(clap::Args, Clone)]
pub struct DatabaseConfig {
    /// Postgres connection string.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// Largest number of pooled connections.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("database_url", &redact_url(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .finish()
    }
}

/// Buckets and the public URL that playback URLs are built on.
#[derive(clap::Args, Clone, Debug)]
pub struct StorageConfig {
    /// Private bucket that receives uploads (key `raw/{video_id}`).
    #[arg(long, env = "RAW_BUCKET")]
    pub raw_bucket: String,
    /// Bucket that holds HLS output (prefix `videos/{video_id}/`).
    #[arg(long, env = "MEDIA_BUCKET")]
    pub media_bucket: String,
    /// Public base URL of the media bucket (a CDN domain in production).
    #[arg(long, env = "MEDIA_BASE_URL")]
    pub media_base_url: String,
}

/// Replaces the password of a `scheme://user:password@host/...` URL with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn hides_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
