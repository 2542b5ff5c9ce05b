//! Native-size sampling, measured: the diffusion engine samples at the model's
//! native size and upscales to the delivery size; the alternative is sampling at
//! twice that (for SD 1.5: 1024 px against 512 px, the delivery size). Per
//! candidate CPU time of both, interleaved in one run, on a model folder (the
//! parity suite's tiny random-weight model by default, where "twice native" is
//! 64 px against 32 px); then the identity distance (dlib embedder, the judge's
//! measure) of the outputs at both sizes, and of the photo itself sent through
//! SD 1.5's sampling size and back up to 1024 px, which bounds what the detour
//! through 512 px can cost a perfect sampler.
//!
//! `cargo bench -p likeness-render --bench diffusion_size -- [--runs N] [--model DIR] [--out DIR]`

use image::{RgbImage, imageops};
use likeness_core::{Catalogue, Rect, StyleId, SubjectKind};
use likeness_identity::FaceModels;
use likeness_render::diffusion::{
    DiffusionEngine, DiffusionSettings, delivery_size, sampling_size,
};
use likeness_render::{Engine, FaceHint, IdentityHints, RenderRequest};
use likeness_vision::faces::detect_faces;
use std::path::PathBuf;
use std::time::Instant;

const PHOTOS: &[&str] = &["obama.jpg", "obama3.jpg", "biden.jpg"];
const VARIATIONS: u32 = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn largest_face(image: &RgbImage) -> Option<Rect> {
    detect_faces(image)
        .into_iter()
        .map(|f| f.rect)
        .max_by(|a, b| (a.width * a.height).total_cmp(&(b.width * b.height)))
}

/// Distance of the largest detected face in `image` to `reference`, or None when
/// no face is found.
fn identity(models: &FaceModels, image: &RgbImage, reference: &[f32]) -> Option<f32> {
    let face = largest_face(image)?;
    let found = models.describe(image, &[face]).ok()?.pop()?;
    Some(likeness_identity::face::distance(
        &found.embedding,
        reference,
    ))
}

/// The engine's request sampled at twice its sampling size, delivered as the
/// engine delivers: the former behaviour, for SD 1.5 at a 1024 px delivery.
fn render_at_twice(engine: &DiffusionEngine, request: &RenderRequest) -> Vec<RgbImage> {
    let mut img2img = engine.img2img_request(request);
    let (sw, sh) = img2img.image.dimensions();
    let (w, h) = request.reference.dimensions();
    let m = engine.model().native_size().1 as u32;
    let (tw, th) = (sw * 2 / m * m, sh * 2 / m * m);
    img2img.image = imageops::resize(&request.reference, tw, th, imageops::FilterType::Lanczos3);
    img2img.subject_box = img2img.subject_box.map(|mut b| {
        let (fx, fy) = (tw as f32 / sw as f32, th as f32 / sh as f32);
        b.x = (b.x as f32 * fx) as u32;
        b.y = (b.y as f32 * fy) as u32;
        b.width = ((b.width as f32 * fx) as u32).min(tw - b.x);
        b.height = ((b.height as f32 * fy) as u32).min(th - b.y);
        b
    });
    let (dw, dh) = delivery_size((w, h), request.long_side);
    engine
        .model()
        .img2img(&img2img)
        .expect("img2img at twice the native size")
        .into_iter()
        .map(|i| imageops::resize(&i, dw, dh, imageops::FilterType::Lanczos3))
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut runs = 5usize;
    let mut model = repo("functions/render/diffusion/tests/reference/diffusion/model");
    let mut out = repo("target/diffusion-size");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--model" => model = args.next().expect("--model DIR").into(),
            "--out" => out = args.next().expect("--out DIR").into(),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    std::fs::create_dir_all(&out).expect("output folder");
    let models = FaceModels::load().unwrap_or_else(|e| {
        panic!(
            "identity models unavailable ({e}): run `{}`",
            likeness_identity::models::FETCH_COMMAND
        )
    });
    let engine = DiffusionEngine::load(&model, DiffusionSettings::default()).expect("model");
    let (native, multiple) = engine.model().native_size();
    println!(
        "model {} (native {native} px, tile {multiple}), {} steps, {VARIATIONS} candidates per render, {runs} runs",
        model.display(),
        DiffusionSettings::default().steps
    );
    let style = Catalogue::builtin()
        .get(&StyleId::new("watercolor"))
        .cloned()
        .expect("watercolor");

    let mut native_ms = Vec::new();
    let mut twice_ms = Vec::new();
    let mut rows = Vec::new();
    for name in PHOTOS {
        let photo = image::open(repo(&format!("tests/fixtures/photos/{name}")))
            .expect("fixture photo")
            .to_rgb8();
        let face = largest_face(&photo).expect("a face in the fixture");
        let reference = models
            .describe(&photo, &[face])
            .expect("describe")
            .remove(0)
            .embedding;
        let mut request = RenderRequest::new(photo.clone(), style.clone(), 7);
        request.identity = IdentityHints {
            faces: vec![FaceHint {
                rect: face,
                landmarks: None,
            }],
            subject: None,
        };
        request.variations = VARIATIONS;
        request.subject = Some(SubjectKind::Person);
        let sampled = engine.img2img_request(&request).image.dimensions();

        let mut outputs = (Vec::new(), Vec::new());
        for run in 0..runs {
            let t = Instant::now();
            let a = engine.render(&request).expect("native render");
            native_ms.push(t.elapsed().as_secs_f64() * 1e3 / VARIATIONS as f64);
            let t = Instant::now();
            let b = render_at_twice(&engine, &request);
            twice_ms.push(t.elapsed().as_secs_f64() * 1e3 / VARIATIONS as f64);
            if run == 0 {
                outputs = (a.into_iter().map(|c| c.image).collect(), b);
            }
        }
        let describe = |images: &[RgbImage]| {
            images
                .iter()
                .map(|i| match identity(&models, i, &reference) {
                    Some(d) => format!("{d:.3}"),
                    None => "no face".into(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        // The photo alone through SD 1.5's sampling size and back up (a perfect
        // sampler at 512 px), against the photo resized straight to 1024 px.
        let delivery = delivery_size(photo.dimensions(), 1024);
        let sd15 = sampling_size(photo.dimensions(), delivery, 512, 64);
        let direct = imageops::resize(
            &photo,
            delivery.0,
            delivery.1,
            imageops::FilterType::Lanczos3,
        );
        let small = imageops::resize(&photo, sd15.0, sd15.1, imageops::FilterType::Lanczos3);
        let detour = imageops::resize(
            &small,
            delivery.0,
            delivery.1,
            imageops::FilterType::Lanczos3,
        );
        let d_direct = identity(&models, &direct, &reference);
        let d_detour = identity(&models, &detour, &reference);
        detour
            .save(out.join(format!("{name}-via-{}x{}.png", sd15.0, sd15.1)))
            .expect("save");
        for (k, image) in outputs.0.iter().enumerate() {
            image
                .save(out.join(format!("{name}-tiny-native-{k}.png")))
                .expect("save");
        }
        for (k, image) in outputs.1.iter().enumerate() {
            image
                .save(out.join(format!("{name}-tiny-twice-{k}.png")))
                .expect("save");
        }
        rows.push(format!(
            "{name}: tiny model sampled {}x{} (native) / {}x{} (twice): identity {} / {}\n  \
             photo at 1024 px {:?}; via SD 1.5's {}x{} and back {:?}",
            sampled.0,
            sampled.1,
            sampled.0 * 2 / multiple as u32 * multiple as u32,
            sampled.1 * 2 / multiple as u32 * multiple as u32,
            describe(&outputs.0),
            describe(&outputs.1),
            d_direct,
            sd15.0,
            sd15.1,
            d_detour,
        ));
    }
    let (n, t) = (median(native_ms), median(twice_ms));
    println!(
        "CPU time per candidate (median over {} renders): native {n:.1} ms, twice native {t:.1} ms, ratio {:.2}",
        runs * PHOTOS.len(),
        t / n
    );
    for row in rows {
        println!("{row}");
    }
    println!("images in {}", out.display());
}
