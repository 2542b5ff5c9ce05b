//! The identity reference of a photo: faces and colours, serialised.

mod common;

use common::{dominant_box, golden_photo, models, photo};
use likeness_core::Rect;
use likeness_identity::IdentityReference;
use likeness_identity::reference::ToneSource;

#[test]
fn a_portrait_gets_faces_a_palette_and_a_skin_tone_that_survive_json() {
    let img = photo("astronaut.png");
    let boxes: Vec<Rect> = golden_photo("astronaut.png")
        .faces
        .iter()
        .map(|f| f.rect)
        .collect();
    let reference = IdentityReference::build(models(), &img, &boxes, &[]).expect("build");
    assert_eq!(reference.faces.len(), 2);
    assert_eq!(
        reference.dominant_face().unwrap().rect,
        dominant_box("astronaut.png")
    );
    let subject = &reference.subjects[0];
    assert_eq!(subject.tone_source, ToneSource::Skin);
    let tone = subject.tone.expect("skin tone");
    // Light skin in CIELAB: mid-to-high lightness, warm (a and b positive).
    assert!(
        (45.0..90.0).contains(&tone.lab[0]) && tone.lab[1] > 3.0 && tone.lab[2] > 3.0,
        "{tone:?}"
    );
    assert_eq!(subject.palette.len(), 5);
    let shares: f32 = subject.palette.iter().map(|p| p.share).sum();
    assert!((shares - 1.0).abs() < 1e-3);
    assert!(subject.palette.windows(2).all(|w| w[0].share >= w[1].share));

    let chip = image::load_from_memory(&reference.faces[0].chip_png().unwrap()).unwrap();
    assert_eq!((chip.width(), chip.height()), (150, 150));

    let json = serde_json::to_string(&reference).unwrap();
    let back: IdentityReference = serde_json::from_str(&json).unwrap();
    assert_eq!(back.faces[0].embedding, reference.faces[0].embedding);
    assert_eq!(back.subjects, reference.subjects);
    assert!(
        !json.contains("\"chip\""),
        "the chip pixels are stored by the caller, not in JSON"
    );
}

#[test]
fn a_pet_gets_a_region_tone_and_the_same_palette_every_time() {
    let img = photo("chelsea.png");
    let whole = Rect::new(0.0, 0.0, img.width() as f32, img.height() as f32);
    let a = IdentityReference::build(models(), &img, &[], &[whole]).unwrap();
    let b = IdentityReference::build(models(), &img, &[], &[whole]).unwrap();
    assert!(a.faces.is_empty());
    assert_eq!(a.subjects, b.subjects);
    let s = &a.subjects[0];
    assert_eq!(s.tone_source, ToneSource::Region);
    // Chelsea is a ginger tabby: the middle of the photo is orange-brown fur.
    let tone = s.tone.expect("fur tone");
    assert!(tone.lab[1] > 5.0 && tone.lab[2] > 15.0, "{tone:?}");
}
