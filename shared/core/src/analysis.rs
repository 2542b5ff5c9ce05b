//! What analysis records about a photo (`Preview::analysis`): the verdict
//! with its reasons, every measurement, the subjects found and the framing.
//! `likeness-vision` measures; these are the records it fills in.

use crate::geometry::Rect;
use crate::preview::SubjectKind;
use crate::rejection::{RejectionCode, RejectionReason};
use serde::{Deserialize, Serialize};

/// The accepted input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    Webp,
}

/// Whole-frame measurements.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    /// Mean luminance, 0 (black) to 1 (white).
    pub mean_luminance: f32,
    /// Share of pixels at or below 2% luminance (crushed shadows), 0 to 1.
    pub clipped_shadows: f32,
    /// Share of pixels at or above 98% luminance (blown highlights), 0 to 1.
    pub clipped_highlights: f32,
    /// RMS contrast: standard deviation of luminance, 0 to 0.5.
    pub contrast: f32,
}

/// One detected face, in the pixel coordinates of the analysed image.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    pub rect: Rect,
    /// The cascade's confidence (unbounded; detections below 2.0 are dropped).
    pub score: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accept,
    AcceptWithWarnings,
    Reject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Reject,
}

/// One finding: a stable code, a message the customer can act on, and whether it blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub code: RejectionCode,
    pub message: String,
    pub severity: Severity,
}

impl Reason {
    pub fn new(code: RejectionCode, severity: Severity) -> Self {
        Self {
            code,
            message: code.default_message().to_owned(),
            severity,
        }
    }

    pub fn to_rejection(&self) -> RejectionReason {
        RejectionReason::with_message(self.code, self.message.clone())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    CloseUp,
    HalfBody,
    FullBody,
}

/// Every measurement, with the units documented on each field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Original size, upright, in pixels.
    pub width: u32,
    pub height: u32,
    /// Short side of the original, in pixels.
    pub resolution: u32,
    /// Laplacian variance on the subject region at a fixed 256 px scale, (8-bit levels)².
    pub sharpness: f32,
    /// Directional energy ratio of the subject region, 0 (isotropic) to 1 (one direction).
    pub motion_blur: f32,
    #[serde(flatten)]
    pub exposure: Exposure,
    /// Noise standard deviation, 8-bit levels.
    pub noise: f32,
    /// Dominant face height over frame height, 0 to 1 (absent without faces).
    pub face_size: Option<f32>,
    /// Dominant face height in original pixels.
    pub face_pixels: Option<f32>,
    /// How far the dominant head leaves the frame, as a share of its size (0 = inside).
    pub face_cut: Option<f32>,
    /// Left/right luminance asymmetry in the dominant face, 0 to 1.
    pub face_shadow: Option<f32>,
}

/// What the photo shows, in normalized-image pixel coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subjects {
    /// Every detected face, largest first.
    pub faces: Vec<FaceBox>,
    /// How many faces count as subjects (at least `secondary_face_share` of the largest).
    pub face_count: usize,
    /// The box the portrait is about: faces' union for people, the salient region for pets.
    pub subject_box: Option<Rect>,
}

/// Analysis as recorded with the preview: everything but the normalized image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisRecord {
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
    pub subject: SubjectKind,
    pub format: Format,
    pub exif_orientation: u8,
    pub metrics: Metrics,
    pub subjects: Subjects,
    pub framing: Option<Framing>,
    /// Size of the normalized image the boxes refer to.
    pub normalized_width: u32,
    pub normalized_height: u32,
}
