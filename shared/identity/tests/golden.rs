//! Landmarks and descriptors against dlib itself (`tests/golden/make_golden.py`).

mod common;

use common::{golden, models, photo};

#[test]
fn landmarks_and_descriptors_match_dlib() {
    let mut checked = 0;
    let mut report = Vec::new();
    let mut worst = 0f32;
    for gp in &golden().photos {
        if gp.faces.is_empty() {
            continue;
        }
        let img = photo(&gp.file);
        assert_eq!(
            (img.width(), img.height()),
            (gp.width, gp.height),
            "{}",
            gp.file
        );
        let boxes: Vec<_> = gp.faces.iter().map(|f| f.rect).collect();
        let faces = models().describe(&img, &boxes).expect("describe");
        for (i, (ours, theirs)) in faces.iter().zip(&gp.faces).enumerate() {
            let landmark_err = ours
                .landmarks
                .iter()
                .zip(&theirs.landmarks)
                .map(|(a, b)| (a.x - b[0]).abs().max((a.y - b[1]).abs()))
                .fold(0f32, f32::max);
            let descriptor_err = ours
                .embedding
                .iter()
                .zip(&theirs.descriptor)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            report.push(format!(
                "{}[{i}]: landmarks max {landmark_err} px, descriptor max |d| {descriptor_err:.2e}",
                gp.file
            ));
            if let Ok(dir) = std::env::var("IDENTITY_DEBUG_CHIPS") {
                ours.chip
                    .save(format!("{dir}/{}.{i}.png", gp.file))
                    .unwrap();
                println!(
                    "{}[{i}] ours {:?} theirs {:?}",
                    gp.file, ours.landmarks, theirs.landmarks
                );
            }
            worst = worst.max(landmark_err).max(descriptor_err * 1000.0);
            checked += 1;
        }
    }
    println!("{}", report.join("\n"));
    // Scaled so one bound covers both: 1 px, or 1e-3 * 1000.
    assert!(worst <= 1.0, "{}", report.join("\n"));
    assert!(checked >= 7, "only {checked} faces in golden.json");
}
