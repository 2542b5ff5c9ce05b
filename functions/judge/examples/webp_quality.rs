//! How small a lossy WebP preview gets and what it loses, per quality, over
//! renders of every style (docs/QA.md): bytes against the lossless WebP and
//! the JPEG the delivery writes, and luma PSNR against the pixels.
//! Then, at the delivered quality, each libwebp method: size, PSNR and the
//! median encoding time of five.
//! `cargo run --release -p likeness-judge --example webp_quality -- RENDER.png...`

use image::RgbImage;
use likeness_judge::deliver::{WEBP_METHOD, WEBP_QUALITY, encode_webp};
use std::time::Instant;

fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    let luma = |p: &image::Rgb<u8>| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64;
    let mse = a
        .pixels()
        .zip(b.pixels())
        .map(|(p, q)| (luma(p) - luma(q)).powi(2))
        .sum::<f64>()
        / (a.width() * a.height()) as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10()
}

/// Each render named by its file name, decoded once for both tables.
fn renders() -> Vec<(String, RgbImage)> {
    std::env::args()
        .skip(1)
        .map(|path| {
            let img = image::open(&path)
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .to_rgb8();
            let name = std::path::Path::new(&path)
                .file_name()
                .map_or(path.clone(), |n| n.to_string_lossy().into_owned());
            (name, img)
        })
        .collect()
}

/// "KB / dB" of a lossy WebP of `img`.
fn size_and_psnr(img: &RgbImage, webp: &[u8]) -> String {
    let back = image::load_from_memory(webp).expect("decode").to_rgb8();
    format!(
        "{:.0} / {:.1}",
        webp.len() as f64 / 1024.0,
        psnr(img, &back)
    )
}

fn main() {
    let renders = renders();
    let qualities = [60.0f32, 70.0, 75.0, 80.0, 85.0, 90.0];
    print!("| render | lossless KB | JPEG 90 KB |");
    for q in qualities {
        print!(" q{q} KB / dB |");
    }
    println!();
    println!("|---|---:|---:|{}", "---:|".repeat(qualities.len()));
    for (name, img) in &renders {
        let mut lossless = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut lossless)
            .encode(
                img.as_raw(),
                img.width(),
                img.height(),
                image::ExtendedColorType::Rgb8,
            )
            .expect("lossless");
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(img)
            .expect("jpeg");
        print!(
            "| {name} | {:.0} | {:.0} |",
            lossless.len() as f64 / 1024.0,
            jpeg.len() as f64 / 1024.0
        );
        for q in qualities {
            let bytes = encode_webp(img, q, WEBP_METHOD).expect("webp");
            print!(" {} |", size_and_psnr(img, &bytes));
        }
        println!();
    }

    let methods = [0u8, 1, 2, 3, 4, 5, 6];
    println!();
    print!("| render, q{WEBP_QUALITY} |");
    for m in methods {
        print!(" m{m} KB / dB / ms |");
    }
    println!();
    println!("|---|{}", "---:|".repeat(methods.len()));
    for (name, img) in &renders {
        print!("| {name} |");
        for m in methods {
            let mut times = Vec::new();
            let mut bytes = Vec::new();
            for _ in 0..5 {
                let started = Instant::now();
                bytes = encode_webp(img, WEBP_QUALITY, m).expect("webp");
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            print!(" {} / {:.0} |", size_and_psnr(img, &bytes), times[2]);
        }
        println!();
    }
}
