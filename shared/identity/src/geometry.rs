//! The little 2-D geometry dlib's face code relies on, reproduced with dlib's
//! conventions (inclusive integer rectangles, round-half-up to pixels).

/// `p -> m * p + t`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    pub m: [[f64; 2]; 2],
    pub t: [f64; 2],
}

impl Affine {
    pub fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        [
            self.m[0][0] * p[0] + self.m[0][1] * p[1] + self.t[0],
            self.m[1][0] * p[0] + self.m[1][1] * p[1] + self.t[1],
        ]
    }

    /// The least-squares similarity (rotation, uniform scale, translation)
    /// taking `from` onto `to`. For 2-D this closed form has the same minimiser
    /// as the Umeyama solution dlib uses (`find_similarity_transform`).
    pub fn similarity(from: &[[f64; 2]], to: &[[f64; 2]]) -> Affine {
        let n = from.len().min(to.len()).max(1) as f64;
        let mean = |pts: &[[f64; 2]]| {
            let s = pts
                .iter()
                .fold([0.0, 0.0], |a, p| [a[0] + p[0], a[1] + p[1]]);
            [s[0] / n, s[1] / n]
        };
        let (mf, mt) = (mean(from), mean(to));
        let (mut dot, mut cross, mut norm) = (0.0, 0.0, 0.0);
        for (f, t) in from.iter().zip(to) {
            let (fx, fy) = (f[0] - mf[0], f[1] - mf[1]);
            let (tx, ty) = (t[0] - mt[0], t[1] - mt[1]);
            dot += fx * tx + fy * ty;
            cross += fx * ty - fy * tx;
            norm += fx * fx + fy * fy;
        }
        let (a, b) = if norm > 0.0 {
            (dot / norm, cross / norm)
        } else {
            (1.0, 0.0)
        };
        let m = [[a, -b], [b, a]];
        let t = [
            mt[0] - (m[0][0] * mf[0] + m[0][1] * mf[1]),
            mt[1] - (m[1][0] * mf[0] + m[1][1] * mf[1]),
        ];
        Affine { m, t }
    }

    /// The affine map taking three points exactly onto three others.
    pub fn from_three(from: [[f64; 2]; 3], to: [[f64; 2]; 3]) -> Affine {
        // Solve [x y 1] * A = [x' y'] with Cramer's rule on the 3x3 system.
        let det3 = |m: [[f64; 3]; 3]| {
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        };
        let a = [
            [from[0][0], from[0][1], 1.0],
            [from[1][0], from[1][1], 1.0],
            [from[2][0], from[2][1], 1.0],
        ];
        let d = det3(a);
        let solve = |k: usize| {
            let mut out = [0.0; 3];
            for (col, o) in out.iter_mut().enumerate() {
                let mut m = a;
                for row in 0..3 {
                    m[row][col] = to[row][k];
                }
                *o = det3(m) / d;
            }
            out
        };
        let (x, y) = (solve(0), solve(1));
        Affine {
            m: [[x[0], x[1]], [y[0], y[1]]],
            t: [x[2], y[2]],
        }
    }
}

/// dlib's rounding of a real point to a pixel (`floor(v + 0.5)`).
pub fn round_half_up(v: f64) -> i64 {
    (v + 0.5).floor() as i64
}

/// dlib's `drectangle`: real-valued, with width = right - left + 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DRect {
    pub l: f64,
    pub t: f64,
    pub r: f64,
    pub b: f64,
}

impl DRect {
    pub fn is_empty(&self) -> bool {
        self.t > self.b || self.l > self.r
    }
    pub fn width(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.r - self.l + 1.0
        }
    }
    pub fn height(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.b - self.t + 1.0
        }
    }
    pub fn area(&self) -> f64 {
        self.width() * self.height()
    }
    pub fn center(&self) -> [f64; 2] {
        [(self.l + self.r) / 2.0, (self.t + self.b) / 2.0]
    }
    /// `centered_drect(p, w, h)`.
    pub fn centered(p: [f64; 2], w: f64, h: f64) -> DRect {
        let (w, h) = (w - 1.0, h - 1.0);
        DRect {
            l: p[0] - w / 2.0,
            t: p[1] - h / 2.0,
            r: p[0] + w / 2.0,
            b: p[1] + h / 2.0,
        }
    }
    pub fn union_point(self, p: [f64; 2]) -> DRect {
        if self.is_empty() {
            return DRect {
                l: p[0],
                t: p[1],
                r: p[0],
                b: p[1],
            };
        }
        DRect {
            l: self.l.min(p[0]),
            t: self.t.min(p[1]),
            r: self.r.max(p[0]),
            b: self.b.max(p[1]),
        }
    }
    pub fn grow(self, g: f64) -> DRect {
        DRect {
            l: self.l - g,
            t: self.t - g,
            r: self.r + g,
            b: self.b + g,
        }
    }
    pub fn intersect(self, o: DRect) -> DRect {
        DRect {
            l: self.l.max(o.l),
            t: self.t.max(o.t),
            r: self.r.min(o.r),
            b: self.b.min(o.b),
        }
    }
    pub fn translate(self, dx: f64, dy: f64) -> DRect {
        DRect {
            l: self.l + dx,
            t: self.t + dy,
            r: self.r + dx,
            b: self.b + dy,
        }
    }
    /// `pyramid_down<2>::rect_down`.
    pub fn pyramid_down(self) -> DRect {
        let down = |x: f64, y: f64| [x / 2.0 - 1.25, y / 2.0 - 0.75];
        let tl = down(self.l, self.t);
        let br = down(self.r, self.b);
        DRect {
            l: tl[0],
            t: tl[1],
            r: br[0],
            b: br[1],
        }
    }
    /// dlib's conversion to an integer rectangle (`std::lround` per side).
    pub fn to_irect(self) -> IRect {
        IRect {
            l: self.l.round() as i64,
            t: self.t.round() as i64,
            r: self.r.round() as i64,
            b: self.b.round() as i64,
        }
    }
}

/// dlib's integer `rectangle`, inclusive on all sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IRect {
    pub l: i64,
    pub t: i64,
    pub r: i64,
    pub b: i64,
}

impl IRect {
    pub fn is_empty(&self) -> bool {
        self.t > self.b || self.l > self.r
    }
    pub fn union(self, o: IRect) -> IRect {
        if o.is_empty() {
            return self;
        }
        if self.is_empty() {
            return o;
        }
        IRect {
            l: self.l.min(o.l),
            t: self.t.min(o.t),
            r: self.r.max(o.r),
            b: self.b.max(o.b),
        }
    }
    pub fn width(&self) -> i64 {
        if self.is_empty() {
            0
        } else {
            self.r - self.l + 1
        }
    }
    pub fn height(&self) -> i64 {
        if self.is_empty() {
            0
        } else {
            self.b - self.t + 1
        }
    }
}

/// A rotation of `p` about `c` by `angle` radians (`rotate_point`).
pub fn rotate_about(c: [f64; 2], p: [f64; 2], angle: f64) -> [f64; 2] {
    let (s, co) = angle.sin_cos();
    let (x, y) = (p[0] - c[0], p[1] - c[1]);
    [co * x - s * y + c[0], s * x + co * y + c[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_rotation_scale_and_shift() {
        let truth = Affine {
            m: [[0.0, -2.0], [2.0, 0.0]],
            t: [5.0, -3.0],
        };
        let from = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [3.0, 4.0]];
        let to: Vec<[f64; 2]> = from.iter().map(|p| truth.apply(*p)).collect();
        let got = Affine::similarity(&from, &to);
        for (a, b) in got.m.iter().flatten().zip(truth.m.iter().flatten()) {
            assert!((a - b).abs() < 1e-12);
        }
        assert!((got.t[0] - 5.0).abs() < 1e-12 && (got.t[1] + 3.0).abs() < 1e-12);
    }

    #[test]
    fn three_point_affine_is_exact() {
        let a = Affine::from_three(
            [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
            [[10.0, 20.0], [30.0, 20.0], [30.0, 50.0]],
        );
        assert_eq!(a.apply([0.5, 0.5]), [20.0, 35.0]);
    }
}
