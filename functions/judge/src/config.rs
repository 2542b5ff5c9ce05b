//! Per-style QA thresholds: documented defaults in code, overridden per style by
//! the catalogue's `qa` table (`shared/core/data/styles.toml`).
//!
//! Every score is shaped so that 0.5 means "exactly at the tolerance", hence the
//! common `min_*` default of 0.5: the tolerances carry the style's character,
//! the score thresholds stay comparable across styles.

use likeness_core::Style;
use likeness_vision::signature::Signature;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("style `{style}` has an invalid `qa` table: {message}")]
    Invalid { style: String, message: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StyleQa {
    /// People: largest identity-embedding distance (dlib 128-d, Euclidean) that
    /// still counts as the same person. 0.6 is the model's published operating point.
    pub identity_distance_max: f32,
    /// Whether the face must still be found in the render. Line art may lose it to
    /// the detector; its likeness is then judged on the head's structure.
    pub face_must_be_detected: bool,
    /// Judge a person's likeness by the head's structure even when the face is
    /// found: for media where the identity network does not tell people apart
    /// (on line art a render of the right person and one of another land at
    /// the same distance; docs/QA.md).
    pub likeness_by_structure: bool,
    /// Largest shift of the mean chroma (YIQ i, q, in 0..1 units) from the photo;
    /// the catalogue sets it for colour styles. Checked with the signature.
    pub colour_shift_max: Option<f32>,
    /// Structure likeness (pets; people without the identity model or whose drawn
    /// face is not detected): gradient SSIM of the subject region at 48 px that
    /// scores 0.5. Calibrated: own renders 0.26-0.74, other subjects 0.01-0.13.
    pub min_structure: f32,
    /// CIEDE2000 palette distance that scores 0.5: how far the style may move colour.
    pub colour_tolerance: f32,
    /// CIEDE2000's lightness weight kL for that distance: 1 counts lightness
    /// as the formula's reference conditions do; 2 (the textile industry's)
    /// for media whose signature asks for a lighter picture than the photo,
    /// so a lifted palette is not taken for a wrong one while hue still counts.
    pub colour_lightness_weight: f32,
    /// Monochrome media: compare the candidate with the reference's grey values,
    /// so a pencil drawing is judged on tone, not on having lost the colour.
    pub monochrome: bool,
    /// Head (face box) height as a share of the image height.
    pub head_height: [f32; 2],
    /// Face centre, as a share of width and height.
    pub head_x: [f32; 2],
    pub head_y: [f32; 2],
    /// Pets: share of the subject box that must stay inside the frame.
    pub min_subject_visible: f32,
    pub min_likeness: f32,
    pub min_colour: f32,
    pub min_composition: f32,
    pub min_style: f32,
    /// Artifacts: luma standard deviation below which a render is blank.
    pub blank_luma_std: f32,
    /// Largest share of dead-black tiles (NaN in the decoder) tolerated.
    pub max_black_tiles: f32,
    /// Largest share of pixels clipped at both ends (some channel 255, another 0).
    pub max_clipped: f32,
    /// Largest share of the frame that dark blotches the photo does not have
    /// may cover (`crate::blotches`).
    pub max_dark_blotches: f32,
    /// Two variations whose perceptual hashes differ by at most this many bits
    /// are the same picture.
    pub duplicate_bits: u32,
    /// Landmark geometry error (share of the eye distance) beyond which a face is melted.
    pub max_landmark_error: f32,
    /// Candidates delivered per style when enough pass.
    pub keep: usize,
    /// Render attempts (first included) before delivering the best with a flag.
    pub max_attempts: u32,
    /// Diffusion retries: strength drops by this much per retry, not below `min_strength`.
    pub strength_step: f32,
    pub min_strength: f32,
    /// Diffusion retries: identity-adapter scale rises by this much, not above `max_identity_scale`.
    pub identity_scale_step: f32,
    pub max_identity_scale: f32,
    /// The style's statistical signature, likeness-vision's `Signature` bounds
    /// (`white_fraction_min`, `colours_max`, ...), kept as the catalogue wrote it.
    pub signature: toml::Table,
}

impl Default for StyleQa {
    fn default() -> Self {
        Self {
            identity_distance_max: 0.6,
            face_must_be_detected: true,
            likeness_by_structure: false,
            colour_shift_max: None,
            min_structure: 0.2,
            colour_tolerance: 15.0,
            colour_lightness_weight: 1.0,
            monochrome: false,
            head_height: [0.08, 0.7],
            head_x: [0.15, 0.85],
            head_y: [0.1, 0.7],
            min_subject_visible: 0.85,
            min_likeness: 0.5,
            min_colour: 0.5,
            min_composition: 0.5,
            min_style: 0.5,
            blank_luma_std: 4.0,
            max_black_tiles: 0.02,
            max_clipped: 0.05,
            max_dark_blotches: 0.0005,
            duplicate_bits: 4,
            max_landmark_error: 0.35,
            keep: 2,
            max_attempts: 3,
            strength_step: 0.1,
            min_strength: 0.3,
            identity_scale_step: 0.2,
            max_identity_scale: 1.2,
            signature: toml::Table::new(),
        }
    }
}

/// Built-in defaults per style, before the catalogue's `qa` table applies.
/// Colour tolerances are CIEDE2000 palette distances calibrated on the classic
/// engine's renders of the fixture photos (docs/QA.md): pop art may move colour
/// far; watercolour lightens by nature (transparent washes on white paper) but
/// keeps hues; drawing media are compared on grey values.
pub fn builtin_defaults(style_id: &str) -> StyleQa {
    let base = StyleQa::default();
    let (colour_tolerance, monochrome, max_clipped) = match style_id {
        "watercolor" => (16.0, false, base.max_clipped),
        "oil" => (14.0, false, base.max_clipped),
        "pastel" => (14.0, false, base.max_clipped),
        "pop_art" => (40.0, false, 0.6),
        "line_art" => (30.0, true, base.max_clipped),
        "pencil" => (20.0, true, base.max_clipped),
        "charcoal" => (22.0, true, base.max_clipped),
        "ink_wash" => (22.0, true, base.max_clipped),
        _ => (base.colour_tolerance, false, base.max_clipped),
    };
    // Media that draw in dark masses (flat screen-print inks, smudged
    // charcoal, pooled ink, dense contour knots) make small dark shapes by
    // design; their limit only catches a render that breaks up everywhere.
    let max_dark_blotches = match style_id {
        "pop_art" | "ink_wash" => 0.05,
        "charcoal" => 0.02,
        "line_art" => 0.01,
        _ => base.max_dark_blotches,
    };
    // Pastel's signature asks for a picture lighter than the photo (mean luma
    // at least 0.55, contrast at most 0.95): its chalk palette is lifted by
    // design, so lightness counts half as much as hue and chroma.
    let colour_lightness_weight = match style_id {
        "pastel" => 2.0,
        _ => base.colour_lightness_weight,
    };
    StyleQa {
        colour_tolerance,
        colour_lightness_weight,
        monochrome,
        max_clipped,
        max_dark_blotches,
        ..base
    }
}

impl StyleQa {
    /// The thresholds for `style`: its built-in defaults with the catalogue's `qa`
    /// keys on top. A hybrid starts from its body style's defaults: the face is
    /// the other style's, but the picture is mostly body and background.
    pub fn for_style(style: &Style) -> Result<StyleQa, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            style: style.id.to_string(),
            message,
        };
        let defaults = match &style.hybrid {
            Some(h) => builtin_defaults(h.body.as_str()),
            None => builtin_defaults(style.id.as_str()),
        };
        let mut table = toml::Table::try_from(&defaults).map_err(|e| invalid(e.to_string()))?;
        for (key, value) in &style.qa {
            table.insert(key.clone(), value.clone());
        }
        let qa: StyleQa = table
            .try_into()
            .map_err(|e: toml::de::Error| invalid(e.message().to_owned()))?;
        qa.validate().map_err(invalid)?;
        Ok(qa)
    }

    /// The signature as likeness-render types it.
    pub fn signature(&self) -> Result<Signature, String> {
        let mut qa = toml::Table::new();
        qa.insert(
            "signature".into(),
            toml::Value::Table(self.signature.clone()),
        );
        Signature::from_qa(&qa)
    }

    fn validate(&self) -> Result<(), String> {
        let bands = [
            ("head_height", self.head_height),
            ("head_x", self.head_x),
            ("head_y", self.head_y),
        ];
        for (name, [lo, hi]) in bands {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(format!(
                    "`{name}` must be [min, max] with min < max, got [{lo}, {hi}]"
                ));
            }
        }
        for (name, v) in [
            ("identity_distance_max", self.identity_distance_max),
            ("colour_tolerance", self.colour_tolerance),
            ("colour_lightness_weight", self.colour_lightness_weight),
            ("min_structure", self.min_structure),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("`{name}` must be a positive number, got {v}"));
            }
        }
        if self.keep == 0 || self.max_attempts == 0 {
            return Err("`keep` and `max_attempts` must be at least 1".into());
        }
        self.signature().map_err(|e| format!("`signature`: {e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use likeness_core::{Catalogue, StyleId};

    #[test]
    fn every_catalogue_style_resolves_and_pop_art_may_move_colour_further_than_watercolor() {
        let catalogue = Catalogue::builtin();
        for style in &catalogue.styles {
            StyleQa::for_style(style).unwrap_or_else(|e| panic!("{e}"));
        }
        let get = |id: &str| StyleQa::for_style(catalogue.get(&StyleId::new(id)).unwrap()).unwrap();
        assert!(get("pop_art").colour_tolerance > 2.0 * get("watercolor").colour_tolerance);
        assert!(!get("line_art").face_must_be_detected);
        assert!(get("pop_art").signature().unwrap().colours_max.is_some());
    }

    #[test]
    fn catalogue_keys_override_defaults_and_typos_are_named() {
        let mut style = Catalogue::builtin()
            .get(&StyleId::new("oil"))
            .unwrap()
            .clone();
        style.qa =
            toml::from_str("colour_tolerance = 5.0\nsignature = { colours_max = 3 }").unwrap();
        let qa = StyleQa::for_style(&style).unwrap();
        assert_eq!(qa.colour_tolerance, 5.0);
        assert_eq!(qa.signature().unwrap().colours_max, Some(3));
        assert_eq!(qa.keep, StyleQa::default().keep, "defaults kept");

        style.qa = toml::from_str("colour_tolerence = 5.0").unwrap();
        let err = StyleQa::for_style(&style).unwrap_err().to_string();
        assert!(
            err.contains("colour_tolerence") && err.contains("oil"),
            "{err}"
        );
        style.qa = toml::from_str("signature = { sharpness_min = 1.0 }").unwrap();
        let err = StyleQa::for_style(&style).unwrap_err().to_string();
        assert!(err.contains("sharpness_min"), "{err}");
        style.qa = toml::from_str("head_height = [0.5, 0.1]").unwrap();
        assert!(
            StyleQa::for_style(&style)
                .unwrap_err()
                .to_string()
                .contains("head_height")
        );
    }
}
