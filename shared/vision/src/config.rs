//! Thresholds of the quality gate. Every field has a documented default
//! (`docs/ANALYSIS.md` explains how each was chosen); any subset can be set
//! from TOML, the rest keep their defaults.

use crate::decode::DecodeLimits;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    pub decode: DecodeLimits,
    /// Reject when the original's short side is below this many pixels.
    pub min_short_side: u32,
    /// Reject as `blurry` when subject sharpness (Laplacian variance) is below this.
    pub blurry_below: f32,
    /// Warn as `blurry` when subject sharpness is below this.
    pub soft_below: f32,
    /// Reject as `motion_blur` when the directional energy ratio is above this
    /// and sharpness is below `motion_sharpness_below` (sharp stripes are not a smear).
    pub motion_ratio_above: f32,
    pub motion_sharpness_below: f32,
    /// Reject as `too_dark` when mean luminance (0–1) is below this.
    pub too_dark_below: f32,
    /// Reject as `overexposed` when mean luminance is above this...
    pub overexposed_above: f32,
    /// ...or when this share of the frame is blown to white.
    pub clipped_highlights_above: f32,
    /// Warn as `low_contrast` when RMS contrast (0–0.5) is below this.
    pub low_contrast_below: f32,
    /// Warn as `noisy` when the noise estimate (8-bit levels) is above this.
    pub noisy_above: f32,
    /// A face counts as a subject when its area is at least this share of the largest face's.
    pub secondary_face_share: f32,
    /// Reject as `face_too_small` when the face box is shorter than this many
    /// pixels in the original photo (too little detail to keep a likeness).
    pub min_face_pixels: f32,
    /// Warn as `face_too_small` when the face height is below this share of the frame height.
    pub small_face_share: f32,
    /// Reject as `face_cut_off` when the head (face box grown by `head_margin`
    /// of its size on each side) leaves the frame by more than this share of its width or height.
    pub head_margin: f32,
    pub face_cut_tolerance: f32,
    /// Warn as `shadow_on_face` when left/right asymmetry inside the face is above this.
    pub shadow_asymmetry_above: f32,
    /// For pets: reject as `no_subject` when the salient box covers less than this share of the frame.
    pub min_subject_area: f32,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            decode: DecodeLimits::default(),
            min_short_side: 256,
            blurry_below: 25.0,
            soft_below: 60.0,
            motion_ratio_above: 0.55,
            motion_sharpness_below: 150.0,
            too_dark_below: 0.16,
            overexposed_above: 0.88,
            clipped_highlights_above: 0.35,
            low_contrast_below: 0.06,
            noisy_above: 12.0,
            secondary_face_share: 0.3,
            min_face_pixels: 48.0,
            small_face_share: 0.05,
            head_margin: 0.15,
            face_cut_tolerance: 0.1,
            shadow_asymmetry_above: 0.3,
            min_subject_area: 0.02,
        }
    }
}

impl AnalysisConfig {
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}
