//! `likeness keys create`: issue an API key for a tenant and print it once.

use anyhow::Context;
use likeness_core::TenantId;
use likeness_core::ports::{KeyScope, SystemClock};
use likeness_embedded::SqliteRecords;
use std::path::Path;
use std::sync::Arc;

pub async fn create(data_dir: &Path, tenant: &str, finance: bool) -> anyhow::Result<()> {
    let records = SqliteRecords::open(
        &likeness::stack::records_path(data_dir),
        Arc::new(SystemClock),
    )
    .with_context(|| format!("opening the records in {}", data_dir.display()))?;
    let scope = if finance {
        KeyScope::Finance
    } else {
        KeyScope::Tenant
    };
    let key = likeness_api::auth::issue_key(&records, &SystemClock, &TenantId::new(tenant), scope)
        .await?;
    eprintln!("API key for tenant `{tenant}` (shown once; store it now):");
    println!("{key}");
    Ok(())
}
