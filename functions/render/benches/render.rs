//! Benchmark: one render per style at 1024 px on one core, median of N runs,
//! against OpenCV's `stylization` and `xphoto.oilPainting` on the same photo and
//! size in the same run (Python, `opencv-contrib-python-headless`).
//!
//! `cargo bench -p likeness-render --bench render -- [PHOTO] [--runs N] [--size PX] [--python PATH] [--style ID] [--out DIR]`

use image::RgbImage;
use likeness_core::Catalogue;
use likeness_render::{ClassicEngine, Engine, FaceHint, IdentityHints, RenderRequest};
use std::process::Command;
use std::time::Instant;

const OPENCV_SCRIPT: &str = r#"
import sys, time, json, statistics
import cv2
cv2.setNumThreads(1)
path, w, h, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
img = cv2.resize(cv2.imread(path), (w, h), interpolation=cv2.INTER_AREA)
def med(f):
    t = []
    for _ in range(runs):
        s = time.perf_counter(); f(); t.append((time.perf_counter() - s) * 1000)
    return statistics.median(t)
print(json.dumps({
    "stylization": med(lambda: cv2.stylization(img, sigma_s=60, sigma_r=0.45)),
    "oilPainting": med(lambda: cv2.xphoto.oilPainting(img, 7, 1)),
    "version": cv2.__version__,
}))
"#;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut photo_path = format!(
        "{}/../../tests/fixtures/photos/obama.jpg",
        env!("CARGO_MANIFEST_DIR")
    );
    let (mut runs, mut size, mut python) = (5usize, 1024u32, "python3".to_string());
    let mut only: Option<String> = None;
    let mut out_dir: Option<std::path::PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).unwrap_or(runs),
            "--size" => size = args.next().and_then(|v| v.parse().ok()).unwrap_or(size),
            "--python" => python = args.next().unwrap_or(python),
            "--style" => only = args.next(),
            "--out" => out_dir = args.next().map(Into::into),
            "--bench" => {}
            p => photo_path = p.to_string(),
        }
    }
    let photo: RgbImage = match image::open(&photo_path) {
        Ok(i) => i.to_rgb8(),
        Err(e) => {
            eprintln!("cannot read {photo_path}: {e}");
            std::process::exit(2);
        }
    };
    // Hints as the CLI makes them (faces, or the salient region when there is
    // none); not timed.
    let faces: Vec<FaceHint> = likeness_vision::faces::detect_faces(&photo)
        .into_iter()
        .map(|f| FaceHint {
            rect: f.rect,
            landmarks: None,
        })
        .collect();
    let subject = if faces.is_empty() {
        likeness_vision::saliency::salient_box(&image::imageops::grayscale(&photo)).map(|(b, _)| b)
    } else {
        None
    };
    let hints = IdentityHints { faces, subject };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let engine = ClassicEngine::default();
    let mut results = Vec::new();
    println!("photo {photo_path}, {size} px long side, {runs} runs, one core");
    for style in Catalogue::builtin().styles {
        if only.as_deref().is_some_and(|id| id != style.id.as_str()) {
            continue;
        }
        let mut req = RenderRequest::new(photo.clone(), style.clone(), 1);
        req.long_side = size;
        req.identity = hints.clone();
        let times: Vec<f64> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                pool.install(|| engine.render(&req)).expect("render");
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        if let Some(dir) = &out_dir {
            // What was timed, to look at: the first variation of seed 1.
            let rendered = engine.render(&req).expect("render");
            std::fs::create_dir_all(dir).expect("output folder");
            rendered[0]
                .image
                .save(dir.join(format!("{}.png", style.id)))
                .expect("write render");
        }
        let m = median(times);
        println!("{:<18} median {:>7.1} ms", style.id, m);
        results.push((style.id.to_string(), style.hybrid.is_some(), m));
    }
    let (w, h) = {
        let s = size as f32 / photo.width().max(photo.height()) as f32;
        (
            (photo.width() as f32 * s).round() as u32,
            (photo.height() as f32 * s).round() as u32,
        )
    };
    let out = Command::new(&python)
        .args(["-c", OPENCV_SCRIPT, &photo_path])
        .args([w.to_string(), h.to_string(), runs.to_string()])
        .output();
    let cv: Option<serde_json::Value> = match out {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).ok(),
        Ok(o) => {
            eprintln!(
                "OpenCV baseline failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("cannot run {python}: {e}");
            None
        }
    };
    let Some(cv) = cv else {
        println!("no OpenCV baseline (pass --python with opencv-contrib-python-headless)");
        return;
    };
    let styl = cv["stylization"].as_f64().unwrap_or(f64::NAN);
    let oil = cv["oilPainting"].as_f64().unwrap_or(f64::NAN);
    println!(
        "OpenCV {}: stylization median {styl:.1} ms, xphoto.oilPainting median {oil:.1} ms",
        cv["version"].as_str().unwrap_or("?")
    );
    println!(
        "{:<18} {:>10} {:>14} {:>14}",
        "style", "ms", "/stylization", "/oilPainting"
    );
    for (id, hybrid, m) in results {
        println!(
            "{:<18} {:>10.1} {:>14.2} {:>14.2}{}",
            id,
            m,
            m / styl,
            m / oil,
            if hybrid { "  (hybrid)" } else { "" }
        );
    }
}
