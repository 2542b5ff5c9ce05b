//! The diffusion engine on the parity suite's tiny random-weight model (written by
//! diffusers and transformers themselves, `diffusion/tests/reference/`): it
//! samples at the model's native size and delivers at the requested one, prompts
//! with the catalogue's text for the ordered subject, and reports every step.

use image::RgbImage;
use likeness_core::{Catalogue, StyleId, SubjectKind};
use likeness_render::diffusion::{
    DiffusionEngine, DiffusionSettings, StepProgress, delivery_size, sampling_size,
};
use likeness_render::{Engine, RenderRequest};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

fn tiny_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("diffusion/tests/reference/diffusion/model")
}

fn photo(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 255 / w) as u8,
            (y * 255 / h) as u8,
            ((x + y) % 256) as u8,
        ])
    })
}

fn request(style: &str) -> RenderRequest {
    let style = Catalogue::builtin()
        .get(&StyleId::new(style))
        .cloned()
        .expect("a built-in style");
    let mut request = RenderRequest::new(photo(60, 80), style, 42);
    request.variations = 2;
    request.long_side = 128;
    request.subject = Some(SubjectKind::Person);
    request
}

#[test]
fn samples_at_the_native_size_and_delivers_at_the_requested_one() {
    let steps = Arc::new(Mutex::new(Vec::<StepProgress>::new()));
    let sink = steps.clone();
    let settings = DiffusionSettings {
        steps: 6,
        ..DiffusionSettings::default()
    };
    let engine = DiffusionEngine::load(&tiny_model(), settings)
        .expect("the tiny model loads")
        .with_progress(Arc::new(move |p: &StepProgress| {
            sink.lock().unwrap().push(p.clone())
        }));
    assert_eq!(
        engine.model().native_size(),
        (32, 4),
        "sample_size 16 × VAE factor 2"
    );
    let request = request("oil");

    let sampled = engine.img2img_request(&request);
    // The short side at the native 32 px, the long side following 3:4, tile 4.
    assert_eq!(sampled.image.dimensions(), (32, 44));
    assert_eq!(
        sampled.image.dimensions(),
        sampling_size((60, 80), (96, 128), 32, 4)
    );
    // The catalogue's prompt, negative prompt and strength, the subject filled in.
    let style = &request.style;
    assert_eq!(
        sampled.prompt,
        style.prompt.replace("{subject}", "a person")
    );
    assert!(!sampled.prompt.contains('{'), "{}", sampled.prompt);
    assert_eq!(sampled.negative_prompt, style.negative_prompt);
    assert!((sampled.strength - style.strength).abs() < 1e-6);

    let candidates = engine.render(&request).expect("render");
    assert_eq!(candidates.len(), 2);
    for c in &candidates {
        assert_eq!(c.image.dimensions(), delivery_size((60, 80), 128));
        assert_eq!(c.image.dimensions(), (96, 128));
        assert_eq!(c.engine, "diffusion");
    }
    assert_ne!(
        candidates[0].image, candidates[1].image,
        "two seeds, two pictures"
    );

    let steps = steps.lock().unwrap();
    let n = (6.0 * style.strength).floor() as usize;
    assert_eq!(
        steps.iter().map(|p| (p.done, p.total)).collect::<Vec<_>>(),
        (0..=n).map(|k| (k, n)).collect::<Vec<_>>()
    );
    assert!(
        steps
            .iter()
            .all(|p| p.style == style.id && p.candidates == 2 && p.seed == 42)
    );
}

#[test]
fn a_couple_and_a_pet_are_prompted_as_ordered() {
    let engine = DiffusionEngine::load(&tiny_model(), DiffusionSettings::default()).unwrap();
    for (subject, phrase) in [
        (SubjectKind::Couple, "a couple"),
        (SubjectKind::Pet, "a beloved pet"),
    ] {
        let mut request = request("watercolor");
        request.subject = Some(subject);
        let prompt = engine.img2img_request(&request).prompt;
        assert!(
            prompt.starts_with(&format!("watercolor portrait of {phrase},")),
            "{prompt}"
        );
    }
}
