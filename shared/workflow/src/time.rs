//! Time in the runner is scalable: tests run definitions with 30 s heartbeats
//! and exponential retries at a thousand times real speed.

use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct TimeScale {
    factor: f64,
}

impl Default for TimeScale {
    fn default() -> Self {
        Self::REAL
    }
}

impl TimeScale {
    pub const REAL: TimeScale = TimeScale { factor: 1.0 };

    /// `factor` definition seconds pass in one real second. Non-positive or
    /// non-finite factors fall back to real time rather than spinning.
    pub fn faster(factor: f64) -> Self {
        if factor.is_finite() && factor > 0.0 {
            Self { factor }
        } else {
            Self::REAL
        }
    }

    /// The real duration of `seconds` of definition time (capped at ~a year, which
    /// also keeps a `TimeoutSeconds: 99999999` from overflowing).
    pub fn real(&self, seconds: f64) -> Duration {
        let s = (seconds.max(0.0) / self.factor).min(3.2e7);
        Duration::from_secs_f64(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_clamps() {
        assert_eq!(
            TimeScale::faster(1000.0).real(30.0),
            Duration::from_millis(30)
        );
        assert_eq!(TimeScale::faster(-1.0).real(2.0), Duration::from_secs(2));
        assert!(TimeScale::REAL.real(1e12) < Duration::from_secs(40_000_000));
        assert_eq!(TimeScale::REAL.real(-3.0), Duration::ZERO);
    }
}
