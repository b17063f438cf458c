//! What every handler shares.

use std::sync::Arc;

use sqlx::PgPool;
use vodnest_core::storage::Storage;

use crate::config::ApiConfig;
use crate::hub::EventHub;
use crate::pages::Site;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub storage: Storage,
    pub config: Arc<ApiConfig>,
    pub hub: EventHub,
    pub site: Arc<Site>,
}
