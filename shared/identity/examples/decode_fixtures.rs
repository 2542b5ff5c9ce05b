//! Writes every fixture photo as 8-bit RGB PNG, decoded by the `image` crate
//! exactly as the identity tests decode it, into the directory given as the
//! first argument. `tests/golden/make_golden.py` feeds these pixels to dlib so
//! the golden comparison measures the identity pipeline, not two different
//! JPEG decoders (zune-jpeg and libjpeg-turbo differ by a grey level here and
//! there, which moves descriptors by up to ~1.5e-2).

fn main() {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: decode_fixtures OUT_DIR"),
    );
    std::fs::create_dir_all(&out).expect("create output directory");
    let photos =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/photos");
    let mut entries: Vec<_> = std::fs::read_dir(&photos)
        .expect("fixture directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("jpg" | "png")))
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let rgb = image::open(&path).expect("decodable fixture").to_rgb8();
        rgb.save(out.join(format!("{name}.png")))
            .expect("write PNG");
        println!("{name}");
    }
}
