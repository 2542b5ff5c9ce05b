//! AWS adapters: the `likeness-core` ports over the AWS SDK. No SDK type crosses
//! the crate boundary except the `SdkConfig` a constructor takes.

mod s3_blobs;
mod sdk_error;

pub use s3_blobs::{S3Blobs, S3Endpoint};
