//! S3Blobs against moto: a browser-style upload through a presigned PUT.
//! moto does not verify presigned signatures or expiry (see
//! shared/reference/serverless-aws.md §3), so this checks the request shape and
//! the round trip only; signature checks run against the embedded s3s server.

mod moto;

use likeness_aws::{S3Blobs, S3Endpoint};
use likeness_core::ports::Blobs;
use std::time::Duration;

#[tokio::test]
async fn a_presigned_put_uploads_the_photo() {
    let moto = moto::Moto::start();
    moto.create_bucket("likeness").await;
    let blobs = S3Blobs::for_endpoint(
        &S3Endpoint {
            url: moto.url.clone(),
            access_key: "test".into(),
            secret_key: "test".into(),
            region: moto::REGION.into(),
        },
        "likeness",
    );
    let photo = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/photos/obama.jpg"
    ))
    .expect("fixture bytes");
    let key = "uploads/t_acme/pv_0001/photo";
    let presigned = blobs
        .presign_put(
            key,
            "image/jpeg",
            photo.len() as u64,
            Duration::from_secs(300),
        )
        .await
        .unwrap();
    assert_eq!(presigned.method, "PUT");
    let mut put = reqwest::Client::new()
        .put(&presigned.url)
        .body(photo.clone());
    for (name, value) in &presigned.headers {
        put = put.header(name, value);
    }
    let response = put.send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());

    assert_eq!(blobs.get(key).await.unwrap(), photo);
    assert_eq!(
        blobs.list("uploads/t_acme/").await.unwrap(),
        vec![key.to_owned()]
    );
    let get = blobs
        .presign_get(key, Duration::from_secs(60))
        .await
        .unwrap();
    let fetched = reqwest::get(&get.url).await.unwrap().bytes().await.unwrap();
    assert_eq!(fetched.as_ref(), photo.as_slice());
}

/// The template's S3 → SQS notification on `uploads/`, as moto delivers it:
/// an upload through the presigned PUT lands on the uploads queue in the shape
/// the analyze handler parses; objects under `work/` do not.
#[tokio::test]
async fn an_upload_is_announced_on_the_uploads_queue() {
    use likeness_aws::SqsQueue;
    use likeness_core::ports::Queue;

    let moto = moto::Moto::start();
    let config = moto.sdk_config();
    moto.create_bucket("likeness").await;
    moto.create_queue("uploads").await;
    moto.notify_uploads("likeness", "uploads").await;

    let blobs = S3Blobs::for_endpoint(
        &S3Endpoint {
            url: moto.url.clone(),
            access_key: "test".into(),
            secret_key: "test".into(),
            region: moto::REGION.into(),
        },
        "likeness",
    );
    blobs
        .put("work/pv_0001/reference.png", vec![1, 2, 3], "image/png")
        .await
        .unwrap();
    let photo = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/photos/obama.jpg"
    ))
    .expect("fixture bytes");
    let key = "uploads/t_acme/pv_0001/photo";
    let presigned = blobs
        .presign_put(
            key,
            "image/jpeg",
            photo.len() as u64,
            Duration::from_secs(300),
        )
        .await
        .unwrap();
    let mut put = reqwest::Client::new()
        .put(&presigned.url)
        .body(photo.clone());
    for (name, value) in &presigned.headers {
        put = put.header(name, value);
    }
    assert!(put.send().await.unwrap().status().is_success());

    let queue = SqsQueue::from_sdk_config(&config);
    let messages = queue
        .receive(
            "uploads",
            10,
            Duration::from_secs(30),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    let created: Vec<_> = messages
        .iter()
        .map(|m| {
            serde_json::from_str::<likeness_core::s3_event::S3EventNotification>(&m.body)
                .unwrap_or_else(|e| panic!("S3 event {e}: {}", m.body))
        })
        // S3 (and moto) first send an s3:TestEvent when the notification is configured.
        .filter(|n| n.event.is_none())
        .flat_map(|n| n.records)
        .collect();
    assert_eq!(created.len(), 1, "{messages:?}");
    assert!(created[0].is_object_created());
    assert_eq!(created[0].s3.object.decoded_key(), key);
    assert_eq!(created[0].s3.object.size, photo.len() as u64);
}
