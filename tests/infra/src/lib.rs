//! Drives Terraform against emulators for the infrastructure tests: a [`Terraform`] root run
//! in its own scratch directory (plugins come from the shared cache the dev script configures),
//! a [`Moto`] server on a free port of 127.0.0.1, and S3 and CloudFront clients to read back what
//! was applied.

mod moto;
mod terraform;

pub use moto::{JsonService, Moto};
pub use terraform::{Outputs, Resource, Terraform};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

/// The emulators' test credentials.
fn credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "vodnest-tests")
}

/// An S3 client for an emulator at `endpoint` (path-style, the emulators' test credentials).
pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A CloudFront client for an emulator at `endpoint`.
pub fn cloudfront_client(endpoint: &str) -> aws_sdk_cloudfront::Client {
    let config = aws_sdk_cloudfront::Config::builder()
        .behavior_version(aws_sdk_cloudfront::config::BehaviorVersion::latest())
        .region(aws_sdk_cloudfront::config::Region::new("us-east-1"))
        .credentials_provider(credentials())
        .endpoint_url(endpoint)
        .build();
    aws_sdk_cloudfront::Client::from_conf(config)
}

/// A name prefix no other run uses: bucket names are global within an emulator too.
pub fn unique_prefix(what: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("vodnest-{what}-{}", &id[..8])
}
