//! The analysis stage: decide, with reasons a customer understands, whether the
//! claimed photo can make a good portrait, before any GPU time is spent. Accepted
//! photos leave a normalized reference under `work/{id}/` and start the workflow.
//!
//! Each step is safe to repeat: a redelivered event finds the preview further
//! along and only re-does what may not have happened (starting the execution is
//! idempotent by name; deleting the upload is idempotent).

use crate::AnalyzeError;
use likeness_core::ports::{Blobs, Previews, StartOutcome, Workflow};
use likeness_core::preview::PreviewPatch;
use likeness_core::{PortError, Preview, PreviewId, RejectionReason, Status, keys};
use likeness_vision::{AnalysisConfig, Verdict};
use serde_json::json;
use tracing::Instrument;

/// Where the stage leaves its work for the renderers.
pub fn reference_key(id: &PreviewId) -> String {
    keys::work(id, "reference.png")
}

/// Face boxes and the subject box of the reference (JSON).
pub fn hints_key(id: &PreviewId) -> String {
    keys::work(id, "hints.json")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StageOutcome {
    Rejected(Vec<RejectionReason>),
    /// Accepted; the execution was started now or had been already.
    Started(StartOutcome),
    /// Nothing left to do for this preview.
    AlreadyDone(Status),
}

pub struct AnalyzeStage<'a> {
    pub previews: &'a dyn Previews,
    pub blobs: &'a dyn Blobs,
    pub workflow: &'a dyn Workflow,
    pub config: &'a AnalysisConfig,
}

/// The execution's input: what the state machine needs to fan out over styles.
pub fn execution_input(preview: &Preview) -> serde_json::Value {
    json!({
        "preview_id": preview.id,
        "tenant": preview.tenant,
        "subject": preview.subject,
        "styles": preview.styles,
        "variations": preview.variations,
    })
}

impl AnalyzeStage<'_> {
    pub async fn run(&self, id: &PreviewId) -> Result<StageOutcome, AnalyzeError> {
        let preview = self
            .previews
            .get(id)
            .await?
            .ok_or_else(|| PortError::NotFound(id.to_string()))?;
        match preview.status {
            Status::Analyzing => {
                let span = tracing::info_span!("analyze", preview_id = %preview.id);
                self.analyze(preview).instrument(span).await
            }
            Status::Rendering => {
                // Accepted earlier, but the execution may not have started before a crash.
                let started = self.start(&preview).await?;
                self.blobs.delete(&preview.upload.key).await?;
                Ok(StageOutcome::Started(started))
            }
            other => Ok(StageOutcome::AlreadyDone(other)),
        }
    }

    async fn analyze(&self, preview: Preview) -> Result<StageOutcome, AnalyzeError> {
        let bytes = self.blobs.get(&preview.upload.key).await?;
        let subject = preview.subject;
        let config = self.config.clone();
        let analysis =
            tokio::task::spawn_blocking(move || likeness_vision::analyze(&bytes, subject, &config))
                .await
                .map_err(|e| AnalyzeError::Malformed(format!("analysis task: {e}")))?;
        let analysis = match analysis {
            Ok(a) => a,
            Err(e) => return self.reject(&preview, vec![e.reason()], None).await,
        };
        let summary =
            serde_json::to_value(&analysis).map_err(|e| AnalyzeError::Malformed(e.to_string()))?;
        if analysis.verdict == Verdict::Reject {
            let reasons = analysis
                .reasons
                .iter()
                .filter(|r| r.severity == likeness_vision::Severity::Reject)
                .map(|r| r.to_rejection())
                .collect();
            return self.reject(&preview, reasons, Some(summary)).await;
        }
        let png = encode_png(&analysis.normalized)?;
        self.blobs
            .put(&reference_key(&preview.id), png, "image/png")
            .await?;
        // Where the faces and the subject are, in the reference's pixels: renderers
        // keep faces detailed with it and the judge frames pets with it.
        let faces: Vec<_> = analysis
            .subjects
            .faces
            .iter()
            .map(|f| json!({ "rect": f.rect }))
            .collect();
        let hints = json!({ "faces": faces, "subject": analysis.subjects.subject_box });
        self.blobs
            .put(
                &hints_key(&preview.id),
                hints.to_string().into_bytes(),
                "application/json",
            )
            .await?;
        let patch = PreviewPatch {
            analysis: Some(summary),
            ..PreviewPatch::default()
        };
        let accepted = match self
            .previews
            .transition(&preview.id, Status::Analyzing, Status::Rendering, patch)
            .await
        {
            Ok(p) => p,
            Err(PortError::Conflict(_)) => return Ok(StageOutcome::AlreadyDone(Status::Rendering)),
            Err(e) => return Err(e.into()),
        };
        tracing::info!(verdict = ?analysis.verdict, "photo accepted");
        let started = self.start(&accepted).await?;
        self.blobs.delete(&accepted.upload.key).await?;
        Ok(StageOutcome::Started(started))
    }

    async fn start(&self, preview: &Preview) -> Result<StartOutcome, AnalyzeError> {
        Ok(self
            .workflow
            .start_execution(preview.id.as_str(), execution_input(preview))
            .await?)
    }

    async fn reject(
        &self,
        preview: &Preview,
        reasons: Vec<RejectionReason>,
        summary: Option<serde_json::Value>,
    ) -> Result<StageOutcome, AnalyzeError> {
        tracing::info!(preview_id = %preview.id, codes = ?reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(), "photo rejected");
        let patch = PreviewPatch {
            analysis: summary,
            rejection_reasons: Some(reasons.clone()),
            ..PreviewPatch::default()
        };
        match self
            .previews
            .transition(&preview.id, Status::Analyzing, Status::Rejected, patch)
            .await
        {
            Ok(_) | Err(PortError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        // A rejected photo is of no further use: it is not kept.
        self.blobs.delete(&preview.upload.key).await?;
        Ok(StageOutcome::Rejected(reasons))
    }
}

fn encode_png(image: &image::RgbImage) -> Result<Vec<u8>, AnalyzeError> {
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| AnalyzeError::Malformed(format!("encoding the reference: {e}")))?;
    Ok(out.into_inner())
}
