#!/usr/bin/env python3
"""Reference numbers for likeness-diffusion's schedulers (numpy only).

Follows the formulas of diffusers' DDIMScheduler, EulerAncestralDiscreteScheduler and
LCMScheduler for SD 1.5's noise schedule. Regenerate with:

    python3 schedulers.py > schedulers.json
"""
import json

import numpy as np

T = 1000
BETA_START, BETA_END = 0.00085, 0.012
STEPS_OFFSET = 1

betas = np.linspace(BETA_START**0.5, BETA_END**0.5, T, dtype=np.float64) ** 2
alphas_cumprod = np.cumprod(1.0 - betas)
final_alpha = alphas_cumprod[0]  # set_alpha_to_one = False


def timesteps(n, spacing):
    if spacing == "leading":
        ratio = T // n
        return (np.arange(0, n) * ratio).round()[::-1].astype(np.int64) + STEPS_OFFSET
    if spacing == "trailing":
        return np.round(np.arange(T, 0, -T / n)).astype(np.int64) - 1
    if spacing == "linspace":
        return np.linspace(0, T - 1, n).round()[::-1].astype(np.int64)
    raise ValueError(spacing)


def img2img(ts, strength):
    n = len(ts)
    run = min(int(n * strength + 1e-6), n)
    return ts[n - run:]


def sigma(t):
    a = alphas_cumprod[t]
    return np.sqrt((1 - a) / a)


def alpha_prev(ts, i):
    return alphas_cumprod[ts[i + 1]] if i + 1 < len(ts) else final_alpha


def euler_a(ts, i, x, eps, noise):
    s = sigma(ts[i])
    s_to = sigma(ts[i + 1]) if i + 1 < len(ts) else 0.0
    scaled = x / np.sqrt(s**2 + 1)
    x0 = x - s * eps
    up = np.sqrt(s_to**2 * (s**2 - s_to**2) / s**2)
    down = np.sqrt(s_to**2 - up**2)
    prev = x + (x - x0) / s * (down - s) + noise * up
    return {"sigma": s, "scaled_input": scaled, "x0": x0, "prev": prev}


def ddim(ts, i, x, eps):
    a = alphas_cumprod[ts[i]]
    ap = alpha_prev(ts, i)
    x0 = (x - np.sqrt(1 - a) * eps) / np.sqrt(a)
    eps2 = (x - np.sqrt(a) * x0) / np.sqrt(1 - a)
    prev = np.sqrt(ap) * x0 + np.sqrt(1 - ap) * eps2
    return {"x0": x0, "prev": prev}


def lcm(ts, i, x, eps, noise):
    t = ts[i]
    a = alphas_cumprod[t]
    st = t * 10.0
    c_skip = 0.25 / (st**2 + 0.25)
    c_out = st / np.sqrt(st**2 + 0.25)
    x0 = (x - np.sqrt(1 - a) * eps) / np.sqrt(a)
    denoised = c_out * x0 + c_skip * x
    if i + 1 < len(ts):
        ap = alpha_prev(ts, i)
        prev = np.sqrt(ap) * denoised + np.sqrt(1 - ap) * noise
    else:
        prev = denoised
    return {"x0": denoised, "prev": prev}


def main():
    k = np.arange(6, dtype=np.float64)
    x = np.sin(k + 1.0) * 1.5
    eps = np.cos(2.0 * k + 0.5)
    noise = np.sin(3.0 * k - 1.0)
    x_clean = np.cos(k) * 0.8

    out = {
        "train_steps": T,
        "betas": betas.tolist(),
        "alphas_cumprod": alphas_cumprod.tolist(),
        "timesteps": {},
        "inputs": {"x": x.tolist(), "eps": eps.tolist(), "noise": noise.tolist(), "x_clean": x_clean.tolist()},
        "steps": [],
    }
    for spacing, n in [("leading", 10), ("leading", 30), ("trailing", 4), ("trailing", 10), ("linspace", 7)]:
        out["timesteps"][f"{spacing}_{n}"] = timesteps(n, spacing).tolist()
    ts_l10 = timesteps(10, "leading")
    out["img2img"] = {
        "leading_10_strength_0.6": img2img(ts_l10, 0.6).tolist(),
        "trailing_4_strength_0.5": img2img(timesteps(4, "trailing"), 0.5).tolist(),
    }
    out["sigmas_leading_10"] = [sigma(t) for t in ts_l10]

    def case(kind, spacing, n, strength, i, r):
        ts = img2img(timesteps(n, spacing), strength)
        entry = {"scheduler": kind, "spacing": spacing, "n": n, "strength": strength, "i": i}
        entry.update({key: (v.tolist() if isinstance(v, np.ndarray) else float(v)) for key, v in r(ts).items()})
        # Start of img2img: the clean latent noised to the first executed timestep.
        t0 = ts[0]
        if kind == "euler_ancestral":
            entry["start"] = (x_clean + noise * sigma(t0)).tolist()
        else:
            a = alphas_cumprod[t0]
            entry["start"] = (np.sqrt(a) * x_clean + np.sqrt(1 - a) * noise).tolist()
        out["steps"].append(entry)

    case("euler_ancestral", "leading", 10, 1.0, 0, lambda ts: euler_a(ts, 0, x, eps, noise))
    case("euler_ancestral", "leading", 10, 0.6, 2, lambda ts: euler_a(ts, 2, x, eps, noise))
    case("euler_ancestral", "trailing", 4, 1.0, 3, lambda ts: euler_a(ts, 3, x, eps, noise))
    case("ddim", "leading", 10, 1.0, 2, lambda ts: ddim(ts, 2, x, eps))
    case("ddim", "leading", 10, 0.6, 5, lambda ts: ddim(ts, 5, x, eps))
    case("lcm", "trailing", 4, 1.0, 1, lambda ts: lcm(ts, 1, x, eps, noise))
    case("lcm", "trailing", 4, 1.0, 3, lambda ts: lcm(ts, 3, x, eps, noise))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
