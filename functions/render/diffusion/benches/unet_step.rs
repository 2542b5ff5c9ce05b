//! One UNet step at SD 1.5 dimensions: 64×64 latents, batch 2, f32, random weights.
//!
//! Times this crate's UNet with the IP-Adapter branch (scale 1) against the same UNet
//! without the adapter (baseline), interleaved in the same run.
//! `cargo bench -p likeness-diffusion --bench unet_step`; `BENCH_ITERS` (default 5)
//! sets the repetitions. `BENCH_CANDLE=1` adds candle-transformers' SD UNet on the very
//! same tensors as a third variant (unsliced attention: needs about 8 GB more memory;
//! candle 0.11.1's sliced attention fails with a rank error).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::stable_diffusion::unet_2d::{
    BlockConfig, UNet2DConditionModel, UNet2DConditionModelConfig,
};
use likeness_diffusion::config::UNetConfig;
use likeness_diffusion::unet::{ImageTokens, UNet};

const SD15_UNET: &str = r#"{
  "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2,
  "cross_attention_dim": 768, "attention_head_dim": 8,
  "down_block_types": ["CrossAttnDownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D","DownBlock2D"],
  "up_block_types": ["UpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D"]
}"#;

fn candle_config() -> UNet2DConditionModelConfig {
    let b = |c, cross: bool| BlockConfig {
        out_channels: c,
        use_cross_attn: cross.then_some(1),
        attention_head_dim: 8,
    };
    UNet2DConditionModelConfig {
        center_input_sample: false,
        flip_sin_to_cos: true,
        freq_shift: 0.,
        blocks: vec![b(320, true), b(640, true), b(1280, true), b(1280, false)],
        layers_per_block: 2,
        downsample_padding: 1,
        mid_block_scale_factor: 1.,
        norm_num_groups: 32,
        norm_eps: 1e-5,
        cross_attention_dim: 768,
        sliced_attention_size: None,
        use_linear_projection: false,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> candle_core::Result<()> {
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dev = Device::Cpu;
    let cfg: UNetConfig = serde_json::from_str(SD15_UNET).expect("config");

    let weights = VarMap::new();
    let adapter = VarMap::new();
    let vb = |m: &VarMap| VarBuilder::from_varmap(m, DType::F32, &dev);
    let (ours, _) = UNet::new(vb(&weights), &cfg, Some(vb(&adapter).pp("ip_adapter")))?;
    let (plain, _) = UNet::new(vb(&weights), &cfg, None)?;
    let with_candle = std::env::var("BENCH_CANDLE").is_ok_and(|v| v == "1");
    let tensors: HashMap<String, Tensor> = weights
        .data()
        .lock()
        .expect("varmap")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let theirs = if with_candle {
        Some(UNet2DConditionModel::new(
            VarBuilder::from_tensors(tensors, DType::F32, &dev),
            4,
            4,
            false,
            candle_config(),
        )?)
    } else {
        None
    };

    let x = Tensor::randn(0f32, 1., (2, 4, 64, 64), &dev)?;
    let text = Tensor::randn(0f32, 1., (2, 77, 768), &dev)?;
    let tokens = Tensor::randn(0f32, 1., (2, 4, 768), &dev)?;
    let image = ImageTokens {
        tokens: &tokens,
        scale: 1.0,
    };

    if let Some(theirs) = &theirs {
        // Same weights, no adapter: the two UNets must agree before speeds are compared.
        let a = plain.forward(&x, 500., &text, None)?;
        let b = theirs.forward(&x, 500., &text)?;
        let diff = (a - &b)?.abs()?.max_all()?.to_scalar::<f32>()?;
        let scale = b.abs()?.max_all()?.to_scalar::<f32>()?;
        println!(
            "agreement with candle-transformers' UNet: max |diff| = {diff:.3e} (max |out| = {scale:.3e})"
        );
    } else {
        // Warm-up (allocator, rayon pool).
        plain.forward(&x, 500., &text, None)?;
    }

    let (mut t_ours, mut t_plain, mut t_theirs) = (vec![], vec![], vec![]);
    for _ in 0..iters {
        // Interleaved so machine load hits all variants alike.
        let s = Instant::now();
        ours.forward(&x, 500., &text, Some(image))?;
        t_ours.push(s.elapsed());
        let s = Instant::now();
        plain.forward(&x, 500., &text, None)?;
        t_plain.push(s.elapsed());
        if let Some(theirs) = &theirs {
            let s = Instant::now();
            theirs.forward(&x, 500., &text)?;
            t_theirs.push(s.elapsed());
        }
    }
    let (o, p) = (median(t_ours), median(t_plain));
    println!("UNet step, SD 1.5 dims, 64x64 latents, batch 2, f32, CPU, {iters} runs (median):");
    println!(
        "  UNet + IP-Adapter (scale 1)   : {:>8.2} s",
        o.as_secs_f64()
    );
    println!(
        "  UNet, no adapter (baseline)   : {:>8.2} s",
        p.as_secs_f64()
    );
    println!(
        "  ratio adapter/baseline        : {:.3}",
        o.as_secs_f64() / p.as_secs_f64()
    );
    if !t_theirs.is_empty() {
        let t = median(t_theirs);
        println!(
            "  candle-transformers SD UNet   : {:>8.2} s",
            t.as_secs_f64()
        );
        println!(
            "  ratio no-adapter/candle       : {:.3}",
            p.as_secs_f64() / t.as_secs_f64()
        );
    }
    Ok(())
}
