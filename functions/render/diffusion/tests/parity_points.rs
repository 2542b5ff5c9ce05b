//! The five differences once found between this crate and the reference
//! implementation (diffusers 0.42 / transformers 5), each pinned by a test against the
//! files `reference/diffusion_parity.py` wrote into `reference/diffusion/`. These use
//! only the crate's long-standing API, so they also run against older versions of it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use likeness_diffusion::clip;
use likeness_diffusion::tokenizer::ClipTokenizer;
use likeness_diffusion::{DiffusionModel, LoadError, TensorProblem};
use serde_json::Value;

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

/// max |got − want| / max |want|.
fn assert_close(what: &str, got: &Tensor, want: &Tensor, tol: f32) {
    assert_eq!(got.dims(), want.dims(), "{what}: shape");
    let diff = (got - want).unwrap().abs().unwrap().max_all().unwrap();
    let scale = want.abs().unwrap().max_all().unwrap();
    let e = diff.to_scalar::<f32>().unwrap() / scale.to_scalar::<f32>().unwrap().max(1e-6);
    assert!(e <= tol, "{what}: relative error {e:.3e} > {tol:.0e}");
}

// --- the five points ----------------------------------------------------------

/// Point 1: `CLIPImageProcessor` truncates the long side (200×305 → 32×48, not 49).
#[test]
fn clip_preprocess_sizes_like_clip_image_processor() {
    let r = reference();
    let px = clip::preprocess(&png("crop_200x305.png"), 32, DType::F32, &Device::Cpu).unwrap();
    assert_close(
        "preprocess 200x305",
        &px,
        &r["preprocess.crop_200x305.png"],
        1e-5,
    );
}

/// Point 2: at the same resized size (33×50 → 32×48 either way) the pixels are
/// Pillow's bicubic ones, bit for bit after normalisation.
#[test]
fn clip_preprocess_resamples_like_pillow() {
    let r = reference();
    for name in ["crop_33x50.png", "crop_45x31.png", "crop_32x32.png"] {
        let px = clip::preprocess(&png(name), 32, DType::F32, &Device::Cpu).unwrap();
        assert_close(name, &px, &r[&format!("preprocess.{name}")], 1e-5);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Rewrites the folder's text encoder with transformers 4's `text_model.` prefix.
fn prefix_text_encoder(d: &Path) {
    let path = d.join("text_encoder/model.safetensors");
    let t: HashMap<String, Tensor> = candle_core::safetensors::load(&path, &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (format!("text_model.{k}"), v))
        .collect();
    candle_core::safetensors::save(&t, &path).unwrap();
}

fn load_err(dir: &Path) -> Vec<TensorProblem> {
    match DiffusionModel::load(dir, DType::F32, &Device::Cpu) {
        Err(LoadError::Tensors(p)) => p,
        Err(e) => panic!("expected tensor problems, got {e}"),
        Ok(_) => panic!("expected {} to be refused", dir.display()),
    }
}

/// Point 3: an LCM-distilled UNet whose config lost `time_cond_proj_dim` is refused
/// (its `time_embedding.cond_proj.weight` is unused) instead of running without the
/// guidance embedding; so is any unused key in the UNet, VAE or encoders.
#[test]
fn unused_unet_vae_and_encoder_keys_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("m");
    copy_dir(&model_dir(), &d);
    // Independent of point 5: the text encoder in the layout every version reads.
    prefix_text_encoder(&d);
    std::fs::copy(
        dir().join("unet_lcm/diffusion_pytorch_model.safetensors"),
        d.join("unet/diffusion_pytorch_model.safetensors"),
    )
    .unwrap();
    // the folder's adapter was made for this UNet layout, which the LCM variant shares
    let problems = load_err(&d);
    assert_eq!(
        problems,
        vec![TensorProblem::Unexpected {
            component: "unet".into(),
            name: "time_embedding.cond_proj.weight".into()
        }]
    );

    // An extra tensor in each of the VAE, text and image encoders.
    let d2 = tmp.path().join("m2");
    copy_dir(&model_dir(), &d2);
    prefix_text_encoder(&d2);
    for (component, file) in [
        ("vae", "diffusion_pytorch_model.safetensors"),
        ("text_encoder", "model.safetensors"),
        ("image_encoder", "model.safetensors"),
    ] {
        let path = d2.join(component).join(file);
        let mut t = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
        t.insert(
            "extra.weight".into(),
            Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
        );
        candle_core::safetensors::save(&t, &path).unwrap();
    }
    let problems = load_err(&d2);
    let names: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        names,
        vec![
            "text_encoder: unexpected key `extra.weight`",
            "vae: unexpected key `extra.weight`",
            "image_encoder: unexpected key `extra.weight`",
        ]
    );
}

/// Point 4: token ids equal transformers' for NFD input, Devanagari marks, Greek
/// capitals, CJK, emoji, full-width digits, whitespace runs and truncation.
#[test]
fn tokenizer_matches_transformers() {
    let tok = ClipTokenizer::from_dir(&model_dir().join("tokenizer")).unwrap();
    let mut wrong = Vec::new();
    for case in meta()["tokenizer"].as_array().unwrap() {
        let prompt = case["prompt"].as_str().unwrap();
        let want: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        if tok.encode(prompt, 77) != want {
            wrong.push(prompt.to_string());
        }
    }
    assert!(wrong.is_empty(), "token ids differ for {wrong:?}");
}

/// Point 5: the text encoder here was saved by transformers 5 (no `text_model.`
/// prefix); the folder loads, and so does the same encoder with the prefix.
#[test]
fn text_encoders_of_both_key_layouts_load() {
    DiffusionModel::load(&model_dir(), DType::F32, &Device::Cpu).unwrap_or_else(|e| panic!("{e}"));

    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("m");
    copy_dir(&model_dir(), &d);
    prefix_text_encoder(&d);
    DiffusionModel::load(&d, DType::F32, &Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
}
