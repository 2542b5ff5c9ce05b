//! Shared by the integration tests: the models (loaded once), the golden
//! reference from dlib, and the fixture photos.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use image::RgbImage;
use likeness_core::Rect;
use likeness_identity::FaceModels;
use serde::Deserialize;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The models, found the way production finds them. A missing model fails
/// the test with the command that fixes it, never a skip.
pub fn models() -> &'static FaceModels {
    static MODELS: OnceLock<FaceModels> = OnceLock::new();
    MODELS.get_or_init(|| match FaceModels::load() {
        Ok(m) => m,
        Err(e) => panic!("identity models unavailable: {e}"),
    })
}

pub fn photo(name: &str) -> RgbImage {
    let path = repo_root().join("tests/fixtures/photos").join(name);
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

#[derive(Deserialize)]
pub struct Golden {
    pub photos: Vec<GoldenPhoto>,
}

#[derive(Deserialize)]
pub struct GoldenPhoto {
    pub file: String,
    pub width: u32,
    pub height: u32,
    pub faces: Vec<GoldenFace>,
}

#[derive(Deserialize)]
pub struct GoldenFace {
    pub rect: Rect,
    pub landmarks: Vec<[f32; 2]>,
    pub descriptor: Vec<f32>,
}

pub fn golden() -> &'static Golden {
    static GOLDEN: OnceLock<Golden> = OnceLock::new();
    GOLDEN.get_or_init(|| {
        let path = repo_root().join("tests/golden/golden.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).expect("golden.json parses")
    })
}

pub fn golden_photo(name: &str) -> &'static GoldenPhoto {
    golden()
        .photos
        .iter()
        .find(|p| p.file == name)
        .unwrap_or_else(|| panic!("{name} is not in golden.json"))
}

/// The largest face box dlib found in the photo.
pub fn dominant_box(name: &str) -> Rect {
    golden_photo(name)
        .faces
        .iter()
        .map(|f| f.rect)
        .max_by(|a, b| a.area().total_cmp(&b.area()))
        .unwrap_or_else(|| panic!("no face in {name}"))
}
