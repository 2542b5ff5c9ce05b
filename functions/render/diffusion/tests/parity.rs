//! Parity with the reference implementation (diffusers / transformers in PyTorch,
//! float32), against the files `reference/diffusion_parity.py` wrote into
//! `reference/diffusion/` (versions in `reference/diffusion/reference.json`).
//!
//! Tolerances: components in f32 agree to `F32_TOL` of the reference's largest
//! magnitude; the same model in f16 to `F16_TOL`; end-to-end img2img to one grey level.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use likeness_diffusion::clip::{self, TextEncoder, VisionEncoder};
use likeness_diffusion::config::{ClipConfig, UNetConfig, VaeConfig};
use likeness_diffusion::ip_adapter::ImageProj;
use likeness_diffusion::tokenizer::ClipTokenizer;
use likeness_diffusion::unet::{ImageTokens, UNet};
use likeness_diffusion::vae::Vae;
use likeness_diffusion::{DiffusionModel, Guards, Img2ImgRequest, NoiseSource, SchedulerKind};
use serde_json::Value;

const F32_TOL: f32 = 1e-4;
const F16_TOL: f32 = 2e-2;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/diffusion")
}

fn model_dir() -> PathBuf {
    dir().join("model")
}

fn reference() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir().join("reference.safetensors"), &Device::Cpu).unwrap()
}

fn meta() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("reference.json")).unwrap()).unwrap()
}

fn png(name: &str) -> image::RgbImage {
    image::open(dir().join(name)).unwrap().to_rgb8()
}

fn config<T: for<'de> serde::Deserialize<'de>>(path: &Path) -> T {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn vb(files: &[PathBuf], dtype: DType) -> VarBuilder<'static> {
    // SAFETY: test files, mapped read-only and never rewritten while mapped.
    unsafe { VarBuilder::from_mmaped_safetensors(files, dtype, &Device::Cpu) }.unwrap()
}

/// max |got − want| / max |want|.
fn rel_err(got: &Tensor, want: &Tensor) -> f32 {
    let got = got.to_dtype(DType::F32).unwrap();
    assert_eq!(got.dims(), want.dims(), "shape");
    let diff = (got - want).unwrap().abs().unwrap().max_all().unwrap();
    let scale = want.abs().unwrap().max_all().unwrap();
    diff.to_scalar::<f32>().unwrap() / scale.to_scalar::<f32>().unwrap().max(1e-6)
}

fn assert_close(what: &str, got: &Tensor, want: &Tensor, tol: f32) {
    let e = rel_err(got, want);
    assert!(e <= tol, "{what}: relative error {e:.3e} > {tol:.0e}");
}

// --- components ---------------------------------------------------------------

#[test]
fn pillow_bicubic_is_reproduced_exactly() {
    let r = reference();
    let src = png("resize_src.png");
    for size in meta()["resize_sizes"].as_array().unwrap() {
        let (w, h) = (
            size[0].as_u64().unwrap() as u32,
            size[1].as_u64().unwrap() as u32,
        );
        let got = likeness_diffusion::resample::resize_bicubic(&src, w, h);
        let want: Vec<u8> = r[&format!("resize.{w}x{h}")]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .into_iter()
            .map(|v| v as u8)
            .collect();
        let differing = got
            .as_raw()
            .iter()
            .zip(&want)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differing,
            0,
            "{w}x{h}: {differing} of {} bytes differ",
            want.len()
        );
    }
}

#[test]
fn text_encoder_matches() {
    let r = reference();
    let cfg: ClipConfig = config(&model_dir().join("text_encoder/config.json"));
    let enc = TextEncoder::with_root(
        vb(
            &[model_dir().join("text_encoder/model.safetensors")],
            DType::F32,
        ),
        &cfg,
    )
    .unwrap();
    let ids: Vec<u32> = r["text.ids"]
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(|v| v as u32)
        .collect();
    let tok = ClipTokenizer::from_dir(&model_dir().join("tokenizer")).unwrap();
    let prompt = meta()["tokenizer"][0]["prompt"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(tok.encode(&prompt, 77), ids);
    let ids = Tensor::from_vec(ids, (1, 77), &Device::Cpu).unwrap();
    assert_close(
        "text hidden",
        &enc.forward(&ids).unwrap(),
        &r["text.hidden"],
        F32_TOL,
    );
}

fn vision() -> VisionEncoder {
    let cfg: ClipConfig = config(&model_dir().join("image_encoder/config.json"));
    VisionEncoder::new(
        vb(
            &[model_dir().join("image_encoder/model.safetensors")],
            DType::F32,
        ),
        &cfg,
    )
    .unwrap()
}

#[test]
fn vision_encoder_matches_from_photo_to_embeds() {
    let r = reference();
    let v = vision();
    for name in meta()["crops"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        let px = clip::preprocess(&png(name), 32, DType::F32, &Device::Cpu).unwrap();
        assert_close(
            name,
            &v.forward(&px).unwrap(),
            &r[&format!("image_embeds.{name}")],
            F32_TOL,
        );
    }
}

fn adapter(
    unet_cfg: &UNetConfig,
    unet_file: &Path,
    ip_file: &Path,
    dtype: DType,
) -> (UNet, ImageProj) {
    let ip = vb(&[ip_file.to_path_buf()], dtype);
    let (unet, _) = UNet::new(
        vb(&[unet_file.to_path_buf()], dtype),
        unet_cfg,
        Some(ip.pp("ip_adapter")),
    )
    .unwrap();
    let proj = ImageProj::new(ip.pp("image_proj"), 24, unet_cfg.cross_attention_dim, 4).unwrap();
    (unet, proj)
}

#[test]
fn image_projection_matches() {
    let r = reference();
    let cfg: UNetConfig = config(&model_dir().join("unet/config.json"));
    let (_, proj) = adapter(
        &cfg,
        &model_dir().join("unet/diffusion_pytorch_model.safetensors"),
        &model_dir().join("ip_adapter/ip-adapter_tiny.safetensors"),
        DType::F32,
    );
    let emb = &r["image_embeds.crop_200x305.png"];
    // diffusers returns [B, images, tokens, cross]; one image here
    let want = |k: &str| r[k].squeeze(1).unwrap();
    assert_close(
        "tokens",
        &proj.forward(emb).unwrap(),
        &want("image_proj.tokens"),
        F32_TOL,
    );
    let zero = emb.zeros_like().unwrap();
    assert_close(
        "zero tokens",
        &proj.forward(&zero).unwrap(),
        &want("image_proj.zero"),
        F32_TOL,
    );
}

#[test]
fn vae_encode_and_decode_match() {
    let r = reference();
    let cfg: VaeConfig = config(&model_dir().join("vae/config.json"));
    let vae = Vae::new(
        vb(
            &[model_dir().join("vae/diffusion_pytorch_model.safetensors")],
            DType::F32,
        ),
        &cfg,
    )
    .unwrap();
    let photo = png("photo_36x28.png");
    let mut data = vec![0f32; 3 * 36 * 28];
    for (x, y, p) in photo.enumerate_pixels() {
        for c in 0..3 {
            data[c * 36 * 28 + y as usize * 36 + x as usize] = p[c] as f32 / 127.5 - 1.0;
        }
    }
    let px = Tensor::from_vec(data, (1, 3, 28, 36), &Device::Cpu).unwrap();
    assert_close(
        "encode",
        &vae.encode(&px).unwrap(),
        &r["vae.latent"],
        F32_TOL,
    );
    assert_close(
        "decode (odd latent 7x9)",
        &vae.decode(&r["vae.z"]).unwrap(),
        &r["vae.decoded"],
        F32_TOL,
    );
}

fn unet_case(prefix: &str, folder: &Path, ip: &Path, scale: f32, dtype: DType, tol: f32) {
    let r = reference();
    let t = meta()["unet_t"].as_f64().unwrap();
    let cfg: UNetConfig = config(&folder.join("config.json"));
    let (unet, proj) = adapter(
        &cfg,
        &folder.join("diffusion_pytorch_model.safetensors"),
        ip,
        dtype,
    );
    let tokens = proj
        .forward(&r["unet.image_embeds"].to_dtype(dtype).unwrap())
        .unwrap();
    let want = r[&format!("{prefix}.image_tokens")].squeeze(1).unwrap();
    assert_close(&format!("{prefix} image tokens"), &tokens, &want, tol);
    let out = unet
        .forward(
            &r["unet.x"].to_dtype(dtype).unwrap(),
            t,
            &r["unet.ctx"].to_dtype(dtype).unwrap(),
            Some(ImageTokens {
                tokens: &tokens,
                scale: scale as f64,
            }),
        )
        .unwrap();
    let key = if prefix == "unet" {
        format!("unet.out.{scale:?}")
    } else {
        format!("{prefix}.out")
    };
    assert_close(
        &format!("{prefix} at scale {scale} in {dtype:?}"),
        &out,
        &r[&key],
        tol,
    );
}

#[test]
fn unet_matches_at_several_adapter_scales_and_odd_latents() {
    for s in meta()["unet_scales"].as_array().unwrap() {
        unet_case(
            "unet",
            &model_dir().join("unet"),
            &model_dir().join("ip_adapter/ip-adapter_tiny.safetensors"),
            s.as_f64().unwrap() as f32,
            DType::F32,
            F32_TOL,
        );
    }
}

#[test]
fn unet_with_linear_projection_and_per_block_heads_matches() {
    unet_case(
        "unet_linear",
        &dir().join("unet_linear"),
        &dir().join("unet_linear/ip-adapter.safetensors"),
        0.7,
        DType::F32,
        F32_TOL,
    );
}

#[test]
fn half_precision_stays_close_to_the_f32_reference() {
    unet_case(
        "unet",
        &model_dir().join("unet"),
        &model_dir().join("ip_adapter/ip-adapter_tiny.safetensors"),
        1.0,
        DType::F16,
        F16_TOL,
    );
}

#[test]
fn lcm_guidance_embedding_and_unet_match() {
    let r = reference();
    let t = meta()["unet_t"].as_f64().unwrap();
    let guidance: Vec<f32> = meta()["lcm_guidance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let rows: Vec<Tensor> = guidance
        .iter()
        .map(|g| {
            likeness_diffusion::unet::guidance_embedding(g - 1.0, 16, 1, &Device::Cpu).unwrap()
        })
        .collect();
    let w = Tensor::cat(&rows, 0).unwrap();
    assert_close("w embedding", &w, &r["unet_lcm.w_embedding"], 1e-5);

    let folder = dir().join("unet_lcm");
    let cfg: UNetConfig = config(&folder.join("config.json"));
    assert_eq!(cfg.time_cond_proj_dim, Some(16));
    let (unet, _) = UNet::new(
        vb(
            &[folder.join("diffusion_pytorch_model.safetensors")],
            DType::F32,
        ),
        &cfg,
        None,
    )
    .unwrap();
    let (x, ctx) = (&r["unet.x"], &r["unet.ctx"]);
    let out = unet.forward_cond(x, t, ctx, None, Some(&w)).unwrap();
    assert_close("lcm unet", &out, &r["unet_lcm.out"], F32_TOL);
    let plain = unet.forward(x, t, ctx, None).unwrap();
    assert_close(
        "lcm unet without condition",
        &plain,
        &r["unet_lcm.out_without_cond"],
        F32_TOL,
    );
}

// --- img2img end to end -------------------------------------------------------

/// Replays the reference's recorded noise, in the order it was drawn.
struct Replay(Vec<Tensor>);

impl NoiseSource for Replay {
    fn next(
        &mut self,
        shape: (usize, usize, usize, usize),
        _: &Device,
    ) -> candle_core::Result<Tensor> {
        let t = self.0.remove(0);
        assert_eq!(t.dims(), [shape.0, shape.1, shape.2, shape.3]);
        Ok(t)
    }
}

fn img2img_case(case: &Value, dtype: DType) -> (Vec<image::RgbImage>, Vec<u8>) {
    let r = reference();
    let kind = case["kind"].as_str().unwrap();
    let model =
        DiffusionModel::load(&model_dir(), dtype, &Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
    let batch = case["batch"].as_u64().unwrap() as usize;
    let req = Img2ImgRequest {
        image: png("photo_36x28.png"),
        subject_crop: png("crop_45x31.png"),
        subject_box: None,
        prompt: case["prompt"].as_str().unwrap().into(),
        negative_prompt: case["negative_prompt"].as_str().unwrap().into(),
        strength: case["strength"].as_f64().unwrap() as f32,
        steps: case["steps"].as_u64().unwrap() as usize,
        scheduler: match kind {
            "ddim" => SchedulerKind::Ddim,
            _ => SchedulerKind::EulerAncestral,
        },
        spacing: None,
        guidance: case["guidance"].as_f64().unwrap() as f32,
        ip_scale: case["ip_scale"].as_f64().unwrap() as f32,
        seeds: (0..batch as u64).collect(),
        guards: Guards {
            colour: 0.0,
            anchor: 0.0,
            ..Guards::default()
        },
    };
    let noise = &r[&format!("img2img.{kind}.noise")];
    let draws = (0..noise.dim(0).unwrap())
        .map(|i| noise.get(i).unwrap())
        .collect();
    let mut replay = Replay(draws);
    let out = model.img2img_with_noise(&req, &mut replay).unwrap();
    assert!(
        replay.0.is_empty(),
        "{kind}: {} recorded draws unused",
        replay.0.len()
    );
    let want: Vec<u8> = r[&format!("img2img.{kind}.images")]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(|v| v as u8)
        .collect();
    (out, want)
}

fn grey_level_diffs(out: &[image::RgbImage], want: &[u8]) -> (u8, usize) {
    let got: Vec<u8> = out.iter().flat_map(|i| i.as_raw().clone()).collect();
    assert_eq!(got.len(), want.len());
    let max = got
        .iter()
        .zip(want)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    let n = got.iter().zip(want).filter(|(a, b)| a != b).count();
    (max, n)
}

#[test]
fn img2img_matches_end_to_end_with_the_same_noise() {
    for case in meta()["img2img"].as_array().unwrap() {
        let (out, want) = img2img_case(case, DType::F32);
        let (max, n) = grey_level_diffs(&out, &want);
        assert!(
            max <= 1,
            "{}: max difference {max} grey levels ({n} bytes differ)",
            case["kind"]
        );
    }
}

#[test]
fn img2img_in_half_precision_stays_close() {
    let case = &meta()["img2img"][0];
    let (out, want) = img2img_case(case, DType::F16);
    let got: Vec<u8> = out.iter().flat_map(|i| i.as_raw().clone()).collect();
    let mean = got
        .iter()
        .zip(&want)
        .map(|(a, b)| a.abs_diff(*b) as f64)
        .sum::<f64>()
        / want.len() as f64;
    assert!(mean <= 2.0, "f16: mean difference {mean:.2} grey levels");
}
