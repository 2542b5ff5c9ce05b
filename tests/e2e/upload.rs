//! Issue a preview over real HTTP, upload a real photo through its presigned URL,
//! and follow the upload event into the records.

use likeness_core::ports::{Previews, Queue};
use likeness_core::s3_event::S3EventNotification;
use likeness_core::{PreviewId, Status};
use likeness_e2e::{Running, fixture};
use serde_json::{Value, json};
use std::time::Duration;

async fn order(client: &reqwest::Client, running: &Running, key: &str, length: usize) -> Value {
    let response = client
        .post(format!("{}/v1/previews", running.api))
        .bearer_auth(key)
        .json(&json!({
            "subject": "person",
            "styles": ["watercolor"],
            "content_type": "image/jpeg",
            "content_length": length,
            "consent": {"rights_to_photo": true}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

fn put(client: &reqwest::Client, upload: &Value, url: &str) -> reqwest::RequestBuilder {
    let mut request = client.put(url);
    for (name, value) in upload["headers"].as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_uploaded_through_its_presigned_url_is_claimed_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(dir.path()).await.unwrap();
    // A connection per request: a refused upload's connection is closed by the
    // store mid-body, and reqwest (unlike a browser) does not retry a request
    // that it sent on a pooled connection that turned out dead.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let key = running.key("acme").await;
    let photo = std::fs::read(fixture("obama.jpg")).unwrap();
    let created = order(&client, &running, &key, photo.len()).await;
    let upload = &created["upload"];
    let url = upload["url"].as_str().unwrap();

    // Tampered signature, another content type, another length: all refused.
    let last = url.chars().last().unwrap();
    let tampered = format!(
        "{}{}",
        &url[..url.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    // The store answers 403 without reading the body; the client may still be
    // sending it when the connection closes, and then sees a reset instead of
    // the answer. Either way nothing may be stored (checked below).
    let refused = |sent: Result<reqwest::Response, reqwest::Error>| match sent {
        Ok(r) => r.status() == 403,
        Err(e) => e.is_request() || e.is_body() || e.is_connect(),
    };
    let sent = put(&client, upload, &tampered)
        .body(photo.clone())
        .send()
        .await;
    assert!(refused(sent), "tampered signature");
    let sent = put(&client, upload, url)
        .header("content-type", "image/png")
        .body(photo.clone())
        .send()
        .await;
    assert!(refused(sent), "other content type");
    let mut shorter = photo.clone();
    shorter.truncate(photo.len() - 10);
    let response = client
        .put(url)
        .header("content-type", "image/jpeg")
        .header("content-length", shorter.len())
        .body(shorter)
        .send()
        .await;
    assert!(
        response.map(|r| !r.status().is_success()).unwrap_or(true),
        "other length must be rejected"
    );
    assert_eq!(
        running.stack.queue.depth("uploads").await.unwrap(),
        0,
        "refused uploads emit no event"
    );

    let status = put(&client, upload, url)
        .body(photo.clone())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);

    // Exactly one event, naming the bucket and the decoded key.
    let messages = running
        .stack
        .queue
        .receive(
            "uploads",
            10,
            Duration::from_secs(60),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(messages.len(), 1);
    let event: S3EventNotification = serde_json::from_str(&messages[0].body).unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(event.records[0].s3.bucket.name, "likeness");
    assert_eq!(
        event.records[0].s3.object.decoded_key(),
        format!("uploads/acme/{id}/photo")
    );
    assert_eq!(event.records[0].s3.object.size, photo.len() as u64);

    // Delivered twice, it moves the preview once.
    for _ in 0..2 {
        likeness_analyze::handle_upload_notification(
            &messages[0].body,
            &*running.stack.records,
            &*running.stack.blobs,
        )
        .await
        .unwrap();
    }
    let stored = running
        .stack
        .records
        .get(&PreviewId::new(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.status, stored.version), (Status::Analyzing, 2));

    let shown: Value = client
        .get(format!("{}/v1/previews/{id}", running.api))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["status"], "analyzing");
    let other = running.key("globex").await;
    let status = client
        .get(format!("{}/v1/previews/{id}", running.api))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
    running.stop().await;

    // Everything survives a restart of the stack on the same data directory.
    let running = Running::start(dir.path()).await.unwrap();
    let stored = running
        .stack
        .records
        .get(&PreviewId::new(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, Status::Analyzing);
    let kept = likeness_core::ports::Blobs::get(
        &*running.stack.blobs,
        &format!("uploads/acme/{id}/photo"),
    )
    .await
    .unwrap();
    assert_eq!(kept, photo);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_upload_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(dir.path()).await.unwrap();
    let photo = std::fs::read(fixture("obama.jpg")).unwrap();
    let blobs = &*running.stack.blobs;
    let presigned = likeness_core::ports::Blobs::presign_put(
        blobs,
        "uploads/acme/pv_00000000000000000000000000000001/photo",
        "image/jpeg",
        photo.len() as u64,
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut request = reqwest::Client::new().put(&presigned.url);
    for (name, value) in &presigned.headers {
        request = request.header(name, value);
    }
    let status = request.body(photo).send().await.unwrap().status();
    assert_eq!(status, 403);
    running.stop().await;
}
