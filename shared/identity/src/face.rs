//! Per-face identity: landmarks, aligned chip and embedding, with the models
//! loaded once and shared.

use std::io::Cursor;
use std::path::Path;

use candle_core::Device;
use image::{GrayImage, RgbImage};
use likeness_core::{Point, Rect};
use serde::{Deserialize, Serialize};

use crate::chip::{CHIP_PADDING, CHIP_SIZE, ChipDetails, extract_chip};
use crate::error::{IdentityError, Result};
use crate::models::{Model, models_dir, read_verified};
use crate::resnet::{EMBEDDING_DIM, FaceEncoder};
use crate::shape::{ShapePredictor, intensity_image};

/// Descriptors closer than this (Euclidean) are the same person, dlib's operating point.
pub const SAME_PERSON_THRESHOLD: f32 = 0.6;

/// One face: where it is, its 5 landmarks, its aligned chip and its 128-d descriptor.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FaceIdentity {
    pub rect: Rect,
    /// Right eye outer, right eye inner, left eye outer, left eye inner, nose
    /// base (the subject's right and left), whole pixels as dlib reports them.
    pub landmarks: Vec<Point>,
    pub embedding: Vec<f32>,
    /// Where the caller stored the chip (for example `work/{id}/chip-0.png`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chip_key: Option<String>,
    /// The 150x150 aligned chip; not serialised, store it with [`FaceIdentity::chip_png`].
    #[serde(skip, default = "empty_chip")]
    pub chip: RgbImage,
}

fn empty_chip() -> RgbImage {
    RgbImage::new(0, 0)
}

impl FaceIdentity {
    pub fn chip_png(&self) -> Result<Vec<u8>> {
        let mut out = Cursor::new(Vec::new());
        self.chip
            .write_to(&mut out, image::ImageFormat::Png)
            .map_err(|e| IdentityError::Png(e.to_string()))?;
        Ok(out.into_inner())
    }

    pub fn distance(&self, other: &FaceIdentity) -> f32 {
        distance(&self.embedding, &other.embedding)
    }
}

/// Euclidean distance; vectors of different lengths are infinitely far apart.
pub fn distance(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// The landmark and embedding models. Loading parses ~30 MB; do it once and
/// share the value (it is `Send + Sync`).
#[derive(Debug)]
pub struct FaceModels {
    pub predictor: ShapePredictor,
    pub encoder: FaceEncoder,
}

impl FaceModels {
    /// Load from `$LIKENESS_MODELS_DIR` (or `~/.cache/likeness/models`) onto the CPU.
    pub fn load() -> Result<Self> {
        Self::load_from(&models_dir()?, &Device::Cpu)
    }

    /// The models of this process, loaded on first use: they are read-only and
    /// take about 100 ms to parse, so the judge and the renderers share one copy.
    /// A failed load is tried again on the next call (the models may have been
    /// fetched meanwhile).
    pub fn shared() -> Result<std::sync::Arc<Self>> {
        static LOADED: std::sync::OnceLock<std::sync::Arc<FaceModels>> = std::sync::OnceLock::new();
        if let Some(models) = LOADED.get() {
            return Ok(models.clone());
        }
        let models = std::sync::Arc::new(Self::load()?);
        Ok(LOADED.get_or_init(|| models).clone())
    }

    pub fn load_from(dir: &Path, device: &Device) -> Result<Self> {
        let (path, bytes) = read_verified(dir, Model::ShapePredictor5)?;
        let predictor = ShapePredictor::from_bytes(&bytes, &path)?;
        let (path, bytes) = read_verified(dir, Model::Resnet)?;
        let encoder = FaceEncoder::from_bytes(&bytes, &path, device)?;
        Ok(Self { predictor, encoder })
    }

    /// The 5 landmarks of the face in `rect`.
    pub fn landmarks(&self, gray: &GrayImage, rect: &Rect) -> Result<[Point; 5]> {
        let pts = self.predictor.predict(gray, rect)?;
        pts.try_into().map_err(|v: Vec<Point>| {
            IdentityError::Tensor(candle_core::Error::Msg(format!(
                "the landmark model gives {} points, expected 5",
                v.len()
            )))
        })
    }

    /// Landmarks, chip and embedding for every box, embedded in one batch.
    pub fn describe(&self, img: &RgbImage, boxes: &[Rect]) -> Result<Vec<FaceIdentity>> {
        if img.width() == 0 || img.height() == 0 {
            return Err(IdentityError::EmptyImage {
                width: img.width(),
                height: img.height(),
            });
        }
        let gray = intensity_image(img);
        let mut faces = Vec::with_capacity(boxes.len());
        for rect in boxes {
            let landmarks = self.landmarks(&gray, rect)?;
            let details = ChipDetails::for_face(&landmarks, CHIP_SIZE, CHIP_PADDING);
            faces.push(FaceIdentity {
                rect: *rect,
                landmarks: landmarks.to_vec(),
                embedding: vec![],
                chip_key: None,
                chip: extract_chip(img, &details),
            });
        }
        let chips: Vec<RgbImage> = faces.iter().map(|f| f.chip.clone()).collect();
        for (face, e) in faces.iter_mut().zip(self.encoder.embed(&chips)?) {
            face.embedding = e.to_vec();
        }
        debug_assert!(faces.iter().all(|f| f.embedding.len() == EMBEDDING_DIM));
        Ok(faces)
    }
}
