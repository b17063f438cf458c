//! The Postgres pool and the schema migrations embedded from `migrations/`.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::config::DatabaseConfig;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// How long a pooled connection is waited for, unless the service says otherwise.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the pool and brings the schema up to date. Migrations take an advisory lock, so the
/// API and the processor may both run this at start-up.
pub async fn connect_and_migrate(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    connect_and_migrate_with(config, ACQUIRE_TIMEOUT).await
}

/// [`connect_and_migrate`] with a pool that waits at most `acquire_timeout` for a connection
/// (then `sqlx::Error::PoolTimedOut`): the API answers 503 then rather than stall.
pub async fn connect_and_migrate_with(
    config: &DatabaseConfig,
    acquire_timeout: Duration,
) -> Result<PgPool, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(acquire_timeout)
        .connect(&config.database_url)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}
