//! What every handler shares.

use std::sync::Arc;

use sqlx::PgPool;
use vodnest_core::cdn::Cdn;
use vodnest_core::storage::Storage;

use crate::complete_turns::CompleteTurns;
use crate::config::ApiConfig;
use crate::hub::EventHub;
use crate::key_cache::KeyCache;
use crate::pages::Site;
use crate::playback::PlaybackSigner;
use crate::same_origin::OwnOrigin;
use crate::socket_limit::SocketLimit;
use crate::throttle::Throttle;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub storage: Storage,
    pub config: Arc<ApiConfig>,
    pub hub: EventHub,
    pub site: Arc<Site>,
    /// Where this site's own pages are: the same-origin check's reference.
    pub own_origin: Arc<OwnOrigin>,
    /// The event websockets open: in all, per client address (public), per key.
    pub sockets: Arc<SocketLimit>,
    /// Upload completes of one video take turns without holding `pool`'s connections.
    pub complete_turns: CompleteTurns,
    /// The callers of recently used keys (cleared by the hub when keys change).
    pub keys: KeyCache,
    /// The rate limiters (per client address, per caller).
    pub throttle: Arc<Throttle>,
    /// Signs and checks the playback URLs of unlisted and private videos.
    pub playback: Arc<PlaybackSigner>,
    /// The CDN to invalidate, when one is configured.
    pub cdn: Option<Cdn>,
}

impl AppState {
    /// Asks the CDN (if any) to stop serving what is under `prefix`. A failure is logged: the
    /// objects are gone from the bucket, and the cached copies age out by themselves.
    pub async fn invalidate(&self, prefix: &str) {
        let Some(cdn) = &self.cdn else { return };
        match cdn.invalidate(prefix).await {
            Ok(id) => tracing::info!(prefix, invalidation = id, "CDN invalidated"),
            Err(err) => tracing::warn!(prefix, error = %err, "cannot invalidate the CDN"),
        }
    }
}
