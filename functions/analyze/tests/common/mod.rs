//! What the analyze tests share: the port doubles from `likeness-core`'s
//! `testing` feature, and orders as the API stores them.

use chrono::Utc;
use likeness_core::Preview;
pub use likeness_core::testing::MemoryBlobs;
use likeness_core::testing::PreviewBuilder;

/// Order `n` of `tenant` for a photo of `length` bytes, expiring now.
pub fn ordered(tenant: &str, n: u32, length: u64) -> Preview {
    let now = Utc::now();
    PreviewBuilder::new(tenant, &format!("pv_{n:032x}"))
        .upload_length(length)
        .upload_expires_at(now)
        .expires_at(now)
        .build()
}
