//! Uploads that are not usable photos: each gets its specific code, never a panic.

mod common;

use common::*;
use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb};
use likeness_core::{RejectionCode, SubjectKind};
use likeness_vision::{AnalysisConfig, DecodeError, DecodeLimits, analyze, decode, sniff::Sniffed};

fn code_of(bytes: &[u8]) -> RejectionCode {
    match analyze(bytes, SubjectKind::Person, &AnalysisConfig::default()) {
        Ok(a) => panic!("expected a decode failure, got {:?}", a.verdict),
        Err(e) => e.code(),
    }
}

#[test]
fn zero_bytes() {
    assert_eq!(
        decode(&[], &DecodeLimits::default()).unwrap_err(),
        DecodeError::Empty
    );
    assert_eq!(code_of(&[]), RejectionCode::CorruptImage);
}

#[test]
fn truncated_jpeg() {
    let full = photo_bytes("obama.jpg");
    for cut in [full.len() / 2, 1000, 200, 20, 4] {
        let err = decode(&full[..cut], &DecodeLimits::default()).unwrap_err();
        assert_eq!(
            err.code(),
            RejectionCode::CorruptImage,
            "cut at {cut}: {err}"
        );
    }
    let err = decode(&full[..full.len() / 2], &DecodeLimits::default()).unwrap_err();
    assert_eq!(err, DecodeError::Truncated);
    assert!(err.reason().message.contains("incomplete"));
}

#[test]
fn html_named_jpg() {
    let html =
        b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>gone</body></html>";
    let err = decode(html, &DecodeLimits::default()).unwrap_err();
    assert_eq!(err, DecodeError::NotAnImage);
    assert_eq!(code_of(html), RejectionCode::UnsupportedFormat);
    assert!(err.reason().message.contains("web page"));
}

#[test]
fn png_header_claiming_100000_square_is_refused_from_the_header() {
    let bomb = png_claiming(100_000, 100_000);
    assert!(bomb.len() < 100);
    let err = decode(&bomb, &DecodeLimits::default()).unwrap_err();
    assert!(matches!(err, DecodeError::TooLarge { .. }), "{err}");
    assert_eq!(err.code(), RejectionCode::TooLarge);
    // Within the side limit but over 64 megapixels.
    let wide = decode(&png_claiming(16_000, 8_000), &DecodeLimits::default()).unwrap_err();
    assert!(
        matches!(
            wide,
            DecodeError::TooLarge {
                width: 16_000,
                height: 8_000
            }
        ),
        "{wide}"
    );
}

#[test]
fn sixteen_bit_png_is_converted_to_8_bit() {
    let img: ImageBuffer<Rgb<u16>, Vec<u16>> =
        ImageBuffer::from_fn(64, 48, |x, _| Rgb([(x * 1000) as u16, 32_896, 65_535]));
    let bytes = encode(&DynamicImage::ImageRgb16(img), ImageFormat::Png);
    let decoded = decode(&bytes, &DecodeLimits::default()).unwrap();
    assert_eq!(decoded.image.dimensions(), (64, 48));
    assert_eq!(*decoded.image.get_pixel(0, 0), Rgb([0, 128, 255]));
    assert_eq!(
        decoded.image.get_pixel(63, 0)[0],
        (63_000f64 / 65_535.0 * 255.0).round() as u8
    );
}

#[test]
fn cmyk_jpeg_is_converted_to_rgb() {
    // Written by Pillow from chelsea.png (see tests/fixtures/README.md).
    let cmyk = decode(&local_fixture("chelsea_cmyk.jpg"), &DecodeLimits::default()).unwrap();
    let rgb = decode(
        &local_fixture("chelsea_rgb_small.png"),
        &DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(cmyk.image.dimensions(), rgb.image.dimensions());
    let mean_diff: f64 = cmyk
        .image
        .as_raw()
        .iter()
        .zip(rgb.image.as_raw())
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .sum::<f64>()
        / rgb.image.as_raw().len() as f64;
    assert!(mean_diff < 12.0, "mean abs difference {mean_diff}");
    let a = analyze(
        &local_fixture("chelsea_cmyk.jpg"),
        SubjectKind::Pet,
        &AnalysisConfig::default(),
    )
    .unwrap();
    assert!(a.subjects.subject_box.is_some());
}

#[test]
fn animated_gif_is_unsupported() {
    let err = decode(&animated_gif(), &DecodeLimits::default()).unwrap_err();
    assert_eq!(err, DecodeError::Unsupported(Sniffed::Gif));
    assert_eq!(code_of(&animated_gif()), RejectionCode::UnsupportedFormat);
    assert!(err.reason().message.contains("GIF"));
}

#[test]
fn heic_header_is_unsupported() {
    let err = decode(&heic_header(), &DecodeLimits::default()).unwrap_err();
    assert_eq!(err, DecodeError::Unsupported(Sniffed::Heif));
    assert_eq!(code_of(&heic_header()), RejectionCode::UnsupportedFormat);
    assert!(err.reason().message.contains("HEIC"));
}

#[test]
fn other_formats_each_name_themselves() {
    for (bytes, kind) in [
        (b"II*\0\x08\0\0\0\0\0".to_vec(), Sniffed::Tiff),
        (
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec(),
            Sniffed::Svg,
        ),
        (
            b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf".to_vec(),
            Sniffed::Avif,
        ),
    ] {
        let err = decode(&bytes, &DecodeLimits::default()).unwrap_err();
        assert_eq!(err, DecodeError::Unsupported(kind));
        assert!(err.reason().message.contains(kind.name()));
    }
    assert_eq!(code_of(b"%PDF-1.7\n"), RejectionCode::UnsupportedFormat);
}

#[test]
fn file_size_cap() {
    let limits = DecodeLimits {
        max_file_bytes: 1000,
        ..DecodeLimits::default()
    };
    let err = decode(&photo_bytes("obama.jpg"), &limits).unwrap_err();
    assert_eq!(err.code(), RejectionCode::TooLarge);
}

#[test]
fn garbage_after_a_valid_signature_is_corrupt() {
    let mut rng = 0x2545F491u32;
    for sig in [
        &b"\xFF\xD8\xFF"[..],
        &b"\x89PNG\r\n\x1a\n"[..],
        &b"RIFF\0\0\0\0WEBP"[..],
    ] {
        for len in [0usize, 10, 100, 5000] {
            let mut bytes = sig.to_vec();
            bytes.extend((0..len).map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 17;
                rng ^= rng << 5;
                rng as u8
            }));
            assert_eq!(
                code_of(&bytes),
                RejectionCode::CorruptImage,
                "{:?} + {len}",
                &sig[..3]
            );
        }
    }
}

#[test]
fn webp_is_accepted() {
    let small = image::imageops::resize(
        &photo("obama.jpg"),
        455,
        568,
        image::imageops::FilterType::Triangle,
    );
    let bytes = encode(&DynamicImage::ImageRgb8(small), ImageFormat::WebP);
    let a = analyze(&bytes, SubjectKind::Person, &AnalysisConfig::default()).unwrap();
    assert_eq!(a.format, likeness_vision::Format::Webp);
    assert_eq!(a.subjects.face_count, 1);
}
