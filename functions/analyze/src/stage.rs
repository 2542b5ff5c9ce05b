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
use likeness_core::tasks::{ExecutionInput, HintFace, Hints};
use likeness_core::{PortError, Preview, PreviewId, RejectionReason, Status, keys};
use likeness_vision::{AnalysisConfig, Verdict};
use tracing::Instrument;

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
                .map_err(|e| AnalyzeError::Crashed(e.to_string()))?;
        let analysis = match analysis {
            Ok(a) => a,
            Err(e) => return self.reject(&preview, vec![e.reason()], None).await,
        };
        let summary = analysis.record();
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
            .put(&keys::reference(&preview.id), png, "image/png")
            .await?;
        // Where the faces and the subject are, in the reference's pixels: renderers
        // keep faces detailed with it and the judge frames pets with it.
        let hints = Hints {
            faces: analysis
                .subjects
                .faces
                .iter()
                .map(|f| HintFace {
                    rect: f.rect,
                    landmarks: None,
                })
                .collect(),
            subject: analysis.subjects.subject_box,
        };
        let hints = serde_json::to_vec(&hints).map_err(|e| AnalyzeError::Encode(e.to_string()))?;
        self.blobs
            .put(&keys::hints(&preview.id), hints, "application/json")
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
        let input = serde_json::to_value(ExecutionInput::for_preview(preview))
            .map_err(|e| AnalyzeError::Encode(e.to_string()))?;
        Ok(self
            .workflow
            .start_execution(preview.id.as_str(), input)
            .await?)
    }

    async fn reject(
        &self,
        preview: &Preview,
        reasons: Vec<RejectionReason>,
        summary: Option<likeness_core::analysis::AnalysisRecord>,
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
        .map_err(|e| AnalyzeError::Encode(format!("the reference: {e}")))?;
    Ok(out.into_inner())
}
