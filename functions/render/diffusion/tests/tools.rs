//! Operator tooling on the reference model folder (tests/reference/diffusion).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use likeness_diffusion::manifest::MANIFEST;
use likeness_diffusion::tools::{self, ManifestStatus};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/diffusion")
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

#[test]
fn published_bin_converts_to_the_flat_keys_diffusers_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ip_adapter/converted.safetensors");
    let report = tools::convert_ip_adapter(&dir().join("ip-adapter_tiny.bin"), &out).unwrap();
    assert_eq!(
        report.image_proj,
        vec!["norm.bias", "norm.weight", "proj.bias", "proj.weight"]
    );
    // tiny UNet: attn2 of down block 0 (1), up block 1's two layers (3, 5), mid (7)
    assert_eq!(
        report.processors.iter().copied().collect::<Vec<_>>(),
        vec![1, 3, 5, 7]
    );
    let got = candle_core::safetensors::load(&out, &Device::Cpu).unwrap();
    let want = candle_core::safetensors::load(
        dir().join("model/ip_adapter/ip-adapter_tiny.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let mut names: Vec<&String> = got.keys().collect();
    names.sort();
    let mut want_names: Vec<&String> = want.keys().collect();
    want_names.sort();
    assert_eq!(names, want_names);
    for (k, t) in &want {
        let d = (&got[k] - t).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0, "{k}");
    }

    // Something that is not a torch checkpoint is refused by name.
    let bad = tmp.path().join("bad.bin");
    std::fs::write(&bad, b"not a zip").unwrap();
    let e = tools::convert_ip_adapter(&bad, &tmp.path().join("x.safetensors")).unwrap_err();
    assert!(e.to_string().contains("bad.bin"), "{e}");
}

#[test]
fn check_prints_a_summary_and_keeps_a_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("m");
    copy_dir(&dir().join("model"), &d);

    let r = tools::check_folder(&d, false).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.manifest.is_none());
    let s = &r.summary;
    assert_eq!(s.adapter_tokens, Some(4));
    assert_eq!(s.vision_size, Some(32));
    assert_eq!(s.guidance_embedding, None);
    assert!(!s.text_prefixed, "transformers 5 layout");
    assert_eq!(s.native_size, 32, "sample_size 16 × VAE factor 2");
    assert_eq!(s.size_multiple, 4);
    let names: Vec<&str> = s.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["text_encoder", "vae", "unet", "image_encoder", "ip_adapter"]
    );
    assert!(s.components.iter().all(|c| c.dtypes.keys().eq(["f32"])));
    let unet = &s.components[2];
    assert!(
        unet.written_by
            .as_deref()
            .unwrap()
            .starts_with("diffusers ")
    );
    let total: u64 = s.components.iter().map(|c| c.parameters).sum();
    assert_eq!(s.parameters(), total);
    // the UNet file's parameters: its bytes less the header, over 4 bytes each
    let unet_bytes = std::fs::metadata(&unet.file).unwrap().len();
    assert!(unet.parameters * 4 < unet_bytes && unet_bytes - unet.parameters * 4 < 64 * 1024);
    let text = s.to_string();
    println!("{text}");
    assert!(
        text.contains("IP-Adapter, 4 image tokens from a 32×32 CLIP crop"),
        "{text}"
    );
    assert!(text.contains("classifier-free"), "{text}");

    let r = tools::check_folder(&d, true).unwrap();
    assert!(matches!(r.manifest, Some(ManifestStatus::Written(_))));
    assert!(d.join(MANIFEST).is_file());
    let r = tools::check_folder(&d, false).unwrap();
    assert!(matches!(r.manifest, Some(ManifestStatus::Verified)));
}

#[test]
fn check_lists_every_problem_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("m");
    copy_dir(&dir().join("model"), &d);
    tools::check_folder(&d, true).unwrap();

    // A wrong-shaped UNet tensor and a missing VAE tensor, after the manifest was taken.
    let path = d.join("unet/diffusion_pytorch_model.safetensors");
    let mut t = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    t.insert(
        "conv_in.weight".into(),
        Tensor::zeros((16, 5, 3, 3), DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&t, &path).unwrap();
    let path = d.join("vae/diffusion_pytorch_model.safetensors");
    let mut t = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    t.remove("decoder.conv_out.bias");
    candle_core::safetensors::save(&t, &path).unwrap();

    let e = tools::check_folder(&d, false).unwrap_err();
    let text = e.to_string();
    for needle in [
        "unet/diffusion_pytorch_model.safetensors: SHA-256 differs",
        "vae/diffusion_pytorch_model.safetensors: SHA-256 differs",
        "unet: `conv_in.weight` has shape [16, 5, 3, 3], expected [16, 4, 3, 3]",
        "vae: missing `decoder.conv_out.bias` (expected shape [3])",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    assert_eq!(e.problems.len(), 3, "{text}");
}
