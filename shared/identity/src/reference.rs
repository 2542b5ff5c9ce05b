//! The identity reference of a photo: every face's identity and every
//! subject's colours, serialised with the analysis.

use image::RgbImage;
use likeness_core::Rect;
use serde::{Deserialize, Serialize};

use crate::colour::{
    Colour, DEFAULT_SEED, PALETTE_SIZE, PaletteEntry, palette, region_tone, skin_tone,
};
use crate::error::Result;
use crate::face::{FaceIdentity, FaceModels};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToneSource {
    /// Cheeks of the aligned chip of the face inside the subject region.
    Skin,
    /// Largest colour cluster of the middle of the region (fur, coat, plumage).
    Region,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubjectColour {
    pub region: Rect,
    pub palette: Vec<PaletteEntry>,
    pub tone: Option<Colour>,
    pub tone_source: ToneSource,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdentityReference {
    pub width: u32,
    pub height: u32,
    pub faces: Vec<FaceIdentity>,
    pub subjects: Vec<SubjectColour>,
}

impl IdentityReference {
    /// `faces` are face boxes (from the detector); `subjects` the subject
    /// regions (people or pets). No subject regions means the whole photo is
    /// the subject.
    pub fn build(
        models: &FaceModels,
        img: &RgbImage,
        faces: &[Rect],
        subjects: &[Rect],
    ) -> Result<Self> {
        let faces = models.describe(img, faces)?;
        let whole = [Rect::new(0.0, 0.0, img.width() as f32, img.height() as f32)];
        let regions = if subjects.is_empty() {
            &whole[..]
        } else {
            subjects
        };
        let subjects = regions
            .iter()
            .map(|region| subject_colour(img, region, &faces))
            .collect();
        Ok(Self {
            width: img.width(),
            height: img.height(),
            faces,
            subjects,
        })
    }

    /// The largest face: the one identity is judged on.
    pub fn dominant_face(&self) -> Option<&FaceIdentity> {
        self.faces
            .iter()
            .max_by(|a, b| a.rect.area().total_cmp(&b.rect.area()))
    }
}

fn subject_colour(img: &RgbImage, region: &Rect, faces: &[FaceIdentity]) -> SubjectColour {
    let inside = |f: &&FaceIdentity| {
        let c = f.rect.center();
        c.x >= region.x && c.x < region.right() && c.y >= region.y && c.y < region.bottom()
    };
    let face = faces
        .iter()
        .filter(inside)
        .max_by(|a, b| a.rect.area().total_cmp(&b.rect.area()));
    let (tone, tone_source) = match face.and_then(|f| skin_tone(&f.chip)) {
        Some(t) => (Some(t), ToneSource::Skin),
        None => (region_tone(img, region, DEFAULT_SEED), ToneSource::Region),
    };
    SubjectColour {
        region: *region,
        palette: palette(img, region, PALETTE_SIZE, DEFAULT_SEED),
        tone,
        tone_source,
    }
}
