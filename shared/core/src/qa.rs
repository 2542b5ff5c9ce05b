//! What QA says about one candidate, in the words that reach records, the
//! judge's verdict and webhooks: the five scores and the artifact codes.

use serde::{Deserialize, Serialize};

/// Stable artifact codes: they go into records and webhooks, never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactCode {
    /// Near-uniform image: nothing was drawn.
    Blank,
    /// Dead black tiles, what NaNs in a decoder leave.
    BlackTiles,
    /// Large areas clipped to fully saturated colour.
    ClippedSaturation,
    /// More faces than the order has people.
    ExtraFaces,
    /// Fewer faces than the order has people.
    MissingFace,
    /// A face whose landmarks are not a face's.
    MeltedFace,
    /// The same picture as a better-ranked variation.
    NearDuplicate,
    /// Isolated dark blotches the photo does not have (stains of a failed wash).
    DarkBlotches,
}

impl ArtifactCode {
    pub fn as_str(&self) -> &'static str {
        match self {
            ArtifactCode::Blank => "blank",
            ArtifactCode::BlackTiles => "black_tiles",
            ArtifactCode::ClippedSaturation => "clipped_saturation",
            ArtifactCode::ExtraFaces => "extra_faces",
            ArtifactCode::MissingFace => "missing_face",
            ArtifactCode::MeltedFace => "melted_face",
            ArtifactCode::NearDuplicate => "near_duplicate",
            ArtifactCode::DarkBlotches => "dark_blotches",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    pub code: ArtifactCode,
    /// The measurement that tripped the check, in the check's own unit.
    pub measured: f32,
    pub limit: f32,
}

/// QA scores of one candidate, each in 0..1.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub likeness: f32,
    pub colour: f32,
    pub composition: f32,
    pub style: f32,
    /// 1 without artifacts, 0 with any.
    pub artifacts: f32,
}
