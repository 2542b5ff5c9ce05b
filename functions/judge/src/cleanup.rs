//! Clean-up once a preview is final: rejected candidates and everything under
//! `work/{id}/` go, delivered previews are written without metadata.

use crate::deliver::{DeliveryConfig, DeliveryError, encode, has_metadata};
use futures_util::future::try_join_all;
use image::RgbImage;
use likeness_core::ports::Blobs;
use likeness_core::{PortError, PreviewId, StyleId, TenantId, keys};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupReport {
    pub deleted: Vec<String>,
}

/// Delete `rejected` candidates and every object under `work/{id}/`, then check
/// that nothing is left there. Idempotent: running it twice deletes nothing twice.
/// A rejected key outside `work/{id}/` is refused: clean-up never reaches into
/// delivered previews or another preview's work.
pub async fn clean_up<B: Blobs + ?Sized>(
    blobs: &B,
    id: &PreviewId,
    rejected: &[String],
) -> Result<CleanupReport, PortError> {
    let prefix = keys::work_prefix(id);
    if let Some(stranger) = rejected
        .iter()
        .find(|k| !k.starts_with(&prefix) || k.contains(".."))
    {
        return Err(PortError::Invalid(format!(
            "refusing to delete `{stranger}`: candidates live under `{prefix}`"
        )));
    }
    // Deletes are independent: issued side by side.
    try_join_all(rejected.iter().map(|key| blobs.delete(key))).await?;
    let mut deleted = rejected.to_vec();
    let listed = blobs.list(&prefix).await?;
    try_join_all(listed.iter().map(|key| blobs.delete(key))).await?;
    for key in listed {
        if !deleted.contains(&key) {
            deleted.push(key);
        }
    }
    let left = blobs.list(&prefix).await?;
    if !left.is_empty() {
        return Err(PortError::Backend(format!(
            "{} objects still under `{prefix}` after clean-up",
            left.len()
        )));
    }
    tracing::info!(preview = %id, deleted = deleted.len(), "work objects cleaned up");
    Ok(CleanupReport { deleted })
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    pub webp: String,
    pub jpeg: String,
}

/// Encode one selected candidate as WebP and JPEG, store both under
/// `previews/{tenant}/{id}/{style}-{n}.{ext}`, and read them back from storage to
/// check that what the customer downloads carries no metadata.
pub async fn deliver<B: Blobs + ?Sized>(
    blobs: &B,
    tenant: &TenantId,
    id: &PreviewId,
    style: &StyleId,
    n: u32,
    image: &RgbImage,
    config: &DeliveryConfig,
) -> Result<Delivered, DeliveryError> {
    let encoded = encode(image, config)?;
    store_delivered(blobs, tenant, id, style, n, encoded).await
}

/// The storing half of [`deliver`], for a caller that encodes several
/// previews at once: `encoded` is [`encode`]'s (WebP, JPEG).
pub async fn store_delivered<B: Blobs + ?Sized>(
    blobs: &B,
    tenant: &TenantId,
    id: &PreviewId,
    style: &StyleId,
    n: u32,
    (webp, jpeg): (Vec<u8>, Vec<u8>),
) -> Result<Delivered, DeliveryError> {
    let delivered = Delivered {
        webp: keys::delivered(tenant, id, style, n, "webp"),
        jpeg: keys::delivered(tenant, id, style, n, "jpg"),
    };
    blobs.put(&delivered.webp, webp, "image/webp").await?;
    blobs.put(&delivered.jpeg, jpeg, "image/jpeg").await?;
    for (format, key) in [("WebP", &delivered.webp), ("JPEG", &delivered.jpeg)] {
        let stored = blobs.get(key).await?;
        if has_metadata(&stored).map_err(|source| DeliveryError::ReadBack { format, source })? {
            return Err(DeliveryError::Metadata(format));
        }
    }
    Ok(delivered)
}
