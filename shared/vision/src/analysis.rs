//! The quality gate: decode, measure, find subjects, decide.

use crate::config::AnalysisConfig;
use crate::decode::{DecodeError, Format, decode};
use crate::faces::{FaceBox, detect_cut_faces_gray, detect_faces_gray};
use crate::metrics::{
    detail_crop, directional_energy_ratio, exposure, face_shadow_asymmetry, laplacian_variance,
    noise_sigma,
};
use crate::resize::shrink_gray_to_fit;
use crate::saliency::salient_box;
use image::{GrayImage, RgbImage, imageops};
pub use likeness_core::analysis::{
    AnalysisRecord, Framing, Metrics, Reason, Severity, Subjects, Verdict,
};
use likeness_core::{Rect, RejectionCode, RejectionReason, SubjectKind};
use serde::Serialize;

/// Long side of the grayscale copy exposure and saliency are measured on.
const OVERVIEW_LONG_SIDE: u32 = 512;

#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
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
    /// Upright 8-bit sRGB copy without metadata, long side at most the working size.
    #[serde(skip)]
    pub normalized: RgbImage,
}

impl Analysis {
    /// What is recorded with the preview: everything but the image.
    pub fn record(&self) -> AnalysisRecord {
        AnalysisRecord {
            verdict: self.verdict,
            reasons: self.reasons.clone(),
            subject: self.subject,
            format: self.format,
            exif_orientation: self.exif_orientation,
            metrics: self.metrics.clone(),
            subjects: self.subjects.clone(),
            framing: self.framing,
            normalized_width: self.normalized_width,
            normalized_height: self.normalized_height,
        }
    }
}

/// Why no analysis could be made: the file itself is unusable.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct AnalyzeError(#[from] pub DecodeError);

impl AnalyzeError {
    pub fn reason(&self) -> RejectionReason {
        self.0.reason()
    }
    pub fn code(&self) -> RejectionCode {
        self.0.code()
    }
}

/// Analyse an upload declared to show `subject`.
pub fn analyze(
    bytes: &[u8],
    subject: SubjectKind,
    config: &AnalysisConfig,
) -> Result<Analysis, AnalyzeError> {
    let decoded = decode(bytes, &config.decode)?;
    let image = decoded.image;
    let (nw, nh) = image.dimensions();
    // Original pixels per normalized pixel, to judge detail in the original.
    let to_original = decoded.width as f32 / nw as f32;
    let gray = imageops::grayscale(&image);
    let overview = shrink_gray_to_fit(gray.clone(), OVERVIEW_LONG_SIDE);
    let exposure = exposure(&overview);
    let noise = noise_sigma(&gray);
    let mut reasons = Vec::new();

    let mut faces = detect_faces_gray(&gray);
    if subject != SubjectKind::Pet {
        see_past_the_edge(&gray, &mut faces, config.head_margin);
    }
    let face_count = significant_faces(&faces, config.secondary_face_share);
    let (subject_box, framing) = match subject {
        SubjectKind::Person | SubjectKind::Couple => {
            let wanted = if subject == SubjectKind::Person { 1 } else { 2 };
            if face_count == 0 {
                reasons.push(Reason::new(RejectionCode::NoFace, Severity::Reject));
            } else if face_count > wanted {
                reasons.push(Reason::new(RejectionCode::TooManyFaces, Severity::Reject));
            } else if face_count < wanted {
                reasons.push(Reason::new(RejectionCode::TooFewFaces, Severity::Reject));
            }
            let people = &faces[..face_count.min(wanted)];
            let union = people.iter().map(|f| f.rect).reduce(union);
            (union, people.first().map(|f| person_framing(f.rect, nh)))
        }
        SubjectKind::Pet => pet_subject(&overview, nw, nh, config, &mut reasons),
    };

    // Sharpness is judged where the subject is: a soft background is a choice, not a defect.
    let region = subject_box
        .map(|b| match subject {
            SubjectKind::Pet => at_least_quarter_frame(b, nw, nh),
            _ => b,
        })
        .unwrap_or(Rect::new(0.0, 0.0, nw as f32, nh as f32));
    let detail = detail_crop(&gray, region);
    let sharpness = laplacian_variance(&detail);
    let motion_blur = directional_energy_ratio(&detail);

    let dominant = if subject == SubjectKind::Pet {
        None
    } else {
        faces.first()
    };
    let face_size = dominant.map(|f| f.rect.height / nh as f32);
    let face_pixels = dominant.map(|f| f.rect.height * to_original);
    let face_cut = dominant.map(|f| head_outside(f.rect, nw, nh, config.head_margin));
    let face_shadow = dominant.map(|f| face_shadow_asymmetry(&gray, f.rect));

    let metrics = Metrics {
        width: decoded.width,
        height: decoded.height,
        resolution: decoded.width.min(decoded.height),
        sharpness,
        motion_blur,
        exposure,
        noise,
        face_size,
        face_pixels,
        face_cut,
        face_shadow,
    };
    quality_reasons(&metrics, config, &mut reasons);
    reasons.sort_by_key(|r| r.severity != Severity::Reject);

    let verdict = if reasons.iter().any(|r| r.severity == Severity::Reject) {
        Verdict::Reject
    } else if reasons.is_empty() {
        Verdict::Accept
    } else {
        Verdict::AcceptWithWarnings
    };
    tracing::debug!(?verdict, reasons = reasons.len(), "photo analysed");
    Ok(Analysis {
        verdict,
        reasons,
        subject,
        format: decoded.format,
        exif_orientation: decoded.exif_orientation,
        metrics,
        subjects: Subjects {
            faces,
            face_count,
            subject_box,
        },
        framing,
        normalized_width: nw,
        normalized_height: nh,
        normalized: image,
    })
}

/// Grow a box about its centre to cover at least a quarter of the frame's
/// area, so sharpness is measured over enough texture to be stable.
fn at_least_quarter_frame(b: Rect, w: u32, h: u32) -> Rect {
    let (w, h) = (w as f32, h as f32);
    let bw = b.width.max(w / 2.0).min(w);
    let bh = b.height.max(h / 2.0).min(h);
    let c = b.center();
    let x = (c.x - bw / 2.0).clamp(0.0, w - bw);
    let y = (c.y - bh / 2.0).clamp(0.0, h - bh);
    Rect::new(x, y, bw, bh)
}

/// A face cut by the frame edge is either missed by the frontal detector or
/// boxed as if it ended at the edge. When there is no face, or the dominant
/// head reaches the edge, the mirrored search finds where the face really
/// extends, so the customer hears "face cut off" rather than "no face".
fn see_past_the_edge(gray: &GrayImage, faces: &mut Vec<FaceBox>, margin: f32) {
    let (w, h) = gray.dimensions();
    let at_edge = faces
        .first()
        .is_some_and(|f| head_outside(f.rect, w, h, margin) > 0.0);
    if !faces.is_empty() && !at_edge {
        return;
    }
    let cut = detect_cut_faces_gray(gray);
    match faces.first_mut() {
        None => *faces = cut,
        Some(dominant) => {
            if let Some(extended) = cut.iter().find(|c| overlap(c.rect, dominant.rect) > 0.3) {
                *dominant = *extended;
            }
        }
    }
}

/// Intersection over union.
fn overlap(a: Rect, b: Rect) -> f32 {
    let iw = (a.right().min(b.right()) - a.x.max(b.x)).max(0.0);
    let ih = (a.bottom().min(b.bottom()) - a.y.max(b.y)).max(0.0);
    let inter = iw * ih;
    let total = a.area() + b.area() - inter;
    if total > 0.0 { inter / total } else { 0.0 }
}

fn significant_faces(faces: &[FaceBox], share: f32) -> usize {
    match faces.first() {
        None => 0,
        Some(big) => faces
            .iter()
            .filter(|f| f.rect.area() >= big.rect.area() * share)
            .count(),
    }
}

fn union(a: Rect, b: Rect) -> Rect {
    let x = a.x.min(b.x);
    let y = a.y.min(b.y);
    Rect::new(
        x,
        y,
        a.right().max(b.right()) - x,
        a.bottom().max(b.bottom()) - y,
    )
}

/// Framing from how much of the body fits below the face: SeetaFace boxes
/// span brows to chin, about 0.8 of a head, and an adult is about 7.5 heads
/// tall, with the waist near 3 heads below the chin: from about 4 box heights
/// the hips and thighs are in view, which reads as a full-length portrait.
fn person_framing(face: Rect, frame_height: u32) -> Framing {
    let below = (frame_height as f32 - face.bottom()).max(0.0) / face.height.max(1.0);
    if below < 1.5 {
        Framing::CloseUp
    } else if below < 4.2 {
        Framing::HalfBody
    } else {
        Framing::FullBody
    }
}

/// Share of the head (face box grown by `margin` on each side) outside the frame,
/// the worst of the four sides relative to the head's size.
fn head_outside(face: Rect, w: u32, h: u32, margin: f32) -> f32 {
    let hx = face.width * margin;
    let hy = face.height * margin;
    let head = Rect::new(
        face.x - hx,
        face.y - hy,
        face.width + 2.0 * hx,
        face.height + 2.0 * hy,
    );
    let left = (-head.x).max(0.0) / head.width;
    let right = (head.right() - w as f32).max(0.0) / head.width;
    let top = (-head.y).max(0.0) / head.height;
    let bottom = (head.bottom() - h as f32).max(0.0) / head.height;
    left.max(right).max(top).max(bottom)
}

fn pet_subject(
    overview: &GrayImage,
    nw: u32,
    nh: u32,
    config: &AnalysisConfig,
    reasons: &mut Vec<Reason>,
) -> (Option<Rect>, Option<Framing>) {
    let scale = nw as f32 / overview.width() as f32;
    let found = salient_box(overview)
        .map(|(b, _)| Rect::new(b.x * scale, b.y * scale, b.width * scale, b.height * scale));
    let share = found.map_or(0.0, |b| b.area() / (nw as f32 * nh as f32));
    if share < config.min_subject_area {
        reasons.push(Reason::new(RejectionCode::NoSubject, Severity::Reject));
        return (found, None);
    }
    // The most salient part of an animal is its head (eyes, nose), so the
    // salient box is framed like a face box.
    (found, found.map(|b| person_framing(b, nh)))
}

fn quality_reasons(m: &Metrics, c: &AnalysisConfig, reasons: &mut Vec<Reason>) {
    use RejectionCode as R;
    use Severity::{Reject, Warning};
    if m.resolution < c.min_short_side {
        reasons.push(Reason::new(R::LowResolution, Reject));
    }
    let smeared = m.motion_blur > c.motion_ratio_above && m.sharpness < c.motion_sharpness_below;
    if smeared {
        reasons.push(Reason::new(R::MotionBlur, Reject));
    } else if m.sharpness < c.blurry_below {
        reasons.push(Reason::new(R::Blurry, Reject));
    } else if m.sharpness < c.soft_below {
        reasons.push(Reason::new(R::Blurry, Warning));
    }
    let e = &m.exposure;
    if e.mean_luminance < c.too_dark_below {
        reasons.push(Reason::new(R::TooDark, Reject));
    }
    if e.mean_luminance > c.overexposed_above || e.clipped_highlights > c.clipped_highlights_above {
        reasons.push(Reason::new(R::Overexposed, Reject));
    }
    if e.contrast < c.low_contrast_below {
        reasons.push(Reason::new(R::LowContrast, Warning));
    }
    if m.noise > c.noisy_above {
        reasons.push(Reason::new(R::Noisy, Warning));
    }
    if let Some(cut) = m.face_cut
        && cut > c.face_cut_tolerance
    {
        reasons.push(Reason::new(R::FaceCutOff, Reject));
    }
    if let Some(px) = m.face_pixels
        && px < c.min_face_pixels
    {
        reasons.push(Reason::new(R::FaceTooSmall, Reject));
    } else if let Some(share) = m.face_size
        && share < c.small_face_share
    {
        reasons.push(Reason::new(R::FaceTooSmall, Warning));
    }
    if let Some(shadow) = m.face_shadow
        && shadow > c.shadow_asymmetry_above
    {
        reasons.push(Reason::new(R::ShadowOnFace, Warning));
    }
}
