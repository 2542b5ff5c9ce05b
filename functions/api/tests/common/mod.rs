//! The router's state over a scratch SQLite file and an in-memory store.

use likeness_api::{ApiConfig, ApiState};
use likeness_core::ports::{RandomIds, SystemClock};
use likeness_core::testing::MemoryBlobs;
use likeness_core::{Catalogue, TenantId};
use likeness_embedded::{SqliteCosts, SqliteDeliveries, SqliteRecords};
use std::sync::Arc;

/// `storefront`: the tenant `/` mints order tokens for, if any.
pub fn state(dir: &tempfile::TempDir, storefront: Option<&str>) -> ApiState {
    let db = dir.path().join("db.sqlite");
    let records = Arc::new(SqliteRecords::open(&db, Arc::new(SystemClock)).unwrap());
    ApiState {
        previews: records.clone(),
        keys: records.clone(),
        blobs: Arc::new(MemoryBlobs::default()),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        catalogue: Arc::new(Catalogue::builtin()),
        config: ApiConfig {
            storefront_tenant: storefront.map(TenantId::new),
            ..ApiConfig::default()
        },
        deliveries: Arc::new(SqliteDeliveries::open(&db).unwrap()),
        costs: Arc::new(SqliteCosts::open(&db).unwrap()),
        tokens: Arc::new(likeness_api::tokens::Tokens::new(records.clone())),
        announce: None,
    }
}
