//! Scheduler numbers against `reference/schedulers.json`, produced by the numpy script
//! beside it (`python3 reference/schedulers.py > reference/schedulers.json`).

use candle_core::{Device, Tensor};
use likeness_diffusion::config::NoiseScheduleConfig;
use likeness_diffusion::scheduler::{Sampler, Schedule, SchedulerKind, Spacing};
use serde_json::Value;

const TOL: f64 = 1e-5;

fn reference() -> Value {
    serde_json::from_str(include_str!("reference/schedulers.json")).unwrap()
}

fn sd15() -> Schedule {
    let cfg: NoiseScheduleConfig = serde_json::from_str(r#"{"steps_offset": 1}"#).unwrap();
    Schedule::new(&cfg).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= TOL * w.abs().max(1.0),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

fn tensor(v: &[f64]) -> Tensor {
    let f: Vec<f32> = v.iter().map(|x| *x as f32).collect();
    Tensor::from_vec(f, (1, v.len()), &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

fn spacing(s: &str) -> Spacing {
    match s {
        "leading" => Spacing::Leading,
        "trailing" => Spacing::Trailing,
        "linspace" => Spacing::Linspace,
        _ => panic!("{s}"),
    }
}

#[test]
fn betas_and_alphas_match() {
    let r = reference();
    let s = sd15();
    close("betas", &s.betas, &floats(&r["betas"]));
    close(
        "alphas_cumprod",
        &s.alphas_cumprod,
        &floats(&r["alphas_cumprod"]),
    );
}

#[test]
fn timesteps_and_sigmas_match() {
    let r = reference();
    let s = sd15();
    for (key, want) in r["timesteps"].as_object().unwrap() {
        let (sp, n) = key.split_once('_').unwrap();
        let got: Vec<f64> = s
            .timesteps(n.parse().unwrap(), spacing(sp))
            .into_iter()
            .map(|t| t as f64)
            .collect();
        assert_eq!(got, floats(want), "{key}");
    }
    let sig: Vec<f64> = s
        .timesteps(10, Spacing::Leading)
        .into_iter()
        .map(|t| s.sigma(t))
        .collect();
    close("sigmas", &sig, &floats(&r["sigmas_leading_10"]));

    let got = Sampler::new(&s, SchedulerKind::Ddim, 10, Spacing::Leading, 0.6).timesteps;
    let want = floats(&r["img2img"]["leading_10_strength_0.6"]);
    assert_eq!(got.iter().map(|&t| t as f64).collect::<Vec<_>>(), want);
    let got = Sampler::new(&s, SchedulerKind::Lcm, 4, Spacing::Trailing, 0.5).timesteps;
    let want = floats(&r["img2img"]["trailing_4_strength_0.5"]);
    assert_eq!(got.iter().map(|&t| t as f64).collect::<Vec<_>>(), want);
}

#[test]
fn one_step_of_each_scheduler_matches() {
    let r = reference();
    let s = sd15();
    let inputs = &r["inputs"];
    let (x, eps, noise, clean) = (
        tensor(&floats(&inputs["x"])),
        tensor(&floats(&inputs["eps"])),
        tensor(&floats(&inputs["noise"])),
        tensor(&floats(&inputs["x_clean"])),
    );
    let cases = r["steps"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    for c in cases {
        let kind = match c["scheduler"].as_str().unwrap() {
            "euler_ancestral" => SchedulerKind::EulerAncestral,
            "ddim" => SchedulerKind::Ddim,
            "lcm" => SchedulerKind::Lcm,
            k => panic!("{k}"),
        };
        let n = c["n"].as_u64().unwrap() as usize;
        let i = c["i"].as_u64().unwrap() as usize;
        let sampler = Sampler::new(
            &s,
            kind,
            n,
            spacing(c["spacing"].as_str().unwrap()),
            c["strength"].as_f64().unwrap(),
        );
        let what = format!("{kind:?} n={n} i={i}");
        close(
            &format!("{what} start"),
            &values(&sampler.start(&clean, &noise).unwrap()),
            &floats(&c["start"]),
        );
        if let Some(want) = c.get("scaled_input") {
            close(
                &format!("{what} scaled"),
                &values(&sampler.scale_input(&x, i).unwrap()),
                &floats(want),
            );
        }
        let x0 = sampler.predict_x0(&x, &eps, i).unwrap();
        close(&format!("{what} x0"), &values(&x0), &floats(&c["x0"]));
        let nz = sampler.needs_noise(i).then_some(&noise);
        let prev = sampler.step(&x, &x0, i, nz).unwrap();
        close(&format!("{what} prev"), &values(&prev), &floats(&c["prev"]));
    }
}
