//! Explicit endpoint configuration for moto or another local AWS emulator.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};

/// Builds an `SdkConfig` that sends every service to one loopback URL with
/// static credentials, the way `AWS_ENDPOINT_URL` would, but without touching
/// the process environment (tests run in parallel).
pub fn local_sdk_config(url: &str, access_key: &str, secret_key: &str, region: &str) -> SdkConfig {
    let credentials = Credentials::new(access_key, secret_key, None, None, "likeness-static");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build()
}

/// Region, credentials, retries and any `AWS_ENDPOINT_URL` from the environment.
pub async fn sdk_config_from_env() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}
