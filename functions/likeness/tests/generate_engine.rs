//! `likeness generate --engine diffusion`, the binary as an operator runs it, on
//! the parity suite's tiny random-weight model (diffusers' own layout): the
//! previews are written, every denoising step is reported, the catalogue's
//! prompt reaches the sampler with the subject filled in; and a missing or
//! broken model folder stops the command before any work starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn tiny_model() -> PathBuf {
    repo("functions/render/diffusion/tests/reference/diffusion/model")
}

fn generate(args: &[&str], model: Option<&Path>, data: &Path, out: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_likeness"));
    command
        .arg("generate")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out)
        .env("LIKENESS_LOG", "warn,likeness_render=info")
        .env_remove(likeness_render::DIFFUSION_MODEL_ENV)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    if let Some(model) = model {
        command.env(likeness_render::DIFFUSION_MODEL_ENV, model);
    }
    command.output().expect("the likeness binary runs")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn diffusion_renders_previews_and_reports_every_step() {
    let (data, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let photo = repo("tests/fixtures/photos/obama.jpg");
    let run = generate(
        &[
            photo.to_str().unwrap(),
            "--engine",
            "diffusion",
            "--styles",
            "watercolor",
            "--variations",
            "2",
            "--json",
        ],
        Some(&tiny_model()),
        data.path(),
        out.path(),
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");

    // The catalogue's watercolor prompt, for the ordered person, strength 0.55.
    let catalogue = likeness_core::Catalogue::builtin();
    let style = catalogue
        .get(&likeness_core::StyleId::new("watercolor"))
        .unwrap();
    let prompt = style.prompt.replace("{subject}", "a person");
    assert!(stderr.contains(&prompt), "{stderr}");
    assert!(stderr.contains(&style.negative_prompt), "{stderr}");
    assert!(stderr.contains("strength=0.55"), "{stderr}");
    // 30 steps × strength 0.55: 16 run, each reported for both candidates.
    for k in 0..=16 {
        let line = format!("render watercolor: denoising step {k}/16 (2 candidates");
        assert!(stderr.contains(&line), "no `{line}` in {stderr}");
    }

    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).expect("JSON summary");
    let previews = summary["styles"][0]["previews"].as_array().unwrap();
    assert!(!previews.is_empty(), "{summary}");
    assert!(out.path().join("index.html").is_file());
    for p in previews {
        let file = out.path().join(p["file"].as_str().unwrap());
        let image = image::open(&file).expect("a delivered JPEG");
        // Sampled at the model's 32 px, delivered at the service's 1024 px.
        assert_eq!(
            image.width().max(image.height()),
            1024,
            "{}",
            file.display()
        );
    }
}

#[test]
fn diffusion_without_a_model_folder_fails_at_once() {
    let (data, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let photo = repo("tests/fixtures/photos/obama.jpg");
    let run = generate(
        &[photo.to_str().unwrap(), "--engine", "diffusion"],
        None,
        data.path(),
        out.path(),
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains(
            "--engine diffusion needs a model folder: pass --diffusion-model DIR or set LIKENESS_DIFFUSION_MODEL=DIR"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one message: {stderr}");
    // Nothing was started: no stack, no order.
    assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 0);
}

#[test]
fn a_broken_model_folder_fails_at_once_with_its_problems() {
    let photo = repo("tests/fixtures/photos/obama.jpg");
    let model = tempfile::tempdir().unwrap();
    copy_dir(&tiny_model(), model.path());
    std::fs::remove_file(model.path().join("vae/diffusion_pytorch_model.safetensors")).unwrap();
    let (data, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run = generate(
        &[photo.to_str().unwrap()],
        Some(model.path()),
        data.path(),
        out.path(),
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("cannot be used"), "{stderr}");
    assert!(
        stderr.contains("vae/diffusion_pytorch_model.safetensors is missing"),
        "{stderr}"
    );
    assert!(
        stderr.contains("likeness models check-diffusion"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 0);

    // A folder whose recorded checksums no longer match is refused too.
    let model = tempfile::tempdir().unwrap();
    copy_dir(&tiny_model(), model.path());
    likeness_diffusion::manifest::write(model.path()).unwrap();
    std::fs::write(model.path().join("unet/config.json.bak"), "{}").unwrap();
    let run = generate(
        &[photo.to_str().unwrap(), "--engine", "diffusion"],
        Some(model.path()),
        data.path(),
        out.path(),
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("SHA256SUMS does not match"), "{stderr}");
    assert!(stderr.contains("unet/config.json.bak"), "{stderr}");
}
