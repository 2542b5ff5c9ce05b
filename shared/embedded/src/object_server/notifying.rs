//! `s3s_fs::FileSystem` with S3 event notifications: S3 itself pushes an
//! `ObjectCreated` record to SQS after a write; s3s-fs has no notifications, so this
//! wrapper delegates every operation and emits the record after a successful write.
//!
//! It also does what s3s-fs leaves out: every bucket and key is checked before it
//! reaches the filesystem ([`super::keys`]), and deleting an object deletes the
//! attributes and checksums s3s-fs keeps beside it (the photo's MD5 among them).

use super::keys::{check_bucket, check_copy_source, check_key};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use likeness_core::ports::Queue;
use likeness_core::s3_event::{S3EventNotification, S3EventRecord};
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing::{debug, error};

/// Where object-created events go: puts into `bucket` whose key starts with
/// `prefix` are announced on `queue_name`.
#[derive(Clone)]
pub struct EventTarget {
    pub bucket: String,
    pub prefix: String,
    pub queue: Arc<dyn Queue>,
    pub queue_name: String,
}

impl std::fmt::Debug for EventTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventTarget")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("queue_name", &self.queue_name)
            .finish_non_exhaustive()
    }
}

pub(crate) struct NotifyingFs {
    fs: s3s_fs::FileSystem,
    /// Canonical root, the same directory s3s-fs stores `bucket/key` files under.
    root: PathBuf,
    region: String,
    events: Option<EventTarget>,
    /// S3 sequencers only need to grow per key; a counter seeded from the clock keeps
    /// growing across restarts too.
    sequencer: AtomicU64,
}

impl std::fmt::Debug for NotifyingFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyingFs")
            .field("root", &self.root)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl NotifyingFs {
    pub(crate) fn new(
        fs: s3s_fs::FileSystem,
        root: PathBuf,
        region: String,
        events: Option<EventTarget>,
    ) -> Self {
        let seed = u64::try_from(Utc::now().timestamp_nanos_opt().unwrap_or_default()).unwrap_or(0);
        Self {
            fs,
            root,
            region,
            events,
            sequencer: AtomicU64::new(seed),
        }
    }

    fn target_for(&self, bucket: &str, key: &str) -> Option<&EventTarget> {
        self.events
            .as_ref()
            .filter(|t| t.bucket == bucket && key.starts_with(&t.prefix))
    }

    /// Sends one record. A failed send fails the request: the object is stored, but
    /// the client retries the write, and that retry is what gets the event out
    /// (at-least-once, as S3 notifications are).
    async fn emit(
        &self,
        event_name: &str,
        bucket: &str,
        key: &str,
        fallback_size: Option<i64>,
        e_tag: Option<&ETag>,
    ) -> S3Result<()> {
        let Some(target) = self.target_for(bucket, key) else {
            return Ok(());
        };
        let size = match tokio::fs::metadata(self.root.join(bucket).join(key)).await {
            Ok(meta) => meta.len(),
            Err(_) => fallback_size
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(0),
        };
        let e_tag = e_tag.map(|e| e.value().to_owned()).unwrap_or_default();
        let sequencer = format!("{:016X}", self.sequencer.fetch_add(1, Ordering::Relaxed));
        let mut record = S3EventRecord::object_created_put(
            &self.region,
            bucket,
            key,
            size,
            &e_tag,
            &sequencer,
            Utc::now(),
        );
        record.event_name = event_name.to_owned();
        let body = serde_json::to_string(&S3EventNotification {
            records: vec![record],
            event: None,
        })
        .map_err(|e| s3_error!(InternalError, "cannot encode the S3 event: {e}"))?;
        match target
            .queue
            .send(&target.queue_name, &body, Duration::ZERO)
            .await
        {
            Ok(message_id) => {
                debug!(bucket, key, event_name, message_id, "object event sent");
                Ok(())
            }
            Err(e) => {
                error!(bucket, key, error = %e, "object stored but its event could not be queued");
                Err(s3_error!(
                    ServiceUnavailable,
                    "object stored but its event could not be queued; retry the request"
                ))
            }
        }
    }
}

impl NotifyingFs {
    /// Removes the side files s3s-fs 0.14 keeps for `bucket/key` in the root:
    /// `.bucket-{b64}.object-{b64}.metadata.json` (content type, user metadata) and
    /// `.internal.json` (ETag = MD5, checksums). Missing files are fine: the object
    /// may have had none, or a retried delete got there first.
    async fn forget_object(&self, bucket: &str, key: &str) -> S3Result<()> {
        let stem = format!(
            ".bucket-{}.object-{}",
            URL_SAFE_NO_PAD.encode(bucket),
            URL_SAFE_NO_PAD.encode(key)
        );
        for suffix in [".metadata.json", ".internal.json"] {
            let path = self.root.join(format!("{stem}{suffix}"));
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    error!(bucket, key, error = %e, "object deleted but its metadata was not");
                    return Err(s3_error!(
                        InternalError,
                        "object deleted but its metadata could not be; retry the delete"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn check(bucket: &str, key: &str) -> S3Result<()> {
    check_bucket(bucket)?;
    check_key(key)
}

#[async_trait::async_trait]
impl S3 for NotifyingFs {
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let bucket = req.input.bucket.clone();
        let key = req.input.key.clone();
        let length = req.input.content_length;
        check(&bucket, &key)?;
        let resp = self.fs.put_object(req).await?;
        self.emit(
            "ObjectCreated:Put",
            &bucket,
            &key,
            length,
            resp.output.e_tag.as_ref(),
        )
        .await?;
        Ok(resp)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let bucket = req.input.bucket.clone();
        let key = req.input.key.clone();
        check(&bucket, &key)?;
        let resp = self.fs.complete_multipart_upload(req).await?;
        self.emit(
            "ObjectCreated:CompleteMultipartUpload",
            &bucket,
            &key,
            None,
            resp.output.e_tag.as_ref(),
        )
        .await?;
        Ok(resp)
    }

    // Everything else is plain s3s-fs. The S3 trait's async-trait signatures rule
    // out generating these with a macro, so they are spelled out.

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        check(&req.input.bucket, &req.input.key)?;
        check_copy_source(&req.input.copy_source)?;
        self.fs.copy_object(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.fs.delete_bucket(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let bucket = req.input.bucket.clone();
        let key = req.input.key.clone();
        check(&bucket, &key)?;
        let resp = self.fs.delete_object(req).await?;
        self.forget_object(&bucket, &key).await?;
        Ok(resp)
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let bucket = req.input.bucket.clone();
        check_bucket(&bucket)?;
        for object in &req.input.delete.objects {
            check_key(&object.key)?;
        }
        let resp = self.fs.delete_objects(req).await?;
        for deleted in resp.output.deleted.iter().flatten() {
            if let Some(key) = &deleted.key {
                self.forget_object(&bucket, key).await?;
            }
        }
        Ok(resp)
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        check(&req.input.bucket, &req.input.key)?;
        self.fs.get_object(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        check(&req.input.bucket, &req.input.key)?;
        self.fs.head_object(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        check(&req.input.bucket, &req.input.key)?;
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        check(&req.input.bucket, &req.input.key)?;
        self.fs.upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        check(&req.input.bucket, &req.input.key)?;
        check_copy_source(&req.input.copy_source)?;
        self.fs.upload_part_copy(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        check(&req.input.bucket, &req.input.key)?;
        self.fs.list_parts(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        check(&req.input.bucket, &req.input.key)?;
        self.fs.abort_multipart_upload(req).await
    }
}
