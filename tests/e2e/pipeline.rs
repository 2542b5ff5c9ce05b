//! Real photos through the whole embedded pipeline: order, presigned upload,
//! upload event, analysis, the state machine, render worker, judge, finalize,
//! notify, and the cost ledger.

use likeness_core::ledger::CostLedger;
use likeness_core::ports::Blobs;
use likeness_core::{RejectionCode, Status, keys};
use likeness_e2e::{Service, photo, quick_options};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portrait_photo_becomes_judged_previews_in_every_style() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path(), quick_options()).await.unwrap();
    let styles = ["watercolor", "oil", "pencil"];
    let id = service
        .submit(&photo("obama.jpg"), json!({"subject": "person", "styles": styles, "variations": 3, "content_type": "image/jpeg"}))
        .await
        .unwrap();
    let preview = service.wait_final(&id, LIMIT).await;
    assert_eq!(
        preview.status,
        Status::Ready,
        "{:?} {:?}",
        preview.failure,
        preview.results
    );
    let results = preview.results.clone().unwrap();
    assert_eq!(results.len(), 3);
    let blobs = &*service.pipeline.stack.blobs;
    for (style, result) in styles.iter().zip(&results) {
        assert_eq!(result.style.as_str(), *style);
        let delivered = &result.previews;
        assert!(
            !delivered.is_empty(),
            "{style}: nothing delivered: {result:?}"
        );
        for p in delivered {
            for (field, key) in [("webp", &p.webp), ("jpeg", &p.jpeg)] {
                let bytes = blobs.get(key).await.unwrap();
                assert!(
                    !likeness_judge::deliver::has_metadata(&bytes).unwrap(),
                    "{style} {field} carries metadata"
                );
            }
        }
    }
    assert!(
        blobs
            .list(&keys::work_prefix(&id))
            .await
            .unwrap()
            .is_empty(),
        "work objects are cleaned up"
    );
    assert!(
        blobs.list("uploads/").await.unwrap().is_empty(),
        "the raw upload is gone"
    );

    // Every stage that ran has its cost, and the total is the sum of the lines.
    let lines = service.pipeline.stack.costs.lines_for(&id).await.unwrap();
    let stages: BTreeSet<&str> = lines.iter().map(|l| l.stage.as_str()).collect();
    for stage in [
        "analyze", "render", "judge", "finalize", "workflow", "notify",
    ] {
        assert!(
            stages.contains(stage),
            "no cost recorded for {stage}: {stages:?}"
        );
    }
    let total = service.pipeline.stack.preview_usd(&id).await.unwrap();
    let sum: f64 = lines.iter().map(|l| l.usd).sum();
    assert!(
        (total - sum).abs() < 1e-12 && total > 0.0,
        "total {total} vs sum {sum}"
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pet_photo_is_rendered_and_a_photo_without_a_subject_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path(), quick_options()).await.unwrap();
    let cat = service
        .submit(&photo("chelsea.png"), json!({"subject": "pet", "styles": ["watercolor", "pop_art"], "variations": 2, "content_type": "image/png"}))
        .await
        .unwrap();
    let coffee = service
        .submit(
            &photo("coffee.png"),
            json!({"subject": "person", "styles": ["oil"], "content_type": "image/png"}),
        )
        .await
        .unwrap();
    let cat = service.wait_final(&cat, LIMIT).await;
    assert_eq!(cat.status, Status::Ready, "{:?}", cat.failure);
    let coffee = service.wait_final(&coffee, LIMIT).await;
    assert_eq!(coffee.status, Status::Rejected);
    assert!(
        coffee
            .rejection_reasons
            .iter()
            .any(|r| r.code == RejectionCode::NoFace),
        "{:?}",
        coffee.rejection_reasons
    );
    assert!(
        service
            .pipeline
            .runner
            .describe(coffee.id.as_str())
            .unwrap()
            .is_none(),
        "no execution for a rejected photo"
    );
    service.stop().await;
}

/// The customer erases while the portraits are being painted: the stages in
/// flight finish or fail, and afterwards nothing of the photo is left
/// anywhere, while the record says `erased` and keeps no analysis or results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_preview_mid_render_leaves_nothing_of_the_photo() {
    use likeness_core::ports::Previews;
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path(), quick_options()).await.unwrap();
    let id = service
        .submit(
            &photo("obama.jpg"),
            json!({"subject": "person", "styles": ["watercolor", "oil"], "variations": 2, "content_type": "image/jpeg"}),
        )
        .await
        .unwrap();
    let records = &service.pipeline.stack.records;
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let status = records.get(&id).await.unwrap().unwrap().status;
        if status == Status::Rendering {
            break;
        }
        assert!(!status.is_final(), "{id} ended {status} before rendering");
        assert!(tokio::time::Instant::now() < deadline, "never rendering");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let erased = reqwest::Client::new()
        .delete(format!("{}/v1/previews/{id}", service.api))
        .bearer_auth(&service.key)
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 200);

    let preview = service.wait_final(&id, LIMIT).await;
    assert_eq!(preview.status, Status::Erased);
    assert!(preview.analysis.is_none() && preview.results.is_none());
    let blobs = &*service.pipeline.stack.blobs;
    for prefix in [
        preview.upload.key.clone(),
        keys::work_prefix(&id),
        keys::delivered_prefix(&preview.tenant, &id),
    ] {
        let left = blobs.list(&prefix).await.unwrap();
        assert!(left.is_empty(), "left under {prefix}: {left:?}");
    }
    service.stop().await;
}
