//! One-machine adapters for the likeness ports: everything the AWS deployment
//! gets from S3, SQS and DynamoDB, in files under one data directory.

pub mod sqlite;

pub use sqlite::costs::SqliteCosts;
pub use sqlite::deliveries::SqliteDeliveries;
pub use sqlite::queue::{QueueOptions, SqliteQueue};
pub use sqlite::records::SqliteRecords;
pub mod object_server;
