//! Scoring one candidate against the reference: likeness, colour, composition,
//! style and artifacts, each a score in [0, 1] with the raw measurement kept.

use crate::blotches::{BlotchPhoto, dark_blotches_against};
use crate::colour::{Swatch, palette, palette_distance_weighted};
use crate::config::StyleQa;
use crate::face::{FaceDescription, FaceModel, FaceModelError, embedding_distance, landmark_error};
use crate::metrics::{black_tile_fraction, clipped_fraction, edge_ssim, luma_std, phash};
use image::{RgbImage, imageops};
use likeness_core::{Rect, SubjectKind};
use likeness_vision::faces::{FaceBox, detect_faces, detect_faces_gray};
use likeness_vision::resize::shrink_gray_to_fit;
use likeness_vision::saliency::salient_box;
use likeness_vision::signature::PhotoMeasures;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use likeness_core::qa::{Artifact, ArtifactCode, Scores};

/// How likeness was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LikenessMethod {
    /// Identity-embedding distance of the matched faces (people).
    Identity,
    /// Gradient SSIM of the subject region plus palette (pets; people without a model
    /// or whose drawn face the detector does not see).
    Structure,
}

/// The raw measurements behind the scores, kept for the record and calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurements {
    pub likeness_method: LikenessMethod,
    pub faces_expected: Option<usize>,
    pub faces_found: usize,
    /// People: Euclidean distance between the reference and the matched face
    /// embeddings (the worst match for a couple).
    pub identity_distance: Option<f32>,
    /// Landmark geometry error of the worst matched face (share of the eye distance).
    pub landmark_error: Option<f32>,
    /// Pets: gradient SSIM of the subject region at 48 px, best over small shifts.
    pub structure_ssim: Option<f32>,
    /// CIEDE2000 palette distance of the subject regions.
    pub palette_delta_e: Option<f32>,
    /// Subject (face for people) box in the candidate, in its pixels.
    pub subject_box: Option<Rect>,
    pub head_height: Option<f32>,
    pub head_x: Option<f32>,
    pub head_y: Option<f32>,
    /// Share of the subject box inside the frame.
    pub subject_visible: Option<f32>,
    /// likeness-render's signature measures of the render against the photo.
    pub style_measures: BTreeMap<String, f32>,
    /// Signature bounds the render misses, readable (`saturation 0.31 > 0.06`).
    pub style_misses: Vec<String>,
    pub luma_std: f32,
    pub black_tiles: f32,
    pub clipped: f32,
    /// Share of the frame covered by dark blotches the photo does not have
    /// (records written before this check read 0).
    #[serde(default)]
    pub dark_blotches: f32,
    /// 64-bit DCT hash as 16 hex digits (JSON numbers lose precision past 2^53).
    pub phash: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateReport {
    pub scores: Scores,
    pub measurements: Measurements,
    pub artifacts: Vec<Artifact>,
    /// Criteria below their threshold (`likeness`, `colour`, `composition`, `style`).
    pub below: Vec<String>,
    /// Ranking score: weighted mean of the four criteria, zero with any artifact.
    pub overall: f32,
    pub passed: bool,
}

impl CandidateReport {
    pub fn phash(&self) -> Option<u64> {
        u64::from_str_radix(&self.measurements.phash, 16).ok()
    }

    /// Weighted mean of the four criteria, ignoring artifacts: likeness counts
    /// double because it is what the customer pays for.
    pub fn quality(&self) -> f32 {
        let s = self.scores;
        0.4 * s.likeness + 0.2 * s.colour + 0.2 * s.composition + 0.2 * s.style
    }

    /// Recompute `passed` and `overall` after artifacts were added (near duplicates).
    pub fn refresh(&mut self) {
        self.scores.artifacts = if self.artifacts.is_empty() { 1.0 } else { 0.0 };
        self.overall = self.quality() * self.scores.artifacts;
        self.passed = self.below.is_empty() && self.artifacts.is_empty();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error(transparent)]
    Model(#[from] FaceModelError),
    #[error("the reference has no face, so a {0} portrait cannot be judged for likeness")]
    NoReferenceFace(SubjectKind),
    #[error("the image is empty ({0}x{1})")]
    Empty(u32, u32),
}

#[derive(Clone, Debug)]
pub struct ReferenceFace {
    pub rect: Rect,
    /// `None` when no identity model was loaded.
    pub embedding: Option<Vec<f32>>,
}

/// What the candidate is judged against, computed once per preview.
#[derive(Clone, Debug)]
pub struct Reference {
    pub subject: SubjectKind,
    pub width: u32,
    pub height: u32,
    /// People: the dominant faces, as many as the order has people.
    pub faces: Vec<ReferenceFace>,
    /// The subject region: head and shoulders for people, the pet's box for pets.
    pub subject_box: Rect,
    pub palette: Vec<Swatch>,
    pub palette_grey: Vec<Swatch>,
    /// The subject region cropped from the reference, for structure comparison.
    pub crop: RgbImage,
    /// The photo itself (long side at most 1024), for the style signature.
    pub image: RgbImage,
    /// The photo's side of the dark-blotch check (`None` for an empty photo).
    pub blotch_photo: Option<BlotchPhoto>,
}

const PALETTE_SIZE: usize = 5;
const STRUCTURE_SIDE: u32 = 48;

/// Head and shoulders around a face box: where skin, hair and clothes colour live.
fn head_region(face: &Rect, width: u32, height: u32) -> Rect {
    Rect::new(
        face.x - 0.5 * face.width,
        face.y - 0.6 * face.height,
        face.width * 2.0,
        face.height * 2.4,
    )
    .clamped(width as f32, height as f32)
}

/// The region a pet is judged on: saliency tends to lock onto an eye or the
/// nose, so the box is doubled around its centre and made at least 60% of the
/// frame each way; the whole animal then carries the structure, not one eye.
fn pet_region(b: &Rect, width: u32, height: u32) -> Rect {
    let (w, h) = (width as f32, height as f32);
    let bw = (b.width * 2.0).max(0.6 * w).min(w);
    let bh = (b.height * 2.0).max(0.6 * h).min(h);
    let c = b.center();
    let x = (c.x - bw / 2.0).clamp(0.0, w - bw);
    let y = (c.y - bh / 2.0).clamp(0.0, h - bh);
    Rect::new(x, y, bw, bh)
}

fn crop(image: &RgbImage, r: &Rect) -> RgbImage {
    let r = r.clamped(image.width() as f32, image.height() as f32);
    let (x, y) = (r.x.floor() as u32, r.y.floor() as u32);
    let w = (r.width.round() as u32).clamp(1, image.width() - x.min(image.width() - 1));
    let h = (r.height.round() as u32).clamp(1, image.height() - y.min(image.height() - 1));
    imageops::crop_imm(
        image,
        x.min(image.width() - 1),
        y.min(image.height() - 1),
        w,
        h,
    )
    .to_image()
}

fn grey(image: &RgbImage) -> RgbImage {
    let g = imageops::grayscale(image);
    RgbImage::from_fn(g.width(), g.height(), |x, y| {
        let v = g.get_pixel(x, y)[0];
        image::Rgb([v, v, v])
    })
}

/// Lower is better: 1 at zero, 0.5 at the tolerance, towards 0 beyond.
pub fn ratio_score(x: f32, tolerance: f32) -> f32 {
    1.0 / (1.0 + (x / tolerance.max(f32::EPSILON)).powi(2))
}

/// Higher is better: 1 at `best`, 0.5 at `threshold`, linear, clamped.
pub fn floor_score(x: f32, threshold: f32, best: f32) -> f32 {
    (0.5 + 0.5 * (x - threshold) / (best - threshold).max(f32::EPSILON)).clamp(0.0, 1.0)
}

impl Reference {
    /// `subject_box` is the analysed subject for pets (the saliency box); for
    /// people it is ignored and the faces decide.
    pub fn build(
        image: &RgbImage,
        subject: SubjectKind,
        subject_box: Option<Rect>,
        model: Option<&dyn FaceModel>,
    ) -> Result<Reference, JudgeError> {
        Self::build_with_faces(image, subject, subject_box, &[], model)
    }

    /// As [`Reference::build`], with the face boxes analysis found on this
    /// reference (`hints.json`, largest first): when there are as many as the
    /// order has people, the judge uses them instead of detecting again.
    pub fn build_with_faces(
        image: &RgbImage,
        subject: SubjectKind,
        subject_box: Option<Rect>,
        known_faces: &[Rect],
        model: Option<&dyn FaceModel>,
    ) -> Result<Reference, JudgeError> {
        let (width, height) = image.dimensions();
        if width == 0 || height == 0 {
            return Err(JudgeError::Empty(width, height));
        }
        let whole = Rect::new(0.0, 0.0, width as f32, height as f32);
        let mut faces = Vec::new();
        let region = match subject.expected_faces() {
            Some(n) => {
                let rects: Vec<Rect> = if known_faces.len() >= n {
                    known_faces[..n].to_vec()
                } else {
                    detect_faces(image).iter().take(n).map(|f| f.rect).collect()
                };
                if rects.len() < n {
                    return Err(JudgeError::NoReferenceFace(subject));
                }
                let embeddings = match model {
                    Some(model) => {
                        let items: Vec<(&RgbImage, Rect)> =
                            rects.iter().map(|r| (image, *r)).collect();
                        model
                            .describe_batch(&items)?
                            .into_iter()
                            .map(|d| Some(d.embedding))
                            .collect()
                    }
                    None => vec![None; n],
                };
                for (rect, embedding) in rects.into_iter().zip(embeddings) {
                    faces.push(ReferenceFace { rect, embedding });
                }
                let mut region = head_region(&faces[0].rect, width, height);
                for f in &faces[1..] {
                    let r = head_region(&f.rect, width, height);
                    let (x0, y0) = (region.x.min(r.x), region.y.min(r.y));
                    let (x1, y1) = (
                        region.right().max(r.right()),
                        region.bottom().max(r.bottom()),
                    );
                    region = Rect::new(x0, y0, x1 - x0, y1 - y0);
                }
                region
            }
            None => subject_box
                .or_else(|| salient_box(&imageops::grayscale(image)).map(|(r, _)| r))
                .map(|b| pet_region(&b, width, height))
                .unwrap_or(whole)
                .clamped(width as f32, height as f32),
        };
        let crop = crop(image, &region);
        let photo = crate::metrics::fit_within(image, 1024);
        Ok(Reference {
            subject,
            width,
            height,
            faces,
            subject_box: region,
            palette: palette(&crop, PALETTE_SIZE),
            palette_grey: palette(&grey(&crop), PALETTE_SIZE),
            // Structure is compared at 48 px; keep a small copy, not the full crop.
            crop: crate::metrics::fit_within(&crop, 160),
            blotch_photo: BlotchPhoto::new(&photo),
            image: photo,
        })
    }

    /// The reference subject box in a candidate of another size (renders keep the framing).
    fn mapped_box(&self, width: u32, height: u32) -> Rect {
        let (sx, sy) = (
            width as f32 / self.width as f32,
            height as f32 / self.height as f32,
        );
        let b = self.subject_box;
        Rect::new(b.x * sx, b.y * sy, b.width * sx, b.height * sy)
    }

    /// Where the reference's faces can be in a candidate of this size: their
    /// boxes scaled to it (renders keep the photo's framing) and padded by
    /// [`FACE_SEARCH_PAD`] face sizes each side, clamped to the frame.
    fn face_search_region(&self, width: u32, height: u32) -> Option<Rect> {
        let (sx, sy) = (
            width as f32 / self.width as f32,
            height as f32 / self.height as f32,
        );
        let mut region: Option<(f32, f32, f32, f32)> = None;
        for f in &self.faces {
            let r = f.rect;
            let pad = FACE_SEARCH_PAD * (r.width * sx).max(r.height * sy);
            let (x0, y0) = (r.x * sx - pad, r.y * sy - pad);
            let (x1, y1) = (r.right() * sx + pad, r.bottom() * sy + pad);
            region = Some(match region {
                None => (x0, y0, x1, y1),
                Some((a, b, c, d)) => (a.min(x0), b.min(y0), c.max(x1), d.max(y1)),
            });
        }
        let (x0, y0, x1, y1) = region?;
        let r = Rect::new(x0, y0, x1 - x0, y1 - y0).clamped(width as f32, height as f32);
        (r.width >= 1.0 && r.height >= 1.0).then_some(r)
    }

    /// The faces of a candidate, largest first. With the reference's faces
    /// known, the detector looks only in [`Reference::face_search_region`],
    /// shrunk so the expected face is [`FACE_SEARCH_HEIGHT`] px tall: the
    /// cascade's cost follows the pixels it scans, and the padded region at
    /// that scale is a fraction of the frame. When it finds fewer faces than
    /// the order has people there (a render that moved or lost the face), the
    /// whole frame is searched as before, so a missing face is confirmed and
    /// a moved one still judged.
    fn find_faces(&self, candidate: &RgbImage, expected: usize) -> Vec<FaceBox> {
        let (width, height) = candidate.dimensions();
        if let Some(region) = self.face_search_region(width, height) {
            let found = detect_in_region(candidate, &region, self.face_scale(width, height));
            if found.len() >= expected {
                return found;
            }
        }
        detect_faces(candidate)
    }

    /// Shrink factor that makes the smallest reference face, mapped onto a
    /// candidate of this size, [`FACE_SEARCH_HEIGHT`] px tall (never enlarges).
    fn face_scale(&self, width: u32, height: u32) -> f32 {
        let sy = height as f32 / self.height as f32;
        let sx = width as f32 / self.width as f32;
        let smallest = self
            .faces
            .iter()
            .map(|f| (f.rect.height * sy).min(f.rect.width * sx))
            .fold(f32::INFINITY, f32::min);
        (FACE_SEARCH_HEIGHT / smallest.max(1.0)).min(1.0)
    }
}

/// Padding of the face search region, in face sizes on each side: renders
/// keep the framing, so a face moves far less than this; diffusion's head
/// drift measured in `docs/QA.md` stays well inside it.
const FACE_SEARCH_PAD: f32 = 0.75;
/// Face height the detector sees in the search region: 2.5 times the
/// cascade's 40 px window, where it still finds every fixture face.
const FACE_SEARCH_HEIGHT: f32 = 100.0;

/// Faces in `region` of `image`, detected on a copy shrunk by `scale`; boxes
/// in `image`'s coordinates, largest first.
fn detect_in_region(image: &RgbImage, region: &Rect, scale: f32) -> Vec<FaceBox> {
    let sub = imageops::grayscale(&crop(image, region));
    let (x0, y0) = (region.x.floor(), region.y.floor());
    let long = sub.width().max(sub.height());
    let target = ((long as f32 * scale).round() as u32).max(1);
    let small = if target < long {
        shrink_gray_to_fit(sub.clone(), target)
    } else {
        sub.clone()
    };
    let k = sub.width() as f32 / small.width() as f32;
    detect_faces_gray(&small)
        .into_iter()
        .map(|f| FaceBox {
            rect: Rect::new(
                x0 + f.rect.x * k,
                y0 + f.rect.y * k,
                f.rect.width * k,
                f.rect.height * k,
            ),
            score: f.score,
        })
        .collect()
}

/// Score one candidate. Pure apart from the identity model; near duplicates are
/// a property of a set of candidates and are marked by [`crate::decide`].
pub fn judge_candidate(
    reference: &Reference,
    candidate: &RgbImage,
    qa: &StyleQa,
    model: Option<&dyn FaceModel>,
) -> Result<CandidateReport, JudgeError> {
    let mut reports = judge_candidates(reference, std::slice::from_ref(candidate), qa, model)?;
    reports.pop().ok_or(JudgeError::Empty(0, 0))
}

/// Score a style's candidates, each as [`judge_candidate`] would: the faces
/// of every candidate are found first, then described by the identity model
/// in one batch (the network runs once for all of them, not once a face).
pub fn judge_candidates(
    reference: &Reference,
    candidates: &[RgbImage],
    qa: &StyleQa,
    model: Option<&dyn FaceModel>,
) -> Result<Vec<CandidateReport>, JudgeError> {
    for c in candidates {
        let (width, height) = c.dimensions();
        if width == 0 || height == 0 {
            return Err(JudgeError::Empty(width, height));
        }
    }
    let found: Vec<Vec<FaceBox>> = match reference.subject.expected_faces() {
        Some(expected) => candidates
            .par_iter()
            .map(|c| reference.find_faces(c, expected))
            .collect(),
        None => vec![Vec::new(); candidates.len()],
    };
    // Identity needs the model and every reference face's embedding, and a
    // style that is judged by it.
    let identity_model = model.filter(|_| {
        !qa.likeness_by_structure && reference.faces.iter().all(|f| f.embedding.is_some())
    });
    let mut described: Vec<Vec<FaceDescription>> = vec![Vec::new(); candidates.len()];
    if let Some(model) = identity_model {
        let items: Vec<(&RgbImage, Rect)> = candidates
            .iter()
            .zip(&found)
            .flat_map(|(c, faces)| faces.iter().map(move |f| (c, f.rect)))
            .collect();
        let all = model.describe_batch(&items)?;
        if all.len() != items.len() {
            return Err(JudgeError::Model(FaceModelError(format!(
                "the identity model described {} of {} faces",
                all.len(),
                items.len()
            ))));
        }
        let mut all = all.into_iter();
        for (d, faces) in described.iter_mut().zip(&found) {
            d.extend(all.by_ref().take(faces.len()));
        }
    }
    // The photo's side of the style signature, once per candidate size (sizes
    // a few pixels apart share it).
    let mut photo_measures: Vec<PhotoMeasures> = Vec::new();
    for c in candidates {
        let (w, h) = c.dimensions();
        if !photo_measures.iter().any(|p| p.fits(w, h)) {
            photo_measures.push(PhotoMeasures::new(&reference.image, w, h));
        }
    }
    let identity = identity_model.is_some();
    // Candidates are independent from here on: score them side by side.
    candidates
        .par_iter()
        .zip(found)
        .zip(described)
        .map(|((c, found), described)| {
            let photo = photo_measures
                .iter()
                .find(|p| p.fits(c.width(), c.height()))
                .ok_or(JudgeError::Empty(c.width(), c.height()))?;
            judge_found(reference, c, qa, identity, found, described, photo)
        })
        .collect()
}

/// Score one candidate whose faces were found (`found`) and, with the
/// identity model, described (`described`, same order).
fn judge_found(
    reference: &Reference,
    candidate: &RgbImage,
    qa: &StyleQa,
    identity: bool,
    found: Vec<FaceBox>,
    described: Vec<FaceDescription>,
    photo: &PhotoMeasures,
) -> Result<CandidateReport, JudgeError> {
    let (width, height) = candidate.dimensions();
    let (w, h) = (width as f32, height as f32);
    let mut artifacts = Vec::new();
    let mut m = Measurements {
        likeness_method: LikenessMethod::Structure,
        faces_expected: reference.subject.expected_faces(),
        faces_found: 0,
        identity_distance: None,
        landmark_error: None,
        structure_ssim: None,
        palette_delta_e: None,
        subject_box: None,
        head_height: None,
        head_x: None,
        head_y: None,
        subject_visible: None,
        style_measures: BTreeMap::new(),
        style_misses: Vec::new(),
        luma_std: luma_std(candidate),
        black_tiles: black_tile_fraction(candidate),
        clipped: clipped_fraction(candidate),
        dark_blotches: reference
            .blotch_photo
            .as_ref()
            .map_or(0.0, |photo| dark_blotches_against(photo, candidate).area),
        phash: format!("{:016x}", phash(candidate)),
    };
    if m.luma_std < qa.blank_luma_std {
        artifacts.push(Artifact {
            code: ArtifactCode::Blank,
            measured: m.luma_std,
            limit: qa.blank_luma_std,
        });
    }
    if m.black_tiles > qa.max_black_tiles {
        artifacts.push(Artifact {
            code: ArtifactCode::BlackTiles,
            measured: m.black_tiles,
            limit: qa.max_black_tiles,
        });
    }
    if m.clipped > qa.max_clipped {
        artifacts.push(Artifact {
            code: ArtifactCode::ClippedSaturation,
            measured: m.clipped,
            limit: qa.max_clipped,
        });
    }
    if m.dark_blotches > qa.max_dark_blotches {
        artifacts.push(Artifact {
            code: ArtifactCode::DarkBlotches,
            measured: m.dark_blotches,
            limit: qa.max_dark_blotches,
        });
    }

    let (likeness, composition, region) = match m.faces_expected {
        Some(expected) => {
            m.faces_found = found.len();
            if found.len() > expected {
                artifacts.push(Artifact {
                    code: ArtifactCode::ExtraFaces,
                    measured: found.len() as f32,
                    limit: expected as f32,
                });
            } else if found.len() < expected && qa.face_must_be_detected {
                artifacts.push(Artifact {
                    code: ArtifactCode::MissingFace,
                    measured: found.len() as f32,
                    limit: expected as f32,
                });
            }
            if found.is_empty() && !qa.face_must_be_detected {
                // Line art may draw a face the detector no longer sees: judge the
                // head's structure as for a pet, and its placement from the photo.
                let (ssim, best) = register(reference, candidate);
                m.structure_ssim = Some(ssim);
                m.subject_box = Some(best);
                let visible = best.clamped(w, h).area() / best.area().max(1.0);
                m.subject_visible = Some(visible);
                let likeness = floor_score(ssim, qa.min_structure, 1.0);
                let composition = floor_score(visible, qa.min_subject_visible, 1.0);
                (likeness, composition, best.clamped(w, h))
            } else if found.is_empty() {
                (0.0, 0.0, reference.mapped_box(width, height))
            } else {
                let embeddings: Option<Vec<&Vec<f32>>> = reference
                    .faces
                    .iter()
                    .map(|f| f.embedding.as_ref())
                    .collect();
                let (likeness, matched) = match embeddings.filter(|_| identity) {
                    Some(embeddings) => {
                        m.likeness_method = LikenessMethod::Identity;
                        let described: Vec<(Rect, FaceDescription)> =
                            found.iter().map(|f| f.rect).zip(described).collect();
                        identity_likeness(&described, &embeddings, qa, &mut m, &mut artifacts)
                    }
                    _ => {
                        // Without the identity model, likeness falls back to the
                        // head's structure: weaker, and recorded as such. Styles
                        // whose drawings the network cannot tell apart are
                        // judged this way by choice (`likeness_by_structure`).
                        m.likeness_method = LikenessMethod::Structure;
                        let (ssim, _) = register(reference, candidate);
                        m.structure_ssim = Some(ssim);
                        let matched = found.iter().take(expected).map(|f| f.rect).collect();
                        (floor_score(ssim, qa.min_structure, 1.0), matched)
                    }
                };
                // Composition follows the main matched face.
                let Some(&face) = matched.first() else {
                    return Err(JudgeError::Empty(width, height));
                };
                m.subject_box = Some(face);
                let c = face.center();
                let (hh, hx, hy) = (face.height / h, c.x / w, c.y / h);
                m.head_height = Some(hh);
                m.head_x = Some(hx);
                m.head_y = Some(hy);
                let visible = face.clamped(w, h).area() / face.area().max(1.0);
                m.subject_visible = Some(visible);
                let margin = 0.01 * w.min(h);
                let inside = face.x >= margin
                    && face.y >= margin
                    && face.right() <= w - margin
                    && face.bottom() <= h - margin;
                let composition = [
                    band_score(hh, qa.head_height[0], qa.head_height[1]),
                    band_score(hx, qa.head_x[0], qa.head_x[1]),
                    band_score(hy, qa.head_y[0], qa.head_y[1]),
                    if inside { 1.0 } else { 0.25 * visible },
                ]
                .into_iter()
                .fold(1.0f32, f32::min);
                (likeness, composition, head_region(&face, width, height))
            }
        }
        None => {
            let (ssim, best) = register(reference, candidate);
            m.structure_ssim = Some(ssim);
            m.subject_box = Some(best);
            let visible = best.clamped(w, h).area() / best.area().max(1.0);
            m.subject_visible = Some(visible);
            let structure = floor_score(ssim, qa.min_structure, 1.0);
            let region = best.clamped(w, h);
            let palette_score = palette_delta_e(reference, candidate, &region, qa)
                .map_or(0.0, |d| ratio_score(d, qa.colour_tolerance));
            let composition = floor_score(visible, qa.min_subject_visible, 1.0);
            // Both must hold: a cat's colours on a coffee cup's shape is not the cat.
            (structure.min(palette_score), composition, region)
        }
    };

    let delta_e = palette_delta_e(reference, candidate, &region, qa);
    m.palette_delta_e = delta_e;
    let colour = delta_e.map_or(0.0, |d| ratio_score(d, qa.colour_tolerance));
    let (style, measures, misses) = style_check(photo, candidate, qa);
    m.style_measures = measures;
    m.style_misses = misses;

    let scores = Scores {
        likeness,
        colour,
        composition,
        style,
        artifacts: 1.0,
    };
    let below = [
        ("likeness", likeness, qa.min_likeness),
        ("colour", colour, qa.min_colour),
        ("composition", composition, qa.min_composition),
        ("style", style, qa.min_style),
    ]
    .into_iter()
    .filter(|(_, s, min)| s < min)
    .map(|(name, _, _)| name.to_owned())
    .collect();
    let mut report = CandidateReport {
        scores,
        measurements: m,
        artifacts,
        below,
        overall: 0.0,
        passed: false,
    };
    report.refresh();
    Ok(report)
}

/// CIEDE2000 distance between the reference subject's palette and that of
/// `region` in the candidate, with the style's lightness weight; on grey
/// values for monochrome media.
fn palette_delta_e(
    reference: &Reference,
    candidate: &RgbImage,
    region: &Rect,
    qa: &StyleQa,
) -> Option<f32> {
    let region_crop = crop(candidate, region);
    if qa.monochrome {
        palette_distance_weighted(
            &reference.palette_grey,
            &palette(&grey(&region_crop), PALETTE_SIZE),
            qa.colour_lightness_weight,
        )
    } else {
        palette_distance_weighted(
            &reference.palette,
            &palette(&region_crop, PALETTE_SIZE),
            qa.colour_lightness_weight,
        )
    }
}

/// Find the reference subject in the candidate: the reference box mapped to the
/// candidate, then shifts and zooms (renders may vary the crop), keeping
/// the placement with the best gradient SSIM.
fn register(reference: &Reference, candidate: &RgbImage) -> (f32, Rect) {
    // Search on a small copy: 175 placements at full size would cost more than all else.
    let small = crate::metrics::fit_within(candidate, 256);
    let back = candidate.width() as f32 / small.width() as f32;
    let candidate = &small;
    let base = reference.mapped_box(candidate.width(), candidate.height());
    let (w, h) = (candidate.width() as f32, candidate.height() as f32);
    let (rw, rh) = (
        reference.crop.width() as f32,
        reference.crop.height() as f32,
    );
    // Compare only what is inside the frame, against the matching part of the reference.
    let compare = |r: &Rect| -> Option<f32> {
        let inside = r.clamped(w, h);
        if inside.area() < 0.6 * r.area() || inside.width < 8.0 || inside.height < 8.0 {
            return None;
        }
        let part = Rect::new(
            (inside.x - r.x) / r.width * rw,
            (inside.y - r.y) / r.height * rh,
            inside.width / r.width * rw,
            inside.height / r.height * rh,
        );
        Some(edge_ssim(
            &crop(&reference.crop, &part),
            &crop(candidate, &inside),
            STRUCTURE_SIDE,
        ))
    };
    let mut best = (f32::MIN, base);
    // Engines vary the crop by seed (the classic engine zooms on the subject by
    // up to about 1.5x), so the search spans zoom as well as shift.
    const SHIFTS: [f32; 5] = [-0.16, -0.08, 0.0, 0.08, 0.16];
    for scale in [0.8f32, 0.9, 1.0, 1.15, 1.3, 1.5, 1.7] {
        for dy in SHIFTS {
            for dx in SHIFTS {
                let (bw, bh) = (base.width * scale, base.height * scale);
                let c = base.center();
                let r = Rect::new(
                    c.x - bw / 2.0 + dx * base.width,
                    c.y - bh / 2.0 + dy * base.height,
                    bw,
                    bh,
                );
                if let Some(s) = compare(&r).filter(|s| *s > best.0) {
                    best = (s, r);
                }
            }
        }
    }
    if best.0 == f32::MIN {
        let inside = base.clamped(w, h);
        best = (
            edge_ssim(&reference.crop, &crop(candidate, &inside), STRUCTURE_SIDE),
            base,
        );
    }
    (best.0, best.1.scaled(back))
}

/// 1 at the band's middle, 0.5 at its edges, falling to 0 one half-width outside.
/// Scores share this shape so that 0.5 always means "at the tolerance".
pub fn band_score(x: f32, lo: f32, hi: f32) -> f32 {
    let half = ((hi - lo) / 2.0).max(f32::EPSILON);
    let off = (x - (lo + hi) / 2.0).abs() / half;
    if off <= 1.0 {
        1.0 - 0.5 * off * off
    } else {
        (0.5 * (2.0 - off)).max(0.0)
    }
}

/// One-sided bound as a score: 0.5 exactly at the bound, rising to 1 at twice
/// (`at_least`) or half (`at_most`) of it.
fn bound_score(v: f32, bound: f32, at_least: bool) -> f32 {
    let s = match (at_least, bound > 0.0) {
        (true, true) => 0.5 * v / bound,
        (true, false) => {
            if v >= bound {
                1.0
            } else {
                0.0
            }
        }
        (false, _) if v <= 0.0 => 1.0,
        (false, _) => 0.5 * bound / v,
    };
    s.clamp(0.0, 1.0)
}

/// The style's signature (likeness-render's measures and bounds) as a score: the
/// worst bound decides, so the score clears 0.5 exactly when every bound holds.
fn style_check(
    photo: &PhotoMeasures,
    render: &RgbImage,
    qa: &StyleQa,
) -> (f32, BTreeMap<String, f32>, Vec<String>) {
    let sig = match qa.signature() {
        Ok(sig) => sig,
        // validated when the StyleQa was built; an unreadable one constrains nothing
        Err(e) => {
            return (
                1.0,
                BTreeMap::new(),
                vec![format!("signature unreadable: {e}")],
            );
        }
    };
    let m = photo.measure(render);
    let measures = BTreeMap::from([
        ("white_fraction".to_owned(), m.white_fraction),
        ("dark_fraction".to_owned(), m.dark_fraction),
        ("saturation".to_owned(), m.saturation),
        ("colours".to_owned(), m.colours as f32),
        ("detail_ratio".to_owned(), m.detail_ratio),
        ("texture".to_owned(), m.texture),
        ("flat_gain".to_owned(), m.flat_gain),
        ("edge_peak_ratio".to_owned(), m.edge_peak_ratio),
        ("orientation_peak".to_owned(), m.orientation_peak),
        ("luma_mean".to_owned(), m.luma_mean),
        ("contrast_ratio".to_owned(), m.contrast_ratio),
        ("colour_shift".to_owned(), m.colour_shift),
    ]);
    let bounds = [
        (sig.white_fraction_min, m.white_fraction, true),
        (sig.dark_fraction_min, m.dark_fraction, true),
        (sig.saturation_min, m.saturation, true),
        (sig.texture_min, m.texture, true),
        (sig.flat_gain_min, m.flat_gain, true),
        (sig.edge_peak_ratio_min, m.edge_peak_ratio, true),
        (sig.orientation_peak_min, m.orientation_peak, true),
        (sig.luma_mean_min, m.luma_mean, true),
        (sig.dark_fraction_max, m.dark_fraction, false),
        (sig.saturation_max, m.saturation, false),
        (sig.colours_max.map(|c| c as f32), m.colours as f32, false),
        (sig.detail_ratio_max, m.detail_ratio, false),
        (sig.luma_mean_max, m.luma_mean, false),
        (sig.contrast_ratio_max, m.contrast_ratio, false),
        (sig.colour_shift_max, m.colour_shift, false),
        (qa.colour_shift_max, m.colour_shift, false),
    ];
    let score = bounds
        .iter()
        .filter_map(|(bound, v, at_least)| bound.map(|b| bound_score(*v, b, *at_least)))
        .fold(1.0f32, f32::min);
    let mut misses = sig.misses(&m);
    if let Some(b) = qa.colour_shift_max.filter(|b| m.colour_shift > *b) {
        misses.push(format!("colour_shift {:.4} > {b}", m.colour_shift));
    }
    (score, measures, misses)
}

/// People with the identity model: each reference face takes its nearest
/// unclaimed candidate face; the worst match decides. Returns the likeness
/// score and the matched candidate face boxes, reference order.
fn identity_likeness(
    described: &[(Rect, FaceDescription)],
    embeddings: &[&Vec<f32>],
    qa: &StyleQa,
    m: &mut Measurements,
    artifacts: &mut Vec<Artifact>,
) -> (f32, Vec<Rect>) {
    let mut claimed = vec![false; described.len()];
    let (mut worst, mut worst_landmarks) = (0.0f32, 0.0f32);
    let mut matched = Vec::new();
    for reference in embeddings {
        let best = described
            .iter()
            .enumerate()
            .filter(|(i, _)| !claimed[*i])
            .map(|(i, (_, d))| (i, embedding_distance(reference, &d.embedding)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, dist)) = best {
            claimed[i] = true;
            worst = worst.max(dist);
            let err = landmark_error(&described[i].1.landmarks).unwrap_or(f32::INFINITY);
            worst_landmarks = worst_landmarks.max(err);
            matched.push(described[i].0);
        }
    }
    m.identity_distance = Some(worst);
    m.landmark_error = Some(worst_landmarks);
    if worst_landmarks > qa.max_landmark_error {
        artifacts.push(Artifact {
            code: ArtifactCode::MeltedFace,
            measured: worst_landmarks,
            limit: qa.max_landmark_error,
        });
    }
    let likeness = if matched.len() < embeddings.len() {
        0.0
    } else {
        ratio_score(worst, qa.identity_distance_max)
    };
    (likeness, matched)
}
