//! The likeness domain. Nothing in this crate knows about AWS, SQLite or HTTP:
//! adapters in `shared/aws` and `shared/embedded` implement the [`ports`].

pub mod analysis;
pub mod catalogue;
pub mod cost;
pub mod error;
pub mod geometry;
pub mod ids;
pub mod keys;
pub mod ledger;
pub mod metering;
pub mod ports;
pub mod preview;
pub mod price_book;
pub mod qa;
pub mod rejection;
pub mod retention;
pub mod s3_event;
pub mod seeds;
pub mod task_error;
pub mod tasks;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use catalogue::{Catalogue, Style};
pub use error::PortError;
pub use geometry::{Point, Rect};
pub use ids::{PreviewId, StyleId, TenantId};
pub use preview::{Consent, Preview, Status, SubjectKind};
pub use rejection::{RejectionCode, RejectionReason};
pub use task_error::TaskError;
