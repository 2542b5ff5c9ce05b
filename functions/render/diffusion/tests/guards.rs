use likeness_diffusion::guards::{
    LatentRegion, anchor_low_frequencies, colour_constraint, decayed, low_pass,
};
use rand::{Rng, SeedableRng};

const C: usize = 4;
const H: usize = 16;
const W: usize = 12;

fn random(seed: u64, mean: f32, spread: f32) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..C * H * W)
        .map(|_| mean + spread * (rng.random::<f32>() - 0.5))
        .collect()
}

fn region_stats(v: &[f32], c: usize, r: LatentRegion) -> (f64, f64) {
    let plane = &v[c * H * W..(c + 1) * H * W];
    let vals: Vec<f64> = (r.y0..r.y1)
        .flat_map(|y| (r.x0..r.x1).map(move |x| plane[y * W + x] as f64))
        .collect();
    let m = vals.iter().sum::<f64>() / vals.len() as f64;
    let var = vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / vals.len() as f64;
    (m, var.sqrt())
}

const REGION: LatentRegion = LatentRegion {
    x0: 3,
    y0: 4,
    x1: 10,
    y1: 13,
};

#[test]
fn colour_constraint_moves_subject_statistics_to_the_reference() {
    let reference = random(1, 0.7, 2.0);
    let original = random(2, -0.4, 0.5);
    let mut x = original.clone();
    colour_constraint(&mut x, &reference, C, H, W, REGION, 1.0);
    for c in 0..C {
        let (m, s) = region_stats(&x, c, REGION);
        let (mr, sr) = region_stats(&reference, c, REGION);
        assert!(
            (m - mr).abs() < 1e-4 && (s - sr).abs() < 1e-4,
            "channel {c}: {m},{s} vs {mr},{sr}"
        );
        let (mo, _) = region_stats(&original, c, REGION);
        assert!(
            (mo - mr).abs() > 0.5,
            "test data must start far from the reference"
        );
    }
    // Outside the subject nothing moves.
    for y in 0..H {
        for xx in 0..W {
            let inside =
                (REGION.y0..REGION.y1).contains(&y) && (REGION.x0..REGION.x1).contains(&xx);
            if !inside {
                assert_eq!(x[y * W + xx], original[y * W + xx]);
            }
        }
    }
    // Half strength moves the mean half way.
    let mut half = original.clone();
    colour_constraint(&mut half, &reference, C, H, W, REGION, 0.5);
    let (m, _) = region_stats(&half, 0, REGION);
    let (mo, _) = region_stats(&original, 0, REGION);
    let (mr, _) = region_stats(&reference, 0, REGION);
    assert!((m - (mo + mr) / 2.0).abs() < 1e-4);
}

#[test]
fn full_anchoring_returns_the_reference_low_frequencies() {
    let reference = random(3, 0.2, 3.0);
    let original = random(4, -1.0, 1.0);
    for cell in [4, 5] {
        let mut x = original.clone();
        anchor_low_frequencies(&mut x, &reference, C, H, W, cell, 1.0);
        for c in 0..C {
            let r = c * H * W..(c + 1) * H * W;
            let (lx, lr, lo) = (
                low_pass(&x[r.clone()], H, W, cell),
                low_pass(&reference[r.clone()], H, W, cell),
                low_pass(&original[r.clone()], H, W, cell),
            );
            for k in 0..H * W {
                assert!((lx[k] - lr[k]).abs() < 1e-5, "low frequencies, cell {cell}");
                // Detail (original minus its low-pass) survives unchanged.
                let detail_before = original[r.start + k] - lo[k];
                let detail_after = x[r.start + k] - lx[k];
                assert!(
                    (detail_before - detail_after).abs() < 1e-5,
                    "detail, cell {cell}"
                );
            }
        }
    }
    let mut zero = original.clone();
    anchor_low_frequencies(&mut zero, &reference, C, H, W, 4, 0.0);
    assert_eq!(zero, original);
}

#[test]
fn strength_decays_over_steps() {
    let w: Vec<f32> = (0..4).map(|i| decayed(0.8, i, 4)).collect();
    assert_eq!(w, vec![0.8, 0.6, 0.4, 0.2]);
}
