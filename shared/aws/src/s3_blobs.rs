//! `Blobs` over the real `aws-sdk-s3` client: against AWS, moto, or the embedded
//! object server (path-style addressing on a loopback endpoint).

use crate::sdk_error::port_error;
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::presigning::{PresignedRequest as SdkPresigned, PresigningConfig};
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use likeness_core::PortError;
use likeness_core::error::PortResult;
use likeness_core::ports::{Blobs, Clock, PresignedRequest, SystemClock};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Where a non-AWS, S3-compatible server listens and how to sign for it.
#[derive(Clone)]
pub struct S3Endpoint {
    /// e.g. `http://127.0.0.1:9000`
    pub url: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

impl std::fmt::Debug for S3Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Endpoint")
            .field("url", &self.url)
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// One bucket through the S3 API.
#[derive(Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
    clock: Arc<dyn Clock>,
    list_page_size: i32,
}

impl std::fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Blobs")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// S3's own maximum page for ListObjectsV2.
const MAX_LIST_PAGE: i32 = 1000;

/// SigV4 presigned URLs cannot live longer than a week.
const MAX_PRESIGN_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

impl S3Blobs {
    /// For AWS: region, credentials and retries come from the shared config.
    pub fn from_sdk_config(config: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        Self::with_client(Client::new(config), bucket.into())
    }

    /// For the embedded object server (or moto): static credentials, path-style.
    pub fn for_endpoint(endpoint: &S3Endpoint, bucket: impl Into<String>) -> Self {
        let credentials = Credentials::new(
            endpoint.access_key.clone(),
            endpoint.secret_key.clone(),
            None,
            None,
            "likeness-static",
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint.url.clone())
            .region(Region::new(endpoint.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(true)
            .build();
        Self::with_client(Client::from_conf(config), bucket.into())
    }

    fn with_client(client: Client, bucket: String) -> Self {
        Self {
            client,
            bucket,
            clock: Arc::new(SystemClock),
            list_page_size: MAX_LIST_PAGE,
        }
    }

    /// The clock presigned requests start from (tests move it to check expiry).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Keys per ListObjectsV2 page, 1 to 1000.
    pub fn with_list_page_size(mut self, size: u16) -> Self {
        self.list_page_size = i32::from(size).clamp(1, MAX_LIST_PAGE);
        self
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn presigning(&self, expires_in: Duration) -> PortResult<(PresigningConfig, DateTime<Utc>)> {
        if expires_in.is_zero() || expires_in > MAX_PRESIGN_EXPIRY {
            return Err(PortError::Invalid(format!(
                "presigned expiry must be between 1 s and 7 days, got {expires_in:?}"
            )));
        }
        let start = self.clock.now();
        let expires_at = start
            + chrono::Duration::from_std(expires_in)
                .map_err(|e| PortError::Invalid(format!("expiry {expires_in:?}: {e}")))?;
        let config = PresigningConfig::builder()
            .start_time(SystemTime::from(start))
            .expires_in(expires_in)
            .build()
            .map_err(|e| PortError::Invalid(format!("presigning config: {e}")))?;
        Ok((config, expires_at))
    }
}

fn to_port(presigned: &SdkPresigned, expires_at: DateTime<Utc>) -> PresignedRequest {
    PresignedRequest {
        url: presigned.uri().to_owned(),
        method: presigned.method().to_owned(),
        headers: presigned
            .headers()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
        expires_at,
    }
}

/// The `X-Amz-SignedHeaders` list of a presigned URL, lower-case names.
fn signed_headers(url: &str) -> Vec<String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "X-Amz-SignedHeaders")
        .map(|(_, value)| {
            value
                .replace("%3B", ";")
                .replace("%3b", ";")
                .split(';')
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default()
}

#[async_trait]
impl Blobs for S3Blobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> PortResult<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| port_error(&format!("put {key}"), e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> PortResult<Vec<u8>> {
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| port_error(&format!("get {key}"), e))?;
        let body = output
            .body
            .collect()
            .await
            .map_err(|e| PortError::Unavailable(format!("get {key}: reading the body: {e}")))?;
        Ok(body.into_bytes().to_vec())
    }

    async fn delete(&self, key: &str) -> PortResult<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| port_error(&format!("delete {key}"), e))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> PortResult<Vec<String>> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .max_keys(self.list_page_size)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| port_error(&format!("list {prefix}"), e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key().map(str::to_owned)),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(keys)
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> PortResult<PresignedRequest> {
        let length = i64::try_from(content_length).map_err(|_| {
            PortError::Invalid(format!("content length {content_length} too large"))
        })?;
        let (config, expires_at) = self.presigning(expires_in)?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
            .presigned(config)
            .await
            .map_err(|e| port_error(&format!("presign put {key}"), e))?;
        // The SDK signs the Content-Type and Content-Length headers it was given;
        // the URL is only safe to hand out if both are bound, so check rather than trust.
        let signed = signed_headers(presigned.uri());
        for required in ["content-length", "content-type", "host"] {
            if !signed.iter().any(|h| h == required) {
                return Err(PortError::Backend(format!(
                    "presigned PUT for {key} does not sign {required} (signed: {})",
                    signed.join(";")
                )));
            }
        }
        Ok(to_port(&presigned, expires_at))
    }

    async fn presign_get(&self, key: &str, expires_in: Duration) -> PortResult<PresignedRequest> {
        let (config, expires_at) = self.presigning(expires_in)?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| port_error(&format!("presign get {key}"), e))?;
        Ok(to_port(&presigned, expires_at))
    }

    async fn size(&self, key: &str) -> PortResult<u64> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| port_error(&format!("head {key}"), e))?;
        let length = head.content_length().unwrap_or_default();
        u64::try_from(length)
            .map_err(|_| PortError::Backend(format!("head {key}: negative length {length}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_signed_header_list_from_a_presigned_url() {
        let url = "http://h/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&X-Amz-Signature=ab";
        assert_eq!(
            signed_headers(url),
            ["content-length", "content-type", "host"]
        );
        assert!(signed_headers("http://h/b/k").is_empty());
    }
}
