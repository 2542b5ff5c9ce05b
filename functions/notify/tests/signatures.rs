//! Our signatures verified by the reference libraries (PyPI `standardwebhooks`
//! and `svix`), during a secret rotation, and refused once one body byte changes.

mod common;

use base64::Engine;
use common::{Receiver, Stack, local_config, ready_preview};
use likeness_core::ledger::{AttemptOutcome, Deliveries};
use likeness_core::testing::MemoryBlobs;
use likeness_core::{StyleId, TenantId};
use likeness_notify::Portrait;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[tokio::test]
async fn reference_verifiers_accept_our_signatures_and_refuse_a_changed_byte() {
    let stack = Stack::new(local_config()).await;
    let old = stack.add_secret("acme").await;
    // Rotation: the old secret stays live for a grace period beside the new one.
    stack
        .deliveries
        .retire_secrets(
            &TenantId::new("acme"),
            chrono::Utc::now() + chrono::Duration::hours(24),
        )
        .await
        .unwrap();
    let new = stack.add_secret("acme").await;
    let receiver = Receiver::start(0, false).await;
    let preview = ready_preview('a', &receiver.url);
    let portraits = [Portrait {
        style: StyleId::new("oil"),
        index: 1,
        key: "previews/acme/pv_x/oil-1.webp".into(),
        scores: BTreeMap::from([("likeness".to_string(), 0.91)]),
    }];
    stack
        .notifier
        .emit(&preview, &portraits, &[], &MemoryBlobs::default())
        .await
        .unwrap();
    stack
        .drive(Duration::from_secs(20), || async {
            stack
                .attempts(&preview.id)
                .await
                .iter()
                .any(|a| a.outcome == AttemptOutcome::Delivered)
        })
        .await;
    let request = receiver.requests().remove(0);
    let signature = request.headers["webhook-signature"].to_str().unwrap();
    assert_eq!(
        signature.split(' ').count(),
        2,
        "both secrets sign during rotation"
    );
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["type"], "preview.ready");
    assert!(
        body["data"]["previews"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );

    let capture = json!({
        "secrets": [old, new],
        "headers": {
            "webhook-id": request.headers["webhook-id"].to_str().unwrap(),
            "webhook-timestamp": request.headers["webhook-timestamp"].to_str().unwrap(),
            "webhook-signature": signature,
        },
        "body_base64": base64::engine::general_purpose::STANDARD.encode(&request.body),
    });
    let path = stack.dir.path().join("capture.json");
    std::fs::write(&path, capture.to_string()).unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/webhooks/verify_signatures.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(&path)
        .output()
        .expect("python3 must be on PATH (scripts/test puts the test venv first)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "verifier failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("standardwebhooks: ok") && stdout.contains("svix: ok"),
        "{stdout}"
    );
}
