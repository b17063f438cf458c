//! The Postgres pool and the schema migrations embedded from `migrations/`.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::config::DatabaseConfig;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Opens the pool and brings the schema up to date. Migrations take an advisory lock, so the
/// API and the processor may both run this at start-up.
pub async fn connect_and_migrate(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&config.database_url)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}
