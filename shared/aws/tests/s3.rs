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
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&moto.sdk_config())
            .force_path_style(true)
            .build(),
    )
    .create_bucket()
    .bucket("likeness")
    .send()
    .await
    .expect("create bucket");
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
