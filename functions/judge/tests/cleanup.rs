//! Clean-up after a preview is final, and metadata-free delivery.

use image::{Rgb, RgbImage};
use likeness_core::ports::Blobs;
use likeness_core::testing::MemoryBlobs;
use likeness_core::{PreviewId, StyleId, TenantId, keys};
use likeness_judge::deliver::has_metadata;
use likeness_judge::{DeliveryConfig, clean_up, deliver};

fn picture() -> RgbImage {
    RgbImage::from_fn(320, 240, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, 120])
    })
}

#[tokio::test]
async fn after_finalize_nothing_is_left_under_work_and_delivered_files_carry_no_exif() {
    let blobs = MemoryBlobs::default();
    let tenant = TenantId::new("acme");
    let id = PreviewId::new(format!("pv_{}", "a".repeat(32)));
    let other = PreviewId::new(format!("pv_{}", "b".repeat(32)));
    for name in [
        "reference.png",
        "chip.png",
        "oil/1-0.png",
        "oil/1-1.png",
        "oil/2-0.png",
    ] {
        blobs
            .put(&keys::work(&id, name), vec![1, 2, 3], "image/png")
            .await
            .unwrap();
    }
    blobs
        .put(&keys::work(&other, "reference.png"), vec![1], "image/png")
        .await
        .unwrap();

    let style = StyleId::new("oil");
    let config = DeliveryConfig {
        watermark: true,
        ..DeliveryConfig::default()
    };
    let delivered = deliver(&blobs, &tenant, &id, &style, 1, &picture(), &config)
        .await
        .unwrap();
    let rejected = vec![
        keys::work(&id, "oil/1-1.png"),
        keys::work(&id, "oil/2-0.png"),
    ];
    let report = clean_up(&blobs, &id, &rejected).await.unwrap();
    assert_eq!(report.deleted.len(), 5, "{report:?}");

    assert!(
        blobs
            .list(&keys::work_prefix(&id))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        blobs.list(&keys::work_prefix(&other)).await.unwrap().len(),
        1,
        "another preview's work stays"
    );
    for key in [&delivered.webp, &delivered.jpeg] {
        let bytes = blobs.get(key).await.unwrap();
        assert!(!has_metadata(&bytes).unwrap(), "{key} carries metadata");
        let back = image::load_from_memory(&bytes).unwrap();
        assert_eq!((back.width(), back.height()), (320, 240));
    }
    assert_eq!(delivered.webp, format!("previews/acme/{id}/oil-1.webp"));
    // Idempotent: a second clean-up after a redelivered event finds nothing to do.
    assert!(clean_up(&blobs, &id, &[]).await.unwrap().deleted.is_empty());
}

#[tokio::test]
async fn clean_up_refuses_to_delete_outside_the_previews_work() {
    let blobs = MemoryBlobs::default();
    let id = PreviewId::new(format!("pv_{}", "a".repeat(32)));
    blobs
        .put("previews/acme/x/oil-1.webp", vec![1], "image/webp")
        .await
        .unwrap();
    let err = clean_up(&blobs, &id, &["previews/acme/x/oil-1.webp".into()])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refusing"), "{err}");
    assert_eq!(blobs.list("previews/").await.unwrap().len(), 1);
}
