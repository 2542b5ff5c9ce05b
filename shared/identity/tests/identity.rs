//! Identity behaviour on real photos: same person, different people, and
//! robustness to mirroring, rescaling and JPEG re-encoding.

mod common;

use common::{dominant_box, models, photo};
use image::RgbImage;
use likeness_core::Rect;
use likeness_identity::{SAME_PERSON_THRESHOLD, distance};

fn embedding(img: &RgbImage, rect: Rect) -> Vec<f32> {
    let faces = models().describe(img, &[rect]).expect("describe");
    faces.into_iter().next().expect("one face").embedding
}

fn dominant(name: &str) -> Vec<f32> {
    embedding(&photo(name), dominant_box(name))
}

#[test]
fn the_same_person_is_within_the_threshold_and_different_people_are_not() {
    let same = ["obama.jpg", "obama2.jpg", "obama3.jpg", "32bit.png"];
    let e: Vec<Vec<f32>> = same.iter().map(|n| dominant(n)).collect();
    for i in 0..same.len() {
        for j in i + 1..same.len() {
            let d = distance(&e[i], &e[j]);
            println!("{} vs {}: {d:.3}", same[i], same[j]);
            assert!(
                d <= SAME_PERSON_THRESHOLD,
                "{} vs {} at {d}",
                same[i],
                same[j]
            );
        }
    }
    let biden = dominant("biden.jpg");
    let d = distance(&e[0], &biden);
    println!("obama.jpg vs biden.jpg: {d:.3}");
    assert!(d > SAME_PERSON_THRESHOLD, "obama vs biden at {d}");
    let astronaut = dominant("astronaut.png");
    for (name, other) in same.iter().zip(&e) {
        let d = distance(&astronaut, other);
        println!("astronaut.png vs {name}: {d:.3}");
        assert!(d > SAME_PERSON_THRESHOLD, "astronaut vs {name} at {d}");
    }
}

fn jpeg_q60(img: &RgbImage) -> RgbImage {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 60)
        .encode_image(img)
        .expect("encode");
    image::load_from_memory(&bytes).expect("decode").to_rgb8()
}

#[test]
fn mirrored_half_scale_and_jpeg_versions_stay_the_same_person() {
    for name in ["obama.jpg", "astronaut.png"] {
        let img = photo(name);
        let rect = dominant_box(name);
        let original = embedding(&img, rect);

        let mirrored = image::imageops::flip_horizontal(&img);
        let mirrored_rect = Rect::new(
            img.width() as f32 - rect.right(),
            rect.y,
            rect.width,
            rect.height,
        );
        let half = image::imageops::resize(
            &img,
            img.width() / 2,
            img.height() / 2,
            image::imageops::FilterType::Triangle,
        );
        let variants = [
            ("mirrored", embedding(&mirrored, mirrored_rect)),
            ("half scale", embedding(&half, rect.scaled(0.5))),
            ("JPEG q60", embedding(&jpeg_q60(&img), rect)),
        ];
        for (what, e) in variants {
            let d = distance(&original, &e);
            println!("{name} vs {what}: {d:.3}");
            assert!(d <= SAME_PERSON_THRESHOLD, "{name} {what} at {d}");
            assert!(
                d > 0.0,
                "{name} {what} is bit-identical: the variant was not applied"
            );
        }
    }
}

#[test]
fn bad_boxes_are_errors_not_panics() {
    let img = photo("obama.jpg");
    for rect in [
        Rect::new(10.0, 10.0, 0.0, 50.0),
        Rect::new(f32::NAN, 0.0, 10.0, 10.0),
        Rect::new(0.0, 0.0, f32::INFINITY, 10.0),
    ] {
        assert!(models().describe(&img, &[rect]).is_err(), "{rect:?}");
    }
    // Entirely outside the photo: still a defined (black) chip, no panic.
    let far = Rect::new(5000.0, 5000.0, 100.0, 100.0);
    let faces = models().describe(&img, &[far]).expect("describe");
    assert_eq!(faces[0].embedding.len(), 128);
    assert_eq!(
        models()
            .describe(&RgbImage::new(0, 0), &[far])
            .unwrap_err()
            .to_string(),
        "image is 0x0; it must be at least 1x1"
    );
}
