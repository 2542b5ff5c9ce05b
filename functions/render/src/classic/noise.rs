//! Seeded procedural noise: paper, granulation, strokes. A pure function of
//! (seed, coordinates), so renders are identical on every machine and thread count.

/// A splitmix64 step; good enough to decorrelate lattice points and seeds.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in [0, 1) for an integer lattice point.
#[inline]
pub fn hash01(seed: u64, x: i32, y: i32) -> f32 {
    let k = mix64(seed ^ ((x as u32 as u64) << 32 | y as u32 as u64));
    (k >> 40) as f32 / (1u64 << 24) as f32
}

/// A small seeded generator for per-render choices (palette, angles, crop).
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64, salt: u64) -> Self {
        Self(mix64(seed ^ mix64(salt)))
    }
    pub fn next(&mut self) -> f32 {
        self.0 = mix64(self.0);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next()
    }
    pub fn pick(&mut self, n: usize) -> usize {
        ((self.next() * n as f32) as usize).min(n.saturating_sub(1))
    }
}

/// `x.floor()` for |x| < 2^31 without a libm call: the portable x86-64 target
/// has no rounding instruction, and noise floors twice per sample.
#[inline]
pub fn floor(x: f32) -> f32 {
    let t = x as i32 as f32;
    if t > x { t - 1.0 } else { t }
}

/// The position within the unit cell, in [0, 1) for negative `x` too (unlike
/// `f32::fract`, which is negative there and would cut patterns off along a line).
#[inline]
pub fn cell(x: f32) -> f32 {
    x - floor(x)
}

/// Smooth value noise in [0, 1], lattice spacing 1.
#[inline]
pub fn value(seed: u64, x: f32, y: f32) -> f32 {
    let xf = floor(x);
    let yf = floor(y);
    let (xi, yi) = (xf as i32, yf as i32);
    let tx = x - xf;
    let ty = y - yf;
    let sx = tx * tx * (3.0 - 2.0 * tx);
    let sy = ty * ty * (3.0 - 2.0 * ty);
    let a = hash01(seed, xi, yi);
    let b = hash01(seed, xi + 1, yi);
    let c = hash01(seed, xi, yi + 1);
    let d = hash01(seed, xi + 1, yi + 1);
    let top = a + (b - a) * sx;
    let bottom = c + (d - c) * sx;
    top + (bottom - top) * sy
}

/// Fractal sum of `octaves` value-noise layers; `scale` is the feature size in pixels.
/// Returns roughly zero-mean values in [-1, 1].
#[inline]
pub fn fbm(seed: u64, x: f32, y: f32, scale: f32, octaves: u32) -> f32 {
    let mut sum = 0.0;
    let mut amp = 0.5;
    let mut freq = 1.0 / scale;
    let mut norm = 0.0;
    for o in 0..octaves {
        sum += amp * (value(seed.wrapping_add(o as u64 * 7919), x * freq, y * freq) * 2.0 - 1.0);
        norm += amp;
        amp *= 0.5;
        freq *= 2.0;
    }
    sum / norm
}

/// A direction with its sine and cosine worked out once, for per-pixel noise.
#[derive(Clone, Copy, Debug)]
pub struct Dir {
    pub sin: f32,
    pub cos: f32,
}

impl Dir {
    pub fn new(angle: f32) -> Self {
        let (sin, cos) = angle.sin_cos();
        Self { sin, cos }
    }
}

/// Noise stretched along `dir`: long thin streaks, the raw material of
/// hatching and chalk strokes. `length` and `width` are in pixels.
#[inline]
pub fn streaks(seed: u64, x: f32, y: f32, dir: Dir, length: f32, width: f32) -> f32 {
    let u = x * dir.cos + y * dir.sin;
    let v = -x * dir.sin + y * dir.cos;
    value(seed, u / length, v / width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_deterministic_bounded_and_seed_dependent() {
        let a: Vec<f32> = (0..64)
            .map(|i| fbm(7, i as f32 * 1.7, 3.0, 8.0, 3))
            .collect();
        let b: Vec<f32> = (0..64)
            .map(|i| fbm(7, i as f32 * 1.7, 3.0, 8.0, 3))
            .collect();
        let c: Vec<f32> = (0..64)
            .map(|i| fbm(8, i as f32 * 1.7, 3.0, 8.0, 3))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert!((cell(-0.25) - 0.75).abs() < 1e-6 && (cell(2.5) - 0.5).abs() < 1e-6);
        let mut d = Dice::new(1, 2);
        assert!((0..100).all(|_| (0.0..1.0).contains(&d.next())));
    }
}
