//! Noise schedules and the three samplers (Euler Ancestral, DDIM, LCM), written so
//! that the predicted clean latent is an explicit intermediate: the likeness guards
//! edit it between `predict_x0` and `step`. Reference numbers: `tests/reference/`.

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::NoiseScheduleConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerKind {
    EulerAncestral,
    Ddim,
    Lcm,
}

/// How inference timesteps are spread over the training range (diffusers' names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spacing {
    Leading,
    Trailing,
    Linspace,
}

impl SchedulerKind {
    /// Trailing spacing for LCM (few-step, distilled models start at the last
    /// training timestep); leading, SD 1.5's shipped setting, otherwise.
    pub fn default_spacing(self) -> Spacing {
        match self {
            SchedulerKind::Lcm => Spacing::Trailing,
            _ => Spacing::Leading,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prediction {
    Epsilon,
    V,
}

/// The training noise schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub betas: Vec<f64>,
    pub alphas_cumprod: Vec<f64>,
    final_alpha: f64,
    steps_offset: usize,
    prediction: Prediction,
}

impl Schedule {
    pub fn new(c: &NoiseScheduleConfig) -> std::result::Result<Self, String> {
        let t = c.num_train_timesteps;
        if t < 2 {
            return Err("num_train_timesteps must be at least 2".into());
        }
        let lin = |a: f64, b: f64| -> Vec<f64> {
            (0..t)
                .map(|i| a + (b - a) * i as f64 / (t - 1) as f64)
                .collect()
        };
        let betas = match c.beta_schedule.as_str() {
            "scaled_linear" => lin(c.beta_start.sqrt(), c.beta_end.sqrt())
                .into_iter()
                .map(|b| b * b)
                .collect(),
            "linear" => lin(c.beta_start, c.beta_end),
            other => return Err(format!("beta_schedule {other} is not supported")),
        };
        let mut acc = 1.0;
        let alphas_cumprod: Vec<f64> = betas
            .iter()
            .map(|b| {
                acc *= 1.0 - b;
                acc
            })
            .collect();
        let prediction = match c.prediction_type.as_str() {
            "epsilon" => Prediction::Epsilon,
            "v_prediction" => Prediction::V,
            other => return Err(format!("prediction_type {other} is not supported")),
        };
        Ok(Self {
            final_alpha: if c.set_alpha_to_one {
                1.0
            } else {
                alphas_cumprod[0]
            },
            betas,
            alphas_cumprod,
            steps_offset: c.steps_offset,
            prediction,
        })
    }

    pub fn train_steps(&self) -> usize {
        self.betas.len()
    }

    /// `n` inference timesteps, highest first.
    pub fn timesteps(&self, n: usize, spacing: Spacing) -> Vec<usize> {
        let t = self.train_steps();
        let last = t - 1;
        let v: Vec<usize> = match spacing {
            Spacing::Leading => {
                let ratio = t / n;
                (0..n)
                    .rev()
                    .map(|k| k * ratio + self.steps_offset)
                    .collect()
            }
            Spacing::Trailing => {
                let ratio = t as f64 / n as f64;
                (0..n)
                    .map(|k| {
                        ((t as f64 - k as f64 * ratio).round_ties_even() as usize).saturating_sub(1)
                    })
                    .collect()
            }
            Spacing::Linspace => (0..n)
                .rev()
                .map(|k| {
                    let x = if n == 1 {
                        0.0
                    } else {
                        last as f64 * k as f64 / (n - 1) as f64
                    };
                    x.round_ties_even() as usize
                })
                .collect(),
        };
        v.into_iter().map(|x| x.min(last)).collect()
    }

    pub fn sigma(&self, t: usize) -> f64 {
        let a = self.alphas_cumprod[t];
        ((1.0 - a) / a).sqrt()
    }
}

/// Number of steps img2img runs for `strength` (diffusers: `int(n * strength)`; the
/// small epsilon keeps 0.3 × 10 from flooring to 2 after f32 rounding).
pub fn img2img_steps(n: usize, strength: f64) -> usize {
    ((n as f64 * strength + 1e-6).floor() as usize).min(n)
}

/// One sampling run: the timesteps that will actually execute.
#[derive(Debug, Clone)]
pub struct Sampler {
    pub kind: SchedulerKind,
    pub timesteps: Vec<usize>,
    schedule: Schedule,
}

impl Sampler {
    /// The last `img2img_steps(n, strength)` of `n` spaced timesteps.
    pub fn new(
        schedule: &Schedule,
        kind: SchedulerKind,
        n: usize,
        spacing: Spacing,
        strength: f64,
    ) -> Self {
        let all = schedule.timesteps(n, spacing);
        let run = img2img_steps(n, strength);
        Self {
            kind,
            timesteps: all[n - run..].to_vec(),
            schedule: schedule.clone(),
        }
    }

    fn alpha(&self, t: usize) -> f64 {
        self.schedule.alphas_cumprod[t]
    }

    fn alpha_prev(&self, i: usize) -> f64 {
        match self.timesteps.get(i + 1) {
            Some(&t) => self.alpha(t),
            None => self.schedule.final_alpha,
        }
    }

    fn sigma_at(&self, i: usize) -> f64 {
        self.timesteps
            .get(i)
            .map(|&t| self.schedule.sigma(t))
            .unwrap_or(0.0)
    }

    /// Noises the clean reference latent up to the first executed timestep.
    pub fn start(&self, x0: &Tensor, noise: &Tensor) -> Result<Tensor> {
        let Some(&t) = self.timesteps.first() else {
            return Ok(x0.clone());
        };
        match self.kind {
            SchedulerKind::EulerAncestral => x0.broadcast_add(&(noise * self.schedule.sigma(t))?),
            _ => {
                let a = self.alpha(t);
                (x0 * a.sqrt())?.broadcast_add(&(noise * (1.0 - a).sqrt())?)
            }
        }
    }

    /// What the UNet sees at step `i`.
    pub fn scale_input(&self, x: &Tensor, i: usize) -> Result<Tensor> {
        match self.kind {
            SchedulerKind::EulerAncestral => x / (self.sigma_at(i).powi(2) + 1.0).sqrt(),
            _ => Ok(x.clone()),
        }
    }

    /// The predicted clean latent at step `i` from the model output (LCM includes its
    /// consistency boundary condition, so this is what its step returns).
    pub fn predict_x0(&self, x: &Tensor, out: &Tensor, i: usize) -> Result<Tensor> {
        let t = self.timesteps[i];
        let v = self.schedule.prediction == Prediction::V;
        match self.kind {
            SchedulerKind::EulerAncestral => {
                let s = self.sigma_at(i);
                if v {
                    (out * (-s / (s * s + 1.0).sqrt()))? + (x / (s * s + 1.0))?
                } else {
                    x - (out * s)?
                }
            }
            SchedulerKind::Ddim | SchedulerKind::Lcm => {
                let a = self.alpha(t);
                let x0 = if v {
                    ((x * a.sqrt())? - (out * (1.0 - a).sqrt())?)?
                } else {
                    ((x - (out * (1.0 - a).sqrt())?)? / a.sqrt())?
                };
                if self.kind == SchedulerKind::Ddim {
                    return Ok(x0);
                }
                let st = t as f64 * 10.0;
                let sd2 = 0.25;
                let c_skip = sd2 / (st * st + sd2);
                let c_out = st / (st * st + sd2).sqrt();
                (x0 * c_out)? + (x * c_skip)?
            }
        }
    }

    /// Whether `step` uses fresh noise at step `i`.
    pub fn needs_noise(&self, i: usize) -> bool {
        match self.kind {
            SchedulerKind::EulerAncestral => true,
            SchedulerKind::Ddim => false,
            SchedulerKind::Lcm => i + 1 < self.timesteps.len(),
        }
    }

    /// Moves `x` from step `i` to the next one, given the (possibly guarded) clean
    /// latent `x0`. `noise` is required where `needs_noise(i)`.
    pub fn step(
        &self,
        x: &Tensor,
        x0: &Tensor,
        i: usize,
        noise: Option<&Tensor>,
    ) -> Result<Tensor> {
        let need = || {
            noise.ok_or_else(|| candle_core::Error::Msg("this scheduler step needs noise".into()))
        };
        match self.kind {
            SchedulerKind::EulerAncestral => {
                let (from, to) = (self.sigma_at(i), self.sigma_at(i + 1));
                let up = (to * to * (from * from - to * to) / (from * from)).sqrt();
                let down = (to * to - up * up).sqrt();
                let derivative = ((x - x0)? / from)?;
                let prev = (x + (derivative * (down - from))?)?;
                prev + (need()? * up)?
            }
            SchedulerKind::Ddim => {
                let a = self.alpha(self.timesteps[i]);
                let ap = self.alpha_prev(i);
                let eps = ((x - (x0 * a.sqrt())?)? / (1.0 - a).sqrt())?;
                (x0 * ap.sqrt())? + (eps * (1.0 - ap).sqrt())?
            }
            SchedulerKind::Lcm => {
                if i + 1 >= self.timesteps.len() {
                    return Ok(x0.clone());
                }
                let ap = self.alpha_prev(i);
                (x0 * ap.sqrt())? + (need()? * (1.0 - ap).sqrt())?
            }
        }
    }
}
