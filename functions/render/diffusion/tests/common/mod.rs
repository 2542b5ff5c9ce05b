//! Writes a tiny random-weight model folder in diffusers layout. The weights are
//! created by asking this crate's own model builders for every tensor through a
//! `VarMap`, so names and shapes are exactly what loading expects; `real_key_names`
//! in tests/model.rs checks those names against diffusers' and transformers' layouts.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use likeness_diffusion::clip::{TextEncoder, VisionEncoder};
use likeness_diffusion::config::{ClipConfig, UNetConfig, VaeConfig};
use likeness_diffusion::ip_adapter::ImageProj;
use likeness_diffusion::unet::UNet;
use likeness_diffusion::vae::Vae;

pub const UNET_CONFIG: &str = r#"{
  "_class_name": "UNet2DConditionModel",
  "in_channels": 4, "out_channels": 4,
  "block_out_channels": [32, 64],
  "layers_per_block": 1,
  "cross_attention_dim": 32,
  "attention_head_dim": 4,
  "norm_num_groups": 32,
  "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
  "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
  "flip_sin_to_cos": true, "freq_shift": 0
}"#;

pub const VAE_CONFIG: &str = r#"{
  "_class_name": "AutoencoderKL",
  "in_channels": 3, "out_channels": 3,
  "block_out_channels": [16, 32],
  "layers_per_block": 1,
  "latent_channels": 4,
  "norm_num_groups": 8,
  "scaling_factor": 0.18215
}"#;

pub const VISION_CONFIG: &str = r#"{
  "hidden_size": 32, "intermediate_size": 64,
  "num_hidden_layers": 1, "num_attention_heads": 4,
  "hidden_act": "gelu", "image_size": 32, "patch_size": 8,
  "projection_dim": 24
}"#;

pub const SCHEDULER_CONFIG: &str = r#"{
  "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
  "num_train_timesteps": 1000, "steps_offset": 1, "set_alpha_to_one": false,
  "prediction_type": "epsilon"
}"#;

/// GPT-2 byte → character table (independent copy of the tokenizer's).
fn byte_chars() -> Vec<char> {
    let mut bs: Vec<u32> = (33..=126).chain(161..=172).chain(174..=255).collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    let mut table = vec!['\0'; 256];
    for (b, c) in bs.iter().zip(cs) {
        table[*b as usize] = char::from_u32(c).unwrap();
    }
    table
}

const MERGES: &[(&str, &str)] = &[
    ("o", "i"),
    ("oi", "l</w>"),
    ("a", "t</w>"),
    ("c", "at</w>"),
    ("d", "o"),
    ("do", "g</w>"),
    ("p", "a"),
    ("pa", "i"),
    ("n", "t"),
    ("e", "r</w>"),
];

fn text_config(vocab: usize) -> String {
    format!(
        r#"{{"vocab_size": {vocab}, "hidden_size": 32, "intermediate_size": 64,
  "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 77,
  "hidden_act": "quick_gelu"}}"#
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn vb(map: &VarMap) -> VarBuilder<'static> {
    VarBuilder::from_varmap(map, DType::F32, &Device::Cpu)
}

/// Writes the tiny model (with IP-Adapter) to `dir`.
pub fn write_tiny_model(dir: &Path) {
    // tokenizer: 256 byte chars, the same with </w>, the merges, the two specials
    let bc = byte_chars();
    let mut vocab: HashMap<String, u32> = HashMap::new();
    for c in &bc {
        let n = vocab.len() as u32;
        vocab.insert(c.to_string(), n);
    }
    for c in &bc {
        let n = vocab.len() as u32;
        vocab.insert(format!("{c}</w>"), n);
    }
    for (a, b) in MERGES {
        let n = vocab.len() as u32;
        vocab.entry(format!("{a}{b}")).or_insert(n);
    }
    for s in ["<|startoftext|>", "<|endoftext|>"] {
        let n = vocab.len() as u32;
        vocab.insert(s.into(), n);
    }
    let merges: String = std::iter::once("#version: 0.2".to_string())
        .chain(MERGES.iter().map(|(a, b)| format!("{a} {b}")))
        .collect::<Vec<_>>()
        .join("\n");
    write(
        &dir.join("tokenizer/vocab.json"),
        &serde_json::to_string(&vocab).unwrap(),
    );
    write(&dir.join("tokenizer/merges.txt"), &merges);

    let text_cfg = text_config(vocab.len());
    write(&dir.join("text_encoder/config.json"), &text_cfg);
    write(&dir.join("unet/config.json"), UNET_CONFIG);
    write(&dir.join("vae/config.json"), VAE_CONFIG);
    write(&dir.join("image_encoder/config.json"), VISION_CONFIG);
    write(
        &dir.join("scheduler/scheduler_config.json"),
        SCHEDULER_CONFIG,
    );

    let text_cfg: ClipConfig = serde_json::from_str(&text_cfg).unwrap();
    let m = VarMap::new();
    TextEncoder::new(vb(&m), &text_cfg).unwrap();
    m.save(dir.join("text_encoder/model.safetensors")).unwrap();

    let vis_cfg: ClipConfig = serde_json::from_str(VISION_CONFIG).unwrap();
    let m = VarMap::new();
    VisionEncoder::new(vb(&m), &vis_cfg).unwrap();
    m.save(dir.join("image_encoder/model.safetensors")).unwrap();

    let vae_cfg: VaeConfig = serde_json::from_str(VAE_CONFIG).unwrap();
    let m = VarMap::new();
    Vae::new(vb(&m), &vae_cfg).unwrap();
    m.save(dir.join("vae/diffusion_pytorch_model.safetensors"))
        .unwrap();

    let unet_cfg: UNetConfig = serde_json::from_str(UNET_CONFIG).unwrap();
    let m = VarMap::new();
    let ip = VarMap::new();
    UNet::new(vb(&m), &unet_cfg, Some(vb(&ip).pp("ip_adapter"))).unwrap();
    ImageProj::new(vb(&ip).pp("image_proj"), vis_cfg.projection_dim, 32, 4).unwrap();
    std::fs::create_dir_all(dir.join("ip_adapter")).unwrap();
    m.save(dir.join("unet/diffusion_pytorch_model.safetensors"))
        .unwrap();
    ip.save(dir.join("ip_adapter/ip-adapter_tiny.safetensors"))
        .unwrap();
}

/// A 32×32 test photo: a warm disc (the "subject") on a cool gradient.
pub fn photo(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let dx = x as f32 - w as f32 / 2.0;
        let dy = y as f32 - h as f32 / 2.0;
        if dx * dx + dy * dy < (w.min(h) as f32 / 3.0).powi(2) {
            image::Rgb([220, 160, 120])
        } else {
            image::Rgb([40, (100 + y * 3 % 100) as u8, (150 + x * 2 % 100) as u8])
        }
    })
}
