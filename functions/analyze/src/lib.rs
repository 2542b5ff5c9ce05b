//! Handles S3 `ObjectCreated` notifications for `uploads/`. Delivery is at least
//! once, so every step is a conditional transition: a duplicate event finds the
//! preview already claimed and does nothing.

pub mod handler;
pub mod stage;

use likeness_core::ports::{Blobs, Previews};
use likeness_core::preview::PreviewPatch;
use likeness_core::s3_event::{S3EventNotification, S3EventRecord};
use likeness_core::{PortError, PreviewId, RejectionCode, RejectionReason, Status, keys};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AnalyzeError {
    /// The message is not an S3 notification; retrying cannot help.
    #[error("not an S3 event notification: {0}")]
    NotS3Event(String),
    /// The analysis of the photo panicked: a defect, kept for someone to look at.
    #[error("the analysis crashed: {0}")]
    Crashed(String),
    /// The normalized reference (or its hints) could not be encoded.
    #[error("encoding the analysis output: {0}")]
    Encode(String),
    #[error(transparent)]
    Port(#[from] PortError),
}

impl AnalyzeError {
    /// Whether redelivering the message may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            AnalyzeError::NotS3Event(_) | AnalyzeError::Crashed(_) | AnalyzeError::Encode(_) => {
                false
            }
            AnalyzeError::Port(e) => !matches!(e, PortError::Invalid(_)),
        }
    }
}

/// What became of one record of a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadOutcome {
    /// This delivery moved the preview to `analyzing`.
    Claimed(PreviewId),
    /// Another delivery of the same upload got there first.
    AlreadyClaimed(PreviewId, Status),
    /// The upload did not match what was ordered; the preview is rejected.
    Mismatched(PreviewId),
    /// Not an upload likeness asked for (unknown key or preview); the object is deleted.
    Discarded(String),
    /// An upload for a preview past analysis (a second PUT through the same
    /// presigned URL): nothing will ever read it, so it is deleted on arrival.
    Late(PreviewId, Status),
    /// S3's configuration test event or a non-create event.
    Ignored,
}

/// Claim every uploaded photo named in one notification message body.
pub async fn handle_upload_notification(
    body: &str,
    previews: &dyn Previews,
    blobs: &dyn Blobs,
) -> Result<Vec<UploadOutcome>, AnalyzeError> {
    let notification: S3EventNotification =
        serde_json::from_str(body).map_err(|e| AnalyzeError::NotS3Event(e.to_string()))?;
    let mut outcomes = Vec::with_capacity(notification.records.len());
    for record in &notification.records {
        outcomes.push(claim_upload(record, previews, blobs).await?);
    }
    if notification.records.is_empty() {
        outcomes.push(UploadOutcome::Ignored);
    }
    Ok(outcomes)
}

async fn claim_upload(
    record: &S3EventRecord,
    previews: &dyn Previews,
    blobs: &dyn Blobs,
) -> Result<UploadOutcome, AnalyzeError> {
    if !record.is_object_created() {
        return Ok(UploadOutcome::Ignored);
    }
    let key = record.s3.object.decoded_key();
    let Some((tenant, id)) = keys::parse_upload(&key) else {
        tracing::warn!(key = %key, "upload under an unexpected key; deleting it");
        blobs.delete(&key).await?;
        return Ok(UploadOutcome::Discarded(key));
    };
    let preview = match previews.get(&id).await? {
        Some(p) if p.tenant == tenant && p.upload.key == key => p,
        _ => {
            // No order binds this photo: keeping it would keep a stranger's photo.
            tracing::warn!(preview_id = %id, "upload without a matching order; deleting it");
            blobs.delete(&key).await?;
            return Ok(UploadOutcome::Discarded(key));
        }
    };
    match preview.status {
        Status::AwaitingUpload => {}
        // Analysis re-runs for these and deletes the upload itself when done.
        Status::Analyzing | Status::Rendering => {
            return Ok(UploadOutcome::AlreadyClaimed(id, preview.status));
        }
        late => {
            // The photo was analysed already (or the preview ended): a copy kept now
            // would be a photo no order needs, so the presigned URL is single-use in effect.
            tracing::warn!(preview_id = %id, status = %late, "upload after analysis; deleting it");
            blobs.delete(&key).await?;
            return Ok(UploadOutcome::Late(id, late));
        }
    }
    let claimed = match previews
        .transition(
            &id,
            Status::AwaitingUpload,
            Status::Analyzing,
            PreviewPatch::default(),
        )
        .await
    {
        Ok(p) => p,
        Err(PortError::Conflict(_)) => {
            let status = previews
                .get(&id)
                .await?
                .map_or(Status::Analyzing, |p| p.status);
            return Ok(UploadOutcome::AlreadyClaimed(id, status));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(preview_id = %id, "upload claimed for analysis");
    let size = record.s3.object.size;
    if size != claimed.upload.content_length {
        tracing::warn!(preview_id = %id, size, expected = claimed.upload.content_length, "upload size differs from the order");
        let patch = PreviewPatch {
            rejection_reasons: Some(vec![RejectionReason::new(RejectionCode::UploadMismatch)]),
            ..PreviewPatch::default()
        };
        previews
            .transition(&id, Status::Analyzing, Status::Rejected, patch)
            .await?;
        blobs.delete(&key).await?;
        return Ok(UploadOutcome::Mismatched(id));
    }
    Ok(UploadOutcome::Claimed(id))
}
