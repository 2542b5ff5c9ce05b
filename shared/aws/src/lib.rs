//! AWS adapters: the `likeness-core` ports over the AWS SDK. No SDK type crosses
//! the crate boundary except the `SdkConfig` a constructor takes.

mod dynamo_ledger;
mod dynamo_records;
mod endpoint;
mod s3_blobs;
mod sdk_error;
mod sfn_workflow;
mod sqs_queue;

pub use dynamo_records::{DynamoRecords, GSI_DAY, GSI_TENANT};
pub use endpoint::{local_sdk_config, sdk_config_from_env};
pub use s3_blobs::{S3Blobs, S3Endpoint};
pub use sfn_workflow::StepFunctionsWorkflow;
pub use sqs_queue::SqsQueue;
