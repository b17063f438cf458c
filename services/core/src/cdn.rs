//! The CDN in front of the media bucket, when there is one (CloudFront in AWS). Objects whose
//! keys never change are cached at its edges for long; when such objects must stop being
//! served before their copies age out (a video that stopped being public, a deleted video), the
//! API asks CloudFront to invalidate their prefix, one wildcard path per prefix.

use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::config::BehaviorVersion;
use aws_sdk_cloudfront::error::DisplayErrorContext;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};

use crate::storage::StorageError;

/// A CloudFront distribution the API may invalidate.
#[derive(Clone, Debug)]
pub struct Cdn {
    client: Client,
    distribution_id: String,
}

impl Cdn {
    /// The distribution `CLOUDFRONT_DISTRIBUTION_ID` names, reached as the AWS SDK reads the
    /// environment; `None` without one (local development: no CDN).
    pub async fn from_env(distribution_id: Option<&str>) -> Option<Self> {
        let distribution_id = distribution_id?;
        let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
        Some(Self::new(Client::new(&sdk), distribution_id))
    }

    pub fn new(client: Client, distribution_id: &str) -> Self {
        Self {
            client,
            distribution_id: distribution_id.to_owned(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Invalidates every cached object under the bucket key prefix `prefix`; returns the
    /// invalidation's id.
    pub async fn invalidate(&self, prefix: &str) -> Result<String, StorageError> {
        let path = format!("/{}*", prefix.trim_start_matches('/'));
        let paths = Paths::builder()
            .quantity(1)
            .items(path)
            .build()
            .map_err(|e| StorageError::Request(e.to_string()))?;
        let batch = InvalidationBatch::builder()
            .paths(paths)
            // Unique per request: a repeated invalidation of one prefix is a new one.
            .caller_reference(uuid::Uuid::now_v7().to_string())
            .build()
            .map_err(|e| StorageError::Request(e.to_string()))?;
        let out = self
            .client
            .create_invalidation()
            .distribution_id(&self.distribution_id)
            .invalidation_batch(batch)
            .send()
            .await
            .map_err(|e| StorageError::Transport {
                operation: "CreateInvalidation",
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(out
            .invalidation()
            .map(|i| i.id().to_owned())
            .unwrap_or_default())
    }
}
