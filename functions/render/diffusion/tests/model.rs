mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;
use likeness_diffusion::config::UNetConfig;
use likeness_diffusion::unet::UNet;
use likeness_diffusion::{
    DiffusionModel, Guards, Img2ImgRequest, LoadError, SchedulerKind, SubjectBox, TensorProblem,
};

fn request(seeds: Vec<u64>) -> Img2ImgRequest {
    Img2ImgRequest {
        image: common::photo(32, 32),
        subject_crop: common::photo(20, 24),
        subject_box: Some(SubjectBox {
            x: 6,
            y: 6,
            width: 20,
            height: 20,
        }),
        prompt: "a watercolor painting of a dog".into(),
        negative_prompt: "blurry".into(),
        strength: 0.6,
        steps: 5,
        scheduler: SchedulerKind::EulerAncestral,
        spacing: None,
        guidance: 5.0,
        ip_scale: 0.8,
        seeds,
        guards: Guards::default(),
    }
}

fn load(dir: &Path) -> DiffusionModel {
    DiffusionModel::load(dir, DType::F32, &Device::Cpu).unwrap_or_else(|e| panic!("{e}"))
}

fn max_diff(a: &image::RgbImage, b: &image::RgbImage) -> u8 {
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap()
}

#[test]
fn full_img2img_returns_requested_size_and_is_seeded() {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_model(dir.path());
    let model = load(dir.path());
    assert!(model.has_adapter());

    for kind in [
        SchedulerKind::EulerAncestral,
        SchedulerKind::Ddim,
        SchedulerKind::Lcm,
    ] {
        let mut req = request(vec![7, 8]);
        req.scheduler = kind;
        let a = model.img2img(&req).unwrap();
        assert_eq!(a.len(), 2);
        assert!(a.iter().all(|i| i.dimensions() == (32, 32)), "{kind:?}");
        let b = model.img2img(&req).unwrap();
        assert_eq!(a, b, "{kind:?}: same seeds must give the same images");
        assert_ne!(a[0], a[1], "{kind:?}: different seeds must differ");
    }

    // A size that is not a multiple of the model tile comes back at its own size.
    let mut odd = request(vec![1]);
    odd.image = common::photo(37, 30);
    let out = model.img2img(&odd).unwrap();
    assert_eq!(out[0].dimensions(), (37, 30));

    // No guidance: single-branch path.
    let mut no_cfg = request(vec![3]);
    no_cfg.guidance = 1.0;
    assert_eq!(model.img2img(&no_cfg).unwrap()[0].dimensions(), (32, 32));
}

#[test]
fn ip_scale_zero_matches_the_unet_without_adapter() {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_model(dir.path());
    let with = load(dir.path());
    std::fs::rename(
        dir.path().join("ip_adapter"),
        dir.path().join("unused_adapter"),
    )
    .unwrap();
    let without = load(dir.path());
    assert!(!without.has_adapter());

    let mut req = request(vec![11, 12]);
    req.ip_scale = 0.0;
    let plain = without.img2img(&req).unwrap();
    assert_eq!(with.img2img(&req).unwrap(), plain);

    req.ip_scale = 1.0;
    let guided = with.img2img(&req).unwrap();
    assert!(
        max_diff(&guided[0], &plain[0]) > 0,
        "the image branch must change the output"
    );
}

#[test]
fn a_retry_with_a_new_seed_strength_and_image_scale_changes_the_picture() {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_model(dir.path());
    let model = load(dir.path());
    let base = request(vec![5]);
    let first = model.img2img(&base).unwrap();
    // What the judge asks for on a likeness miss, as the render worker passes it on.
    let mut retry = base.clone();
    retry.seeds = vec![99];
    retry.strength = 0.4;
    retry.ip_scale = 1.2;
    let second = model.img2img(&retry).unwrap();
    assert_ne!(first, second);
    assert_eq!(model.img2img(&retry).unwrap(), second, "reproducible");
}

#[test]
fn bad_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_model(dir.path());
    let model = load(dir.path());
    type Edit = Box<dyn Fn(&mut Img2ImgRequest)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("no seeds", Box::new(|r| r.seeds.clear())),
        ("strength", Box::new(|r| r.strength = 0.0)),
        ("runs no step", Box::new(|r| r.strength = 0.1)),
        ("steps", Box::new(|r| r.steps = 0)),
        ("ip_scale", Box::new(|r| r.ip_scale = f32::NAN)),
        ("colour guard", Box::new(|r| r.guards.colour = 2.0)),
        ("smaller than", Box::new(|r| r.image = common::photo(3, 3))),
    ];
    for (needle, edit) in cases {
        let mut req = request(vec![1]);
        edit(&mut req);
        let err = model.img2img(&req).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

#[test]
fn missing_and_misshaped_tensors_are_listed_together() {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_model(dir.path());
    let unet_path = dir.path().join("unet/diffusion_pytorch_model.safetensors");
    let mut unet = candle_core::safetensors::load(&unet_path, &Device::Cpu).unwrap();
    let gone = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight";
    assert!(unet.remove(gone).is_some());
    let bent = "up_blocks.1.resnets.0.conv1.weight";
    let shape = unet[bent].dims().to_vec();
    unet.insert(
        bent.into(),
        Tensor::zeros((shape[0], shape[1] + 1, 3, 3), DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&unet, &unet_path).unwrap();

    let ip_path = dir.path().join("ip_adapter/ip-adapter_tiny.safetensors");
    let mut ip = candle_core::safetensors::load(&ip_path, &Device::Cpu).unwrap();
    assert!(ip.remove("ip_adapter.3.to_v_ip.weight").is_some());
    ip.insert(
        "ip_adapter.9.to_k_ip.weight".into(),
        Tensor::zeros((32, 32), DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&ip, &ip_path).unwrap();

    let err = match DiffusionModel::load(dir.path(), DType::F32, &Device::Cpu) {
        Err(LoadError::Tensors(p)) => p,
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a broken model loaded"),
    };
    assert_eq!(err.len(), 4, "{err:#?}");
    assert!(err.contains(&TensorProblem::Missing {
        component: "unet".into(),
        name: gone.into(),
        expected: vec![32, 32]
    }));
    assert!(err.iter().any(|p| matches!(p, TensorProblem::Shape { name, found, .. } if name == bent && found[1] == shape[1] + 1)));
    assert!(err.iter().any(|p| matches!(p, TensorProblem::Missing { name, .. } if name == "ip_adapter.3.to_v_ip.weight")));
    assert!(err.iter().any(|p| matches!(p, TensorProblem::Unexpected { name, .. } if name == "ip_adapter.9.to_k_ip.weight")));
    let text = LoadError::Tensors(err).to_string();
    assert!(text.starts_with("4 weight problem(s)"), "{text}");
    assert!(text.contains(gone) && text.contains(bent), "{text}");
}

#[test]
fn missing_files_and_bad_configs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_model(dir.path());
    std::fs::remove_file(dir.path().join("vae/diffusion_pytorch_model.safetensors")).unwrap();
    let err = DiffusionModel::load(dir.path(), DType::F32, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("vae/diffusion_pytorch_model.safetensors"),
        "{err}"
    );

    let cfg = dir.path().join("unet/config.json");
    let sdxl = common::UNET_CONFIG.replace(
        "\"in_channels\"",
        "\"addition_embed_type\": \"text_time\", \"in_channels\"",
    );
    std::fs::write(&cfg, sdxl).unwrap();
    let err = DiffusionModel::load(dir.path(), DType::F32, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("SDXL"), "{err}");
}

#[test]
fn half_precision_loads_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_model(dir.path());
    // bf16 weights load (candle's CPU backend has no bf16 matmul, so it runs on GPU only).
    assert!(DiffusionModel::load(dir.path(), DType::BF16, &Device::Cpu).is_ok());
    let model = DiffusionModel::load(dir.path(), DType::F16, &Device::Cpu).unwrap();
    let mut req = request(vec![1]);
    req.steps = 2;
    req.strength = 1.0;
    assert_eq!(model.img2img(&req).unwrap()[0].dimensions(), (32, 32));
}

type Requests = Vec<(String, Vec<usize>)>;

/// Records requested tensor names and shapes without allocating.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Requests>>);

impl SimpleBackend for Recorder {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.0
            .lock()
            .unwrap()
            .push((name.to_string(), s.dims().to_vec()));
        Tensor::zeros((), dtype, dev)?.broadcast_as(s)
    }
    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("unexpected unchecked get of {name}")
    }
    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

const SD15_UNET: &str = r#"{
  "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2,
  "cross_attention_dim": 768, "attention_head_dim": 8,
  "down_block_types": ["CrossAttnDownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D","DownBlock2D"],
  "up_block_types": ["UpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D"]
}"#;

/// The IP-Adapter key order and widths of ip-adapter_sd15 (32 processors, odd keys on
/// attn2), from the reference notes §1.4; and a sample of diffusers' UNet names.
#[test]
fn sd15_layout_matches_diffusers_and_ip_adapter() {
    let cfg: UNetConfig = serde_json::from_str(SD15_UNET).unwrap();
    let (unet_rec, ip_rec) = (Recorder::default(), Recorder::default());
    let vb = |r: &Recorder| VarBuilder::from_backend(Box::new(r.clone()), DType::F32, Device::Cpu);
    let (_, processors) =
        UNet::new(vb(&unet_rec), &cfg, Some(vb(&ip_rec).pp("ip_adapter"))).unwrap();
    assert_eq!(processors, 32);

    let ip: HashMap<String, Vec<usize>> = ip_rec.0.lock().unwrap().iter().cloned().collect();
    let mut expected = HashMap::new();
    let widths = [
        (1, 320),
        (3, 320),
        (5, 640),
        (7, 640),
        (9, 1280),
        (11, 1280),
        (13, 1280),
        (15, 1280),
        (17, 1280),
        (19, 640),
        (21, 640),
        (23, 640),
        (25, 320),
        (27, 320),
        (29, 320),
        (31, 1280),
    ];
    for (k, h) in widths {
        expected.insert(format!("ip_adapter.{k}.to_k_ip.weight"), vec![h, 768]);
        expected.insert(format!("ip_adapter.{k}.to_v_ip.weight"), vec![h, 768]);
    }
    assert_eq!(ip, expected);

    let unet: HashMap<String, Vec<usize>> = unet_rec.0.lock().unwrap().iter().cloned().collect();
    for (name, shape) in [
        ("conv_in.weight", vec![320, 4, 3, 3]),
        ("time_embedding.linear_1.weight", vec![1280, 320]),
        (
            "down_blocks.0.attentions.0.proj_in.weight",
            vec![320, 320, 1, 1],
        ),
        (
            "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight",
            vec![320, 768],
        ),
        (
            "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight",
            vec![2560, 320],
        ),
        (
            "down_blocks.1.resnets.0.conv_shortcut.weight",
            vec![640, 320, 1, 1],
        ),
        (
            "down_blocks.2.downsamplers.0.conv.weight",
            vec![1280, 1280, 3, 3],
        ),
        (
            "down_blocks.3.resnets.1.time_emb_proj.weight",
            vec![1280, 1280],
        ),
        (
            "mid_block.attentions.0.transformer_blocks.0.attn1.to_out.0.bias",
            vec![1280],
        ),
        ("up_blocks.0.resnets.2.conv1.weight", vec![1280, 2560, 3, 3]),
        ("up_blocks.1.resnets.2.conv1.weight", vec![1280, 1920, 3, 3]),
        ("up_blocks.2.resnets.0.conv1.weight", vec![640, 1920, 3, 3]),
        (
            "up_blocks.3.resnets.2.conv_shortcut.weight",
            vec![320, 640, 1, 1],
        ),
        ("up_blocks.2.upsamplers.0.conv.weight", vec![640, 640, 3, 3]),
        ("up_blocks.3.attentions.2.proj_out.bias", vec![320]),
        ("conv_norm_out.weight", vec![320]),
        ("conv_out.weight", vec![4, 320, 3, 3]),
    ] {
        assert_eq!(unet.get(name), Some(&shape), "{name}");
    }
    // SD 1.5's UNet checkpoint holds 686 tensors.
    assert_eq!(unet.len(), 686);
}

/// Our UNet without adapter against candle-transformers' SD UNet on the same tiny
/// random weights: an independent implementation of the same architecture. (candle's
/// `UpBlock2D` always uses 32 groups, so the comparison needs SD's 32.)
#[test]
fn unet_matches_candle_transformers_unet() {
    use candle_transformers::models::stable_diffusion::unet_2d::{
        BlockConfig, UNet2DConditionModel, UNet2DConditionModelConfig,
    };
    let cfg: UNetConfig = serde_json::from_str(common::UNET_CONFIG).unwrap();
    let map = candle_nn::VarMap::new();
    let dev = Device::Cpu;
    let (ours, _) = UNet::new(VarBuilder::from_varmap(&map, DType::F32, &dev), &cfg, None).unwrap();
    let tensors: HashMap<String, Tensor> = map
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let theirs_cfg = UNet2DConditionModelConfig {
        center_input_sample: false,
        flip_sin_to_cos: true,
        freq_shift: 0.,
        blocks: vec![
            BlockConfig {
                out_channels: 32,
                use_cross_attn: Some(1),
                attention_head_dim: 4,
            },
            BlockConfig {
                out_channels: 64,
                use_cross_attn: None,
                attention_head_dim: 4,
            },
        ],
        layers_per_block: 1,
        downsample_padding: 1,
        mid_block_scale_factor: 1.,
        norm_num_groups: 32,
        norm_eps: 1e-5,
        cross_attention_dim: 32,
        sliced_attention_size: None,
        use_linear_projection: false,
    };
    let theirs = UNet2DConditionModel::new(
        VarBuilder::from_tensors(tensors, DType::F32, &dev),
        4,
        4,
        false,
        theirs_cfg,
    )
    .unwrap();
    let x = Tensor::randn(0f32, 1., (2, 4, 16, 12), &dev).unwrap();
    let text = Tensor::randn(0f32, 1., (2, 77, 32), &dev).unwrap();
    for t in [1.0, 501.0, 999.0] {
        let a = ours.forward(&x, t, &text, None).unwrap();
        let b = theirs.forward(&x, t, &text).unwrap();
        let diff = (a - &b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let scale = b
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(scale > 1e-3, "degenerate output");
        // candle's GEGLU uses the tanh GELU approximation, diffusers (and this crate) the
        // exact erf form; that alone moves outputs by a few 1e-4 here.
        assert!(
            diff <= 2e-3 * scale.max(1.0),
            "t={t}: max diff {diff} (output scale {scale})"
        );
    }
}

#[test]
fn the_observer_sees_every_step_and_can_stop_between_steps() {
    use std::ops::ControlFlow;
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_model(dir.path());
    let model = load(dir.path());
    let req = request(vec![3, 4]);
    let mut seen = Vec::new();
    let observed = model
        .img2img_observed(&req, &mut |done, total| {
            seen.push((done, total));
            ControlFlow::Continue(())
        })
        .unwrap();
    let n = likeness_diffusion::scheduler::img2img_steps(req.steps, req.strength as f64);
    assert!(n > 1, "the request runs several steps");
    assert_eq!(seen, (0..=n).map(|k| (k, n)).collect::<Vec<_>>());
    assert_eq!(
        observed,
        model.img2img(&req).unwrap(),
        "observing changes nothing"
    );

    let mut calls = 0;
    let err = model
        .img2img_observed(&req, &mut |done, _| {
            calls += 1;
            if done == 1 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap_err();
    assert!(
        matches!(err, likeness_diffusion::DiffusionError::Stopped { done: 1, total } if total == n),
        "{err}"
    );
    assert_eq!(calls, 2, "no step runs after the stop");
}
