//! Identity benchmark: model load, and per face the landmarks, aligned chip
//! and forward pass, on the golden face boxes; dlib C++ (through its Python
//! binding, `tests/golden/bench_dlib.py`) measured in the same run as the
//! baseline. Run single-threaded:
//!
//!   RAYON_NUM_THREADS=1 LIKENESS_DLIB_PYTHON=/path/to/venv/bin/python \
//!     cargo bench -p likeness-identity --bench embedding
//!
//! Without LIKENESS_DLIB_PYTHON it runs `python3`, which must import dlib,
//! face_recognition and face_recognition_models.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use likeness_core::Rect;
use likeness_identity::FaceModels;
use likeness_identity::chip::{CHIP_PADDING, CHIP_SIZE, ChipDetails, extract_chip};
use likeness_identity::shape::intensity_image;

const PHOTOS: [&str; 5] = [
    "obama.jpg",
    "obama2.jpg",
    "obama3.jpg",
    "biden.jpg",
    "astronaut.png",
];
const ITERATIONS: usize = 15;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::env::set_current_dir(&root).expect("repository root");
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into());
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("tests/golden/golden.json").unwrap())
            .unwrap();

    let mut loads = Vec::new();
    let mut models = None;
    for _ in 0..3 {
        let t = Instant::now();
        models = Some(FaceModels::load().unwrap_or_else(|e| panic!("{e}")));
        loads.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let models = models.unwrap();

    let (mut total, mut chips, mut forwards) = (Vec::new(), Vec::new(), Vec::new());
    for name in PHOTOS {
        let img = image::open(root.join("tests/fixtures/photos").join(name))
            .unwrap()
            .to_rgb8();
        let photo = golden["photos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["file"] == name)
            .unwrap();
        for face in photo["faces"].as_array().unwrap() {
            let rect: Rect = serde_json::from_value(face["rect"].clone()).unwrap();
            models.describe(&img, &[rect]).unwrap(); // warm-up
            for _ in 0..ITERATIONS {
                let t = Instant::now();
                let gray = intensity_image(&img);
                let landmarks = models.landmarks(&gray, &rect).unwrap();
                let chip = extract_chip(
                    &img,
                    &ChipDetails::for_face(&landmarks, CHIP_SIZE, CHIP_PADDING),
                );
                let t_chip = t.elapsed();
                let e = models.encoder.embed(std::slice::from_ref(&chip)).unwrap();
                std::hint::black_box(e);
                let t_all = t.elapsed();
                total.push(t_all.as_secs_f64() * 1e3);
                chips.push(t_chip.as_secs_f64() * 1e3);
                forwards.push((t_all - t_chip).as_secs_f64() * 1e3);
            }
        }
    }
    let samples = total.len();
    let ours = median(total);
    println!(
        "identity benchmark (RAYON_NUM_THREADS={threads}, {samples} samples over {} photos)",
        PHOTOS.len()
    );
    println!(
        "  likeness load models       median {:8.1} ms",
        median(loads)
    );
    println!("  likeness per face          median {ours:8.1} ms  (target <= 25 ms)");
    println!(
        "    grey + landmarks + chip  median {:8.1} ms",
        median(chips)
    );
    println!(
        "    forward pass             median {:8.1} ms",
        median(forwards)
    );

    let python = std::env::var("LIKENESS_DLIB_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg("tests/golden/bench_dlib.py")
        .arg(ITERATIONS.to_string())
        .args(PHOTOS)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("baseline JSON");
            let theirs = v["face_ms_median"].as_f64().unwrap();
            println!(
                "  dlib {} load models     median {:8.1} ms",
                v["dlib_version"],
                v["load_ms_median"].as_f64().unwrap()
            );
            println!(
                "  dlib per face (landmarks + compute_face_descriptor) median {theirs:8.1} ms"
            );
            println!("  ratio likeness / dlib per face: {:.2}", ours / theirs);
        }
        Ok(o) => println!(
            "  dlib baseline failed with {python}: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => println!("  dlib baseline not run ({python}: {e}); set LIKENESS_DLIB_PYTHON"),
    }
}
