//! One-machine adapters for the likeness ports: everything the AWS deployment
//! gets from S3, SQS and DynamoDB, in files under one data directory.

pub mod object_server;
pub mod retention;
pub mod sqlite;

pub use retention::{SweepReport, Sweeper};
pub use sqlite::costs::SqliteCosts;
pub use sqlite::deliveries::SqliteDeliveries;
pub use sqlite::queue::{InFlight, QueueOptions, SqliteQueue};
pub use sqlite::records::SqliteRecords;
