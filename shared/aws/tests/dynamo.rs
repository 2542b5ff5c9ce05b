//! DynamoRecords against moto: the single table with its GSIs and TTL, created
//! here the way infra/template.yaml declares it.

mod moto;

use chrono::{DateTime, Duration, TimeZone, Utc};
use likeness_aws::DynamoRecords;
use likeness_core::PortError;
use likeness_core::analysis::AnalysisRecord;
use likeness_core::ports::{ApiKeyRecord, ApiKeys, KeyScope, Previews};
use likeness_core::preview::{Consent, Preview, PreviewPatch, Status, SubjectKind, UploadSpec};
use likeness_core::{PreviewId, StyleId, TenantId};

async fn table(moto: &moto::Moto) -> DynamoRecords {
    moto.create_table("likeness").await
}

fn preview(id: &str, tenant: &str, created_at: DateTime<Utc>) -> Preview {
    Preview {
        id: PreviewId::new(id),
        tenant: TenantId::new(tenant),
        status: Status::AwaitingUpload,
        subject: SubjectKind::Person,
        styles: vec![StyleId::new("watercolor")],
        variations: 2,
        upload: UploadSpec {
            key: format!("uploads/{tenant}/{id}/photo"),
            content_type: "image/jpeg".into(),
            content_length: 1000,
            expires_at: created_at + Duration::minutes(15),
        },
        webhook_url: None,
        consent: Consent {
            rights_to_photo: true,
        },
        created_at,
        updated_at: created_at,
        version: 0,
        analysis: None,
        rejection_reasons: Vec::new(),
        failure: None,
        results: None,
        expires_at: created_at + Duration::days(7),
    }
}

/// What analysis records for an accepted 640x480 photo with one face.
fn analysis_record() -> AnalysisRecord {
    use likeness_core::Rect;
    use likeness_core::analysis::{Exposure, FaceBox, Format, Metrics, Subjects, Verdict};
    let face = Rect {
        x: 250.0,
        y: 120.0,
        width: 140.0,
        height: 160.0,
    };
    AnalysisRecord {
        verdict: Verdict::Accept,
        reasons: vec![],
        subject: SubjectKind::Person,
        format: Format::Jpeg,
        exif_orientation: 1,
        metrics: Metrics {
            width: 640,
            height: 480,
            resolution: 480,
            sharpness: 310.5,
            motion_blur: 0.12,
            exposure: Exposure {
                mean_luminance: 0.46,
                clipped_shadows: 0.01,
                clipped_highlights: 0.0,
                contrast: 0.21,
            },
            noise: 2.5,
            face_size: Some(0.33),
            face_pixels: Some(160.0),
            face_cut: Some(0.0),
            face_shadow: Some(0.08),
        },
        subjects: Subjects {
            faces: vec![FaceBox {
                rect: face,
                score: 9.5,
            }],
            face_count: 1,
            subject_box: Some(face),
        },
        framing: None,
        normalized_width: 640,
        normalized_height: 480,
    }
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, minute, 0).unwrap()
}

#[tokio::test]
async fn transitions_are_conditional_on_status_and_version() {
    let moto = moto::Moto::start();
    let records = table(&moto).await;
    let p = preview("pv_a", "t_acme", at(0));
    records.create(&p).await.unwrap();
    assert!(matches!(
        records.create(&p).await,
        Err(PortError::AlreadyExists(_))
    ));

    let analysis = analysis_record();
    let moved = records
        .transition(
            &p.id,
            Status::AwaitingUpload,
            Status::Analyzing,
            PreviewPatch::default(),
        )
        .await
        .unwrap();
    assert_eq!((moved.status, moved.version), (Status::Analyzing, 1));

    // A redelivered notification tries the same move again: it lost.
    let err = records
        .transition(
            &p.id,
            Status::AwaitingUpload,
            Status::Analyzing,
            PreviewPatch::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::Conflict(_)), "{err:?}");

    let patch = PreviewPatch {
        analysis: Some(analysis.clone()),
        ..Default::default()
    };
    let rendering = records
        .transition(&p.id, Status::Analyzing, Status::Rendering, patch)
        .await
        .unwrap();
    let stored = records.get(&p.id).await.unwrap().unwrap();
    assert_eq!(stored, rendering);
    assert_eq!(stored.analysis, Some(analysis));
    assert_eq!(stored.version, 2);

    let err = records
        .transition(
            &p.id,
            Status::Rendering,
            Status::AwaitingUpload,
            PreviewPatch::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::Invalid(_)), "{err:?}");
    let err = records
        .transition(
            &PreviewId::new("pv_none"),
            Status::Analyzing,
            Status::Rendering,
            PreviewPatch::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::NotFound(_)), "{err:?}");
    assert_eq!(records.get(&PreviewId::new("pv_none")).await.unwrap(), None);
    assert!(
        records.consumed_capacity_units() > 0.0,
        "consumed capacity is recorded"
    );
}

#[tokio::test]
async fn a_tenants_previews_come_from_the_tenant_index_newest_first() {
    let moto = moto::Moto::start();
    let records = table(&moto).await;
    for (id, tenant, minute) in [
        ("pv_1", "t_a", 1),
        ("pv_2", "t_b", 2),
        ("pv_3", "t_a", 3),
        ("pv_4", "t_a", 4),
    ] {
        records
            .create(&preview(id, tenant, at(minute)))
            .await
            .unwrap();
    }
    let ids = |ps: Vec<Preview>| ps.into_iter().map(|p| p.id.to_string()).collect::<Vec<_>>();
    assert_eq!(
        ids(records
            .list_by_tenant(&TenantId::new("t_a"), 10)
            .await
            .unwrap()),
        ["pv_4", "pv_3", "pv_1"]
    );
    assert_eq!(
        ids(records
            .list_by_tenant(&TenantId::new("t_a"), 2)
            .await
            .unwrap()),
        ["pv_4", "pv_3"]
    );
    assert_eq!(
        ids(records
            .list_by_tenant(&TenantId::new("t_b"), 10)
            .await
            .unwrap()),
        ["pv_2"]
    );
    assert!(
        records
            .list_by_tenant(&TenantId::new("t_c"), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn api_keys_are_found_by_hash_and_never_listed_as_previews() {
    let moto = moto::Moto::start();
    let records = table(&moto).await;
    let record = ApiKeyRecord {
        hash: "ab".repeat(32),
        tenant: TenantId::new("t_a"),
        scope: KeyScope::Tenant,
        created_at: at(0),
    };
    records.put_key(&record).await.unwrap();
    assert!(matches!(
        records.put_key(&record).await,
        Err(PortError::AlreadyExists(_))
    ));
    assert_eq!(records.find_key(&record.hash).await.unwrap(), Some(record));
    assert_eq!(records.find_key("cd").await.unwrap(), None);
    assert!(
        records
            .list_by_tenant(&TenantId::new("t_a"), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_day_index_lists_previews_by_creation_day() {
    let moto = moto::Moto::start();
    let records = table(&moto).await;
    records
        .create(&preview("pv_1", "t_a", at(1)))
        .await
        .unwrap();
    records
        .create(&preview("pv_2", "t_b", at(2)))
        .await
        .unwrap();
    records
        .create(&preview("pv_3", "t_a", at(3) + Duration::days(1)))
        .await
        .unwrap();
    let day = at(0).date_naive();
    let mut ids: Vec<String> = records
        .preview_ids_on(day)
        .await
        .unwrap()
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["pv_1", "pv_2"]);
    let next: Vec<String> = records
        .preview_ids_on(day.succ_opt().unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    assert_eq!(next, ["pv_3"]);
}
