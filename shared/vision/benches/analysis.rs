//! Analysis of a 12-megapixel JPEG against merely decoding it at full size.
//!
//! `cargo bench -p likeness-vision --bench analysis` (release). Set
//! `LIKENESS_BENCH_PYTHON` to a Python with opencv-python-headless and numpy
//! to time the OpenCV baseline (`benches/opencv_baseline.py`) on the same file
//! in the same run. Medians of `LIKENESS_BENCH_RUNS` runs (default 15).

use image::{RgbImage, imageops};
use likeness_core::SubjectKind;
use likeness_vision::{AnalysisConfig, analyze};
use std::hint::black_box;
use std::io::Cursor;
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm caches and the lazily parsed face model
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn twelve_megapixel_jpeg() -> Vec<u8> {
    let path = format!(
        "{}/../../tests/fixtures/photos/obama.jpg",
        env!("CARGO_MANIFEST_DIR")
    );
    let small = image::open(&path).expect("fixture").to_rgb8();
    // 3100x3874 = 12.0 MP, the same portrait enlarged.
    let big: RgbImage = imageops::resize(&small, 3100, 3874, imageops::FilterType::CatmullRom);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&big)
        .expect("encodes");
    out
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test --benches`) only smoke-runs.
    let runs: usize = std::env::var("LIKENESS_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let bytes = twelve_megapixel_jpeg();
    let file = std::env::temp_dir().join("likeness-bench-12mp.jpg");
    std::fs::write(&file, &bytes).expect("write bench photo");
    println!(
        "photo: 3100x3874 JPEG q90, {} bytes, {}",
        bytes.len(),
        file.display()
    );

    let config = AnalysisConfig::default();
    let analysis = analyze(&bytes, SubjectKind::Person, &config).expect("analyses");
    println!(
        "verdict {:?}, faces {}, working copy {}x{}",
        analysis.verdict,
        analysis.subjects.face_count,
        analysis.normalized_width,
        analysis.normalized_height
    );

    let decode_same = time(runs, || {
        let mut d = jpeg_decoder::Decoder::new(Cursor::new(&bytes));
        black_box(d.decode().expect("decodes"));
    });
    let decode_image = time(runs, || {
        black_box(image::load_from_memory(&bytes).expect("decodes"));
    });
    let analyze_t = time(runs, || {
        black_box(analyze(&bytes, SubjectKind::Person, &config).expect("analyses"));
    });
    // Where the analysis time goes.
    let decode_scaled = time(runs, || {
        black_box(likeness_vision::decode(&bytes, &config.decode).expect("decodes"));
    });
    let gray = imageops::grayscale(&analysis.normalized);
    let faces = time(runs, || {
        black_box(likeness_vision::faces::detect_faces_gray(&gray));
    });
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  breakdown: decode at DCT scale {:.1} ms, face detection {:.1} ms",
        ms(decode_scaled),
        ms(faces)
    );
    println!("median of {runs} runs:");
    println!(
        "  full-size decode, jpeg-decoder (same decoder): {:8.1} ms",
        ms(decode_same)
    );
    println!(
        "  full-size decode, image/zune-jpeg:              {:8.1} ms",
        ms(decode_image)
    );
    println!(
        "  analyze (decode at DCT scale + all metrics):    {:8.1} ms",
        ms(analyze_t)
    );
    println!(
        "  ratio analyze / decode (same decoder): {:.2}x  (target <= 1.5x)",
        ms(analyze_t) / ms(decode_same)
    );
    println!(
        "  ratio analyze / decode (zune-jpeg):    {:.2}x",
        ms(analyze_t) / ms(decode_image)
    );

    if let Ok(python) = std::env::var("LIKENESS_BENCH_PYTHON") {
        let script = format!("{}/benches/opencv_baseline.py", env!("CARGO_MANIFEST_DIR"));
        let out = std::process::Command::new(&python)
            .arg(&script)
            .arg(&file)
            .arg(runs.to_string())
            .output()
            .expect("run the OpenCV baseline");
        let text = String::from_utf8_lossy(&out.stdout);
        print!("{text}");
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1);
        }
        let cv_ms = text
            .lines()
            .find_map(|l| l.strip_prefix("opencv_total_median_ms "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .expect("the baseline prints its median");
        println!(
            "  ratio analyze / OpenCV baseline: {:.2}x",
            ms(analyze_t) / cv_ms
        );
    }
}
