//! The embedded object server over real HTTP on loopback: the AWS SDK (through
//! `S3Blobs`) presigns and writes, reqwest plays the customer's browser.

use chrono::Utc;
use likeness_aws::{S3Blobs, S3Endpoint};
use likeness_core::PortError;
use likeness_core::error::PortResult;
use likeness_core::ports::{Blobs, ManualClock, PresignedRequest};
use likeness_core::s3_event::S3EventNotification;
use likeness_core::testing::MemQueue;
use likeness_embedded::object_server::{EventTarget, ObjectServer, ObjectServerConfig};
use reqwest::StatusCode;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const BUCKET: &str = "likeness";
const OTHER_BUCKET: &str = "likeness-other";
const QUEUE: &str = "uploads";
const ACCESS_KEY: &str = "likeness-test";
const SECRET_KEY: &str = "likeness-test-secret";
const REGION: &str = "us-east-1";
const UPLOAD_KEY: &str = "uploads/acme/pv_0123456789abcdef0123456789abcdef/photo";

/// The S3 notifications the server sent, in order.
fn sent_events(queue: &MemQueue) -> Vec<S3EventNotification> {
    queue
        .sent()
        .iter()
        .map(|(name, body)| {
            assert_eq!(name, QUEUE);
            serde_json::from_str(body).expect("event body is an S3 notification")
        })
        .collect()
}

struct Stack {
    server: ObjectServer,
    queue: Arc<MemQueue>,
    blobs: S3Blobs,
    http: reqwest::Client,
}

async fn start(root: &Path, queue: Arc<MemQueue>) -> Stack {
    let server = ObjectServer::start(ObjectServerConfig {
        root: root.to_path_buf(),
        buckets: vec![BUCKET.into(), OTHER_BUCKET.into()],
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
        region: REGION.into(),
        port: 0,
        events: Some(EventTarget {
            bucket: BUCKET.into(),
            prefix: "uploads/".into(),
            queue: queue.clone(),
            queue_name: QUEUE.into(),
        }),
        cors: Vec::new(),
    })
    .await
    .expect("object server starts");
    let blobs = S3Blobs::for_endpoint(&endpoint(&server, SECRET_KEY), BUCKET);
    Stack {
        server,
        queue,
        blobs,
        http: reqwest::Client::new(),
    }
}

fn endpoint(server: &ObjectServer, secret: &str) -> S3Endpoint {
    S3Endpoint {
        url: server.endpoint_url(),
        access_key: ACCESS_KEY.into(),
        secret_key: secret.into(),
        region: REGION.into(),
    }
}

fn photo() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/photos/obama.jpg"
    );
    std::fs::read(path).unwrap_or_else(|e| panic!("test photo {path}: {e}"))
}

/// Sends `body` the way a customer's client would: the presigned headers except
/// Content-Length, which the HTTP client derives from the body it really sends.
async fn send(
    http: &reqwest::Client,
    presigned: &PresignedRequest,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, String) {
    let method = reqwest::Method::from_bytes(presigned.method.as_bytes()).unwrap();
    let mut request = http.request(method, url);
    for (name, value) in &presigned.headers {
        match name.to_ascii_lowercase().as_str() {
            "content-length" => {}
            "content-type" => request = request.header(name, content_type.unwrap_or(value)),
            _ => request = request.header(name, value),
        }
    }
    let response = request
        .body(body)
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

async fn presign_photo_put(blobs: &S3Blobs, len: usize) -> PresignedRequest {
    blobs
        .presign_put(
            UPLOAD_KEY,
            "image/jpeg",
            len as u64,
            Duration::from_secs(15 * 60),
        )
        .await
        .expect("presign put")
}

fn assert_not_stored(result: PortResult<Vec<u8>>) {
    match result {
        Err(PortError::NotFound(_)) => {}
        other => panic!("expected NotFound, got {:?}", other.map(|b| b.len())),
    }
}

#[tokio::test]
async fn presigned_put_of_a_real_photo_is_stored_and_announced_once() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::default()).await;
    let photo = photo();
    let presigned = presign_photo_put(&stack.blobs, photo.len()).await;
    assert_eq!(presigned.method, "PUT");
    let header = |name: &str| {
        presigned
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("content-type"), Some("image/jpeg"));
    assert_eq!(
        header("content-length"),
        Some(photo.len().to_string().as_str())
    );
    assert!(
        presigned
            .url
            .contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"),
        "{}",
        presigned.url
    );
    let expected_expiry = Utc::now() + chrono::Duration::minutes(15);
    assert!((presigned.expires_at - expected_expiry).num_seconds().abs() <= 5);

    let (status, body) = send(&stack.http, &presigned, &presigned.url, None, photo.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let events = sent_events(&stack.queue);
    assert_eq!(events.len(), 1, "one event per object: {events:?}");
    let record = &events[0].records[0];
    assert_eq!(events[0].records.len(), 1);
    assert_eq!(record.event_name, "ObjectCreated:Put");
    assert_eq!(record.event_source, "aws:s3");
    assert_eq!(record.aws_region, REGION);
    assert_eq!(record.s3.bucket.name, BUCKET);
    assert_eq!(record.s3.bucket.arn, format!("arn:aws:s3:::{BUCKET}"));
    assert_eq!(record.s3.object.decoded_key(), UPLOAD_KEY);
    assert_eq!(record.s3.object.size, photo.len() as u64);
    assert!(!record.s3.object.e_tag.is_empty());

    assert_eq!(stack.blobs.get(UPLOAD_KEY).await.unwrap(), photo);
    let get = stack
        .blobs
        .presign_get(UPLOAD_KEY, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(get.method, "GET");
    let response = stack.http.get(&get.url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), photo.as_slice());
    // Reading sends nothing.
    assert_eq!(sent_events(&stack.queue).len(), 1);
    stack.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_changed_signature_character_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::default()).await;
    let photo = photo();
    let presigned = presign_photo_put(&stack.blobs, photo.len()).await;
    let at = presigned.url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut url = presigned.url.clone().into_bytes();
    url[at] = if url[at] == b'0' { b'1' } else { b'0' };
    let url = String::from_utf8(url).unwrap();
    assert_ne!(url, presigned.url);

    let (status, body) = send(&stack.http, &presigned, &url, None, photo).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");
    assert_not_stored(stack.blobs.get(UPLOAD_KEY).await);
    assert!(sent_events(&stack.queue).is_empty());
}

#[tokio::test]
async fn another_content_type_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::default()).await;
    let photo = photo();
    let presigned = presign_photo_put(&stack.blobs, photo.len()).await;
    let (status, body) = send(
        &stack.http,
        &presigned,
        &presigned.url,
        Some("image/png"),
        photo,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_not_stored(stack.blobs.get(UPLOAD_KEY).await);
    assert!(sent_events(&stack.queue).is_empty());
}

#[tokio::test]
async fn another_length_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::default()).await;
    let photo = photo();
    let presigned = presign_photo_put(&stack.blobs, photo.len()).await;

    let shorter = photo[..photo.len() - 1].to_vec();
    let (status, body) = send(&stack.http, &presigned, &presigned.url, None, shorter).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let mut longer = photo.clone();
    longer.extend_from_slice(&[0; 4096]);
    let (status, body) = send(&stack.http, &presigned, &presigned.url, None, longer).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    assert_not_stored(stack.blobs.get(UPLOAD_KEY).await);
    assert!(sent_events(&stack.queue).is_empty());
    // The same URL with the signed length still works: only the length was wrong.
    let (status, body) = send(&stack.http, &presigned, &presigned.url, None, photo).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_expired_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::default()).await;
    let photo = photo();
    // Signed 20 minutes ago for 15 minutes: expired 5 minutes ago.
    let clock = Arc::new(ManualClock::new(Utc::now() - chrono::Duration::minutes(20)));
    let blobs = stack.blobs.clone().with_clock(clock);
    let presigned = presign_photo_put(&blobs, photo.len()).await;
    assert!(presigned.expires_at < Utc::now());

    let (status, body) = send(&stack.http, &presigned, &presigned.url, None, photo.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("expired"), "{body}");
    let get = blobs
        .presign_get(UPLOAD_KEY, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        stack.http.get(&get.url).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_not_stored(stack.blobs.get(UPLOAD_KEY).await);
    assert!(sent_events(&stack.queue).is_empty());
}

#[tokio::test]
async fn only_puts_under_the_event_prefix_of_the_event_bucket_are_announced() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::default()).await;
    let other = S3Blobs::for_endpoint(&endpoint(&stack.server, SECRET_KEY), OTHER_BUCKET);

    stack
        .blobs
        .put("work/pv_x/reference.png", vec![1, 2, 3], "image/png")
        .await
        .unwrap();
    stack
        .blobs
        .put("previews/acme/x.jpg", vec![4], "image/jpeg")
        .await
        .unwrap();
    other.put(UPLOAD_KEY, vec![5], "image/jpeg").await.unwrap();
    assert!(
        sent_events(&stack.queue).is_empty(),
        "{:?}",
        sent_events(&stack.queue)
    );

    // An SDK put (not presigned) under the prefix is announced too, with its key
    // URL-encoded on the wire as S3 does.
    let spaced = "uploads/acme/pv_0123456789abcdef0123456789abcdef/a photo+1.jpg";
    stack
        .blobs
        .put(spaced, vec![6; 10], "image/jpeg")
        .await
        .unwrap();
    let events = sent_events(&stack.queue);
    assert_eq!(events.len(), 1);
    let object = &events[0].records[0].s3.object;
    assert_eq!(
        object.key,
        "uploads/acme/pv_0123456789abcdef0123456789abcdef/a+photo%2B1.jpg"
    );
    assert_eq!(object.decoded_key(), spaced);
    assert_eq!(object.size, 10);
    assert_eq!(other.get(UPLOAD_KEY).await.unwrap(), vec![5]);
}

#[tokio::test]
async fn a_put_whose_event_cannot_be_queued_fails_and_its_retry_announces_it() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::default()).await;
    stack.queue.fail_sends(true);
    match stack.blobs.put(UPLOAD_KEY, vec![1; 8], "image/jpeg").await {
        Err(e @ PortError::Unavailable(_)) => assert!(e.is_retryable()),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(sent_events(&stack.queue).is_empty());
    stack.queue.fail_sends(false);
    stack
        .blobs
        .put(UPLOAD_KEY, vec![1; 8], "image/jpeg")
        .await
        .unwrap();
    assert_eq!(sent_events(&stack.queue).len(), 1);
}

#[tokio::test]
async fn objects_survive_a_restart_on_the_same_root() {
    let dir = tempfile::tempdir().unwrap();
    let photo = photo();
    let first = start(dir.path(), Arc::default()).await;
    first
        .blobs
        .put(UPLOAD_KEY, photo.clone(), "image/jpeg")
        .await
        .unwrap();
    first
        .blobs
        .put("work/pv_1/a.png", vec![7; 3], "image/png")
        .await
        .unwrap();
    first.server.shutdown().await.unwrap();
    // Stopped means stopped: nothing answers on the old port.
    assert!(matches!(
        first.blobs.get(UPLOAD_KEY).await,
        Err(PortError::Unavailable(_))
    ));

    let second = start(dir.path(), Arc::default()).await;
    assert_eq!(second.blobs.get(UPLOAD_KEY).await.unwrap(), photo);
    assert_eq!(
        second.blobs.get("work/pv_1/a.png").await.unwrap(),
        vec![7; 3]
    );
    assert_eq!(
        second.blobs.list("").await.unwrap(),
        vec![UPLOAD_KEY.to_owned(), "work/pv_1/a.png".to_owned()]
    );
    // Restarting announces nothing again.
    assert!(sent_events(&second.queue).is_empty());
    second.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn list_pages_through_every_key_and_delete_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::default()).await;
    let blobs = stack.blobs.clone().with_list_page_size(2);
    let mut keys: Vec<String> = (0..5).map(|i| format!("work/pv_1/{i}.png")).collect();
    for key in &keys {
        blobs
            .put(key, key.as_bytes().to_vec(), "image/png")
            .await
            .unwrap();
    }
    blobs
        .put("work/pv_2/other.png", vec![0], "image/png")
        .await
        .unwrap();
    assert_eq!(blobs.list("work/pv_1/").await.unwrap(), keys);

    blobs.delete(&keys[2]).await.unwrap();
    blobs.delete(&keys[2]).await.unwrap();
    assert_not_stored(blobs.get(&keys[2]).await);
    keys.remove(2);
    assert_eq!(blobs.list("work/pv_1/").await.unwrap(), keys);
    assert!(blobs.list("nothing/").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_not_retryable() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::default()).await;
    let intruder = S3Blobs::for_endpoint(&endpoint(&stack.server, "not-the-secret"), BUCKET);
    match intruder.put(UPLOAD_KEY, vec![1], "image/jpeg").await {
        Err(e @ PortError::Backend(_)) => assert!(!e.is_retryable()),
        other => panic!("expected Backend, got {other:?}"),
    }
    // The presigned URL it makes is refused too.
    let presigned = presign_photo_put(&intruder, 1).await;
    let (status, body) = send(&stack.http, &presigned, &presigned.url, None, vec![1]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(sent_events(&stack.queue).is_empty());
}

#[tokio::test]
async fn bad_configurations_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = |buckets: Vec<String>, events_bucket: &str| ObjectServerConfig {
        root: dir.path().to_path_buf(),
        buckets,
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
        region: REGION.into(),
        port: 0,
        events: Some(EventTarget {
            bucket: events_bucket.into(),
            prefix: "uploads/".into(),
            queue: Arc::new(MemQueue::default()),
            queue_name: QUEUE.into(),
        }),
        cors: Vec::new(),
    };
    let err = ObjectServer::start(config(vec!["../escape".into()], "../escape"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bucket name"), "{err}");
    let err = ObjectServer::start(config(vec![BUCKET.into()], "elsewhere"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("event bucket"), "{err}");
}

/// Every file under `dir`, relative to it, hidden metadata included.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn keys_with_dot_segments_or_escaping_the_bucket_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::default()).await;
    let before = files_under(dir.path());
    for key in [
        "../x",
        "a/../../likeness-other/x",
        "uploads/../../escape",
        "./x",
        "a/./b",
        "a/..",
        "..",
        ".",
        "a//b",
        "/abs",
        "a\\..\\..\\x",
        "nul\0byte",
    ] {
        let put = stack.blobs.put(key, b"evil".to_vec(), "image/png").await;
        assert!(
            matches!(put, Err(PortError::Invalid(_))),
            "{key:?} was not refused as invalid: {put:?}"
        );
        let get = stack.blobs.get(key).await;
        assert!(
            matches!(get, Err(PortError::Invalid(_))),
            "{key:?}: {get:?}"
        );
    }
    // Nothing was written anywhere under the root, in any bucket or beside them.
    assert_eq!(files_under(dir.path()), before);
    assert!(stack.blobs.list("").await.unwrap().is_empty());
    // Ordinary keys, dots inside names included, still work.
    for key in [
        "a/b.c/d..e",
        "previews/acme/pv_1/oil-1.webp",
        ".hidden-ok/x",
    ] {
        stack.blobs.put(key, vec![1], "image/png").await.unwrap();
        assert_eq!(stack.blobs.get(key).await.unwrap(), vec![1]);
    }
}

#[tokio::test]
async fn deleting_an_object_deletes_its_metadata_and_md5() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::default()).await;
    let before = files_under(dir.path());
    let photo = photo();
    stack
        .blobs
        .put(UPLOAD_KEY, photo.clone(), "image/jpeg")
        .await
        .unwrap();
    stack
        .blobs
        .put("work/pv_1/a.png", vec![1, 2], "image/png")
        .await
        .unwrap();
    let md5_hex = {
        // The photo's MD5 is its ETag; it must not survive the photo anywhere on disk.
        let all: Vec<u8> = files_under(dir.path())
            .iter()
            .flat_map(|f| std::fs::read(dir.path().join(f)).unwrap())
            .collect();
        let text = String::from_utf8_lossy(&all).into_owned();
        let etag = text
            .split('"')
            .find(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_owned);
        etag.expect("the store keeps the photo's MD5 while the photo exists")
    };
    stack.blobs.delete(UPLOAD_KEY).await.unwrap();
    stack.blobs.delete("work/pv_1/a.png").await.unwrap();
    let after = files_under(dir.path());
    assert_eq!(after, before, "files left behind after delete");
    for f in &after {
        let text =
            String::from_utf8_lossy(&std::fs::read(dir.path().join(f)).unwrap()).into_owned();
        assert!(!text.contains(&md5_hex), "{f} still holds the MD5");
    }
    // Batch deletes clean up the same way.
    let keys = ["work/pv_2/a.png", "work/pv_2/b.png"];
    for key in keys {
        stack.blobs.put(key, vec![3], "image/png").await.unwrap();
    }
    let client = sdk_client(&stack.server);
    let objects = keys
        .iter()
        .map(|k| {
            aws_sdk_s3::types::ObjectIdentifier::builder()
                .key(*k)
                .build()
                .unwrap()
        })
        .collect::<Vec<_>>();
    client
        .delete_objects()
        .bucket(BUCKET)
        .delete(
            aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(objects))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(files_under(dir.path()), before);
}

fn sdk_client(server: &ObjectServer) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(server.endpoint_url())
        .region(aws_sdk_s3::config::Region::new(REGION))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "test",
        ))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Reads until the server closes or `limit` passes: (what came, when it closed).
async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    limit: Duration,
) -> (String, Option<Duration>) {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&got).into_owned(),
                    Some(started.elapsed()),
                );
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), None),
        }
    }
}

#[tokio::test]
async fn slow_clients_and_stalled_uploads_are_cut_off_and_store_nothing() {
    use likeness_embedded::object_server::ServerLimits;
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let queue: Arc<MemQueue> = Arc::default();
    let server = ObjectServer::start_with_limits(
        ObjectServerConfig {
            root: dir.path().to_path_buf(),
            buckets: vec![BUCKET.into()],
            access_key: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
            region: REGION.into(),
            port: 0,
            events: Some(EventTarget {
                bucket: BUCKET.into(),
                prefix: "uploads/".into(),
                queue: queue.clone(),
                queue_name: QUEUE.into(),
            }),
            cors: Vec::new(),
        },
        ServerLimits {
            header_read_timeout: Duration::from_millis(300),
            body_stall_timeout: Duration::from_millis(300),
            request_timeout: Duration::from_secs(5),
            max_connections: 8,
            max_header_bytes: 8 * 1024,
            max_headers: 32,
        },
    )
    .await
    .unwrap();
    let blobs = S3Blobs::for_endpoint(&endpoint(&server, SECRET_KEY), BUCKET);
    let photo = photo();
    let presigned = presign_photo_put(&blobs, photo.len()).await;
    let url = reqwest::Url::parse(&presigned.url).unwrap();
    let target = format!("{}?{}", url.path(), url.query().unwrap());

    // Half a photo under a correctly signed URL, then silence.
    let mut upload = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let mut head = format!("PUT {target} HTTP/1.1\r\nhost: {}\r\n", server.addr());
    for (name, value) in &presigned.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    upload.write_all(head.as_bytes()).await.unwrap();
    upload.write_all(&photo[..photo.len() / 2]).await.unwrap();
    // A slow-loris client and an idle one.
    let mut slow = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    slow.write_all(b"GET /likeness/x HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut idle = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    for (what, stream) in [
        ("upload", &mut upload),
        ("slow", &mut slow),
        ("idle", &mut idle),
    ] {
        let (text, closed) = read_until_closed(stream, Duration::from_secs(4)).await;
        let closed = closed.unwrap_or_else(|| panic!("{what}: still open after 4 s"));
        assert!(
            closed < Duration::from_secs(2),
            "{what}: held for {closed:?}"
        );
        assert!(
            !text.starts_with("HTTP/1.1 200"),
            "{what}: answered {text:?}"
        );
    }
    assert_not_stored(blobs.get(UPLOAD_KEY).await);
    assert!(
        sent_events(&queue).is_empty(),
        "a cut-off upload is not announced"
    );

    // Oversized headers are refused.
    let mut big = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let request = format!(
        "GET /likeness/x HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let _ = big.write_all(request.as_bytes()).await;
    let (text, closed) = read_until_closed(&mut big, Duration::from_secs(3)).await;
    assert!(closed.is_some());
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{text:?}"
    );

    // And the server still serves whole requests.
    blobs
        .put(UPLOAD_KEY, photo.clone(), "image/jpeg")
        .await
        .unwrap();
    assert_eq!(blobs.get(UPLOAD_KEY).await.unwrap(), photo);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_objects_size_is_read_without_fetching_it() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::default()).await;
    let photo = photo();
    stack
        .blobs
        .put(UPLOAD_KEY, photo.clone(), "image/jpeg")
        .await
        .unwrap();
    assert_eq!(
        stack.blobs.size(UPLOAD_KEY).await.unwrap(),
        photo.len() as u64
    );
    assert!(matches!(
        stack.blobs.size("previews/acme/pv_1/none.webp").await,
        Err(PortError::NotFound(_))
    ));
}
