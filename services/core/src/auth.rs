//! API tokens and browser sessions. Only SHA-256 digests of secrets are stored.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::OffsetDateTime;

pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A fresh random secret, 64 hex characters.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `presented` is the admin token or an unrevoked API token. Digests are compared,
/// so the comparison time says nothing about the secret.
pub async fn token_is_valid(
    pool: &PgPool,
    admin_token: Option<&str>,
    presented: &str,
) -> Result<bool, sqlx::Error> {
    if presented.is_empty() {
        return Ok(false);
    }
    let presented = digest(presented);
    if admin_token.is_some_and(|admin| !admin.is_empty() && digest(admin) == presented) {
        return Ok(true);
    }
    let found = sqlx::query_scalar!(
        "select 1 from api_tokens where token_hash = $1 and revoked_at is null",
        &presented[..],
    )
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// Opens a session and returns the secret to put in the cookie.
pub async fn create_session(pool: &PgPool, ttl: Duration) -> Result<String, sqlx::Error> {
    let secret = new_secret();
    sqlx::query!(
        "insert into sessions (id_hash, expires_at) values ($1, $2)",
        &digest(&secret)[..],
        OffsetDateTime::now_utc() + ttl,
    )
    .execute(pool)
    .await?;
    Ok(secret)
}

pub async fn session_is_valid(pool: &PgPool, secret: &str) -> Result<bool, sqlx::Error> {
    let found = sqlx::query_scalar!(
        "select 1 from sessions where id_hash = $1 and expires_at > now()",
        &digest(secret)[..],
    )
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

pub async fn end_session(pool: &PgPool, secret: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "delete from sessions where id_hash = $1 or expires_at < now()",
        &digest(secret)[..],
    )
    .execute(pool)
    .await?;
    Ok(())
}
