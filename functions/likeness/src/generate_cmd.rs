//! `likeness generate PHOTO`: the main job on the embedded default. The photo
//! goes the way a customer's would: an order through the API, an upload to the
//! presigned URL, the upload event, analysis, the state machine, render workers,
//! the judge and finalize. Progress is read back from the records and the
//! execution history; the delivered previews land in `--out` with an index.html.
//!
//! The engine is chosen and loaded before anything else happens, so a missing or
//! broken diffusion model folder fails the command at once with one message.

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use likeness::pipeline::{Pipeline, PipelineOptions};
use likeness::stack::EmbeddedStack;
use likeness_api::ApiConfig;
use likeness_core::ports::{Blobs, KeyScope, Previews, SystemClock};
use likeness_core::tasks::DeliveredStyle;
use likeness_core::{Catalogue, Preview, PreviewId, Status, StyleId, TenantId};
use likeness_render::Engine;
use likeness_render::diffusion::{DiffusionEngine, DiffusionSettings, ProgressSink, StepProgress};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub struct GenerateArgs {
    /// The photo: JPEG, PNG or WebP.
    photo: PathBuf,
    /// What the photo shows: person, couple or pet.
    #[arg(long, default_value = "person")]
    subject: String,
    /// Styles to render, comma-separated (see `likeness styles`).
    #[arg(long, default_value = "watercolor,oil,pencil", value_delimiter = ',')]
    styles: Vec<String>,
    /// Previews delivered per style.
    #[arg(long, default_value_t = 3)]
    variations: u32,
    /// Where the previews and index.html are written.
    #[arg(long, default_value = "likeness-out")]
    out: PathBuf,
    /// Print the result as JSON instead of a summary.
    #[arg(long)]
    json: bool,
    /// Keep the embedded stack here instead of a temporary directory.
    #[arg(long, env = "LIKENESS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Styles rendered and judged at once (the state machine's Map concurrency).
    #[arg(long, default_value_t = PipelineOptions::default().max_concurrency)]
    max_concurrency: u32,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    /// Render engine: `classic` (CPU, no weights) or `diffusion` (Stable Diffusion
    /// img2img with an IP-Adapter; needs a model folder). Default: diffusion when
    /// a model folder is set (--diffusion-model or LIKENESS_DIFFUSION_MODEL),
    /// classic otherwise.
    #[arg(long, value_enum)]
    engine: Option<EngineKind>,
    /// Diffusers-format model folder for the diffusion engine (docs/DIFFUSION.md;
    /// check one with `likeness models check-diffusion DIR`).
    #[arg(long, env = likeness_render::DIFFUSION_MODEL_ENV, value_name = "DIR")]
    diffusion_model: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EngineKind {
    /// CPU stylization, no weights.
    Classic,
    /// Stable Diffusion 1.5-family img2img from a model folder.
    Diffusion,
}

/// The engine asked for; without `--engine`, diffusion exactly when a model
/// folder is set.
fn engine_kind(asked: Option<EngineKind>, has_model: bool) -> EngineKind {
    asked.unwrap_or(if has_model {
        EngineKind::Diffusion
    } else {
        EngineKind::Classic
    })
}

/// The engine `args` ask for, loaded and checked. Diffusion without a model
/// folder, or with one that does not load or whose SHA256SUMS does not match,
/// is refused here, before any photo is ordered.
fn engine(args: &GenerateArgs, progress: ProgressSink) -> anyhow::Result<Arc<dyn Engine>> {
    let model = args
        .diffusion_model
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty());
    if engine_kind(args.engine, model.is_some()) == EngineKind::Classic {
        tracing::info!("render engine: classic");
        return Ok(Arc::new(likeness_render::ClassicEngine::new(
            likeness_core::Catalogue::builtin(),
        )));
    }
    let Some(dir) = model else {
        bail!(
            "--engine diffusion needs a model folder: pass --diffusion-model DIR or set {}=DIR \
             (a diffusers-format Stable Diffusion 1.5 folder with ip_adapter/; docs/DIFFUSION.md \
             shows how to make one, `likeness models check-diffusion DIR` checks it)",
            likeness_render::DIFFUSION_MODEL_ENV
        );
    };
    let fail = |problem: String| {
        anyhow::anyhow!(
            "the diffusion model folder {} cannot be used: {problem}\n\
             (`likeness models check-diffusion {}` lists every problem)",
            dir.display(),
            dir.display()
        )
    };
    if !dir.is_dir() {
        return Err(fail("it is not a folder".into()));
    }
    if let Some(problems) =
        likeness_diffusion::manifest::verify(dir).map_err(|e| fail(e.to_string()))?
        && !problems.is_empty()
    {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(fail(format!(
            "its SHA256SUMS does not match:\n  {}",
            list.join("\n  ")
        )));
    }
    let engine = DiffusionEngine::load(dir, DiffusionSettings::default())
        .map_err(|e| fail(e.to_string()))?
        .with_progress(progress);
    tracing::info!(model = %dir.display(), "render engine: diffusion");
    Ok(Arc::new(engine))
}

fn content_type(bytes: &[u8]) -> &'static str {
    match bytes {
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => "image/webp",
        // Anything else is sent as JPEG; analysis sniffs the real format and
        // rejects what is not an image with a specific reason.
        _ => "image/jpeg",
    }
}

pub async fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let photo =
        std::fs::read(&args.photo).with_context(|| format!("reading {}", args.photo.display()))?;
    let steps = Steps::new(!args.json && std::io::stderr().is_terminal());
    let engine = engine(&args, steps.sink())?;
    let temp;
    let data_dir: &Path = match &args.data_dir {
        Some(dir) => dir,
        None => {
            temp = tempfile::tempdir().context("making a temporary data directory")?;
            temp.path()
        }
    };
    likeness::identity::ensure_models().await;
    let started = Instant::now();
    let stack = EmbeddedStack::open(data_dir, 0).await?;
    let options = PipelineOptions {
        max_concurrency: args.max_concurrency.max(1),
        ..PipelineOptions::default()
    };
    let pipeline = Arc::new(Pipeline::open(stack, engine, options, data_dir).await?);
    let stop = CancellationToken::new();
    let workers = {
        let (pipeline, stop) = (pipeline.clone(), stop.clone());
        tokio::spawn(async move { pipeline.run(stop).await })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    let app = likeness_api::router(pipeline.stack.api_state(ApiConfig::default()).await?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let result = order_and_wait(&pipeline, &api, &photo, &args, &steps).await;
    stop.cancel();
    server.abort();
    let _ = workers.await;
    let (preview, waited) = result?;
    let output = deliver(&pipeline, &preview, &args.out).await?;
    let cost = pipeline.stack.preview_usd(&preview.id).await.unwrap_or(0.0);
    let summary = json!({
        "id": preview.id,
        "status": preview.status,
        "rejection_reasons": preview.rejection_reasons,
        "failure": preview.failure,
        "styles": output,
        "cost_usd": cost,
        "seconds": started.elapsed().as_secs_f64(),
        "pipeline_seconds": waited.as_secs_f64(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary, &args.out);
    }
    Ok(())
}

async fn order_and_wait(
    pipeline: &Pipeline,
    api: &str,
    photo: &[u8],
    args: &GenerateArgs,
    steps: &Steps,
) -> anyhow::Result<(Preview, Duration)> {
    let stack = &pipeline.stack;
    let key = likeness_api::auth::issue_key(
        &*stack.records,
        &SystemClock,
        &TenantId::new("local"),
        KeyScope::Tenant,
    )
    .await?;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{api}/v1/previews"))
        .bearer_auth(&key)
        .json(&json!({
            "subject": args.subject,
            "styles": args.styles,
            "variations": args.variations,
            "content_type": content_type(photo),
            "content_length": photo.len(),
            "consent": {"rights_to_photo": true},
        }))
        .send()
        .await?;
    let status = response.status();
    let order: Value = response.json().await?;
    if !status.is_success() {
        bail!(
            "the order was refused: {}",
            order["error"]["message"]
                .as_str()
                .unwrap_or("unknown error")
        );
    }
    let id = PreviewId::new(order["id"].as_str().context("order without id")?);
    let upload = &order["upload"];
    let mut put = client.put(upload["url"].as_str().context("order without upload url")?);
    for (name, value) in upload["headers"].as_object().into_iter().flatten() {
        put = put.header(name, value.as_str().unwrap_or_default());
    }
    let uploaded = put.body(photo.to_vec()).send().await?;
    if !uploaded.status().is_success() {
        bail!("the upload was refused with HTTP {}", uploaded.status());
    }
    let started = Instant::now();
    let progress = Progress::new(args.json, args.styles.len() as u64);
    let deadline = started + Duration::from_secs(args.timeout);
    loop {
        let preview = stack
            .records
            .get(&id)
            .await?
            .context("the preview disappeared")?;
        progress.update(
            &preview,
            &pipeline
                .runner
                .states_entered(id.as_str())
                .unwrap_or_default(),
            steps,
        );
        if preview.status.is_final()
            && (preview.status != Status::Ready || execution_finished(pipeline, &id))
        {
            progress.finish();
            return Ok((preview, started.elapsed()));
        }
        if Instant::now() > deadline {
            bail!(
                "the preview is still {} after {} s",
                preview.status,
                args.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn execution_finished(pipeline: &Pipeline, id: &PreviewId) -> bool {
    pipeline
        .runner
        .describe(id.as_str())
        .ok()
        .flatten()
        .is_some_and(|r| r.status != likeness_workflow::ExecutionStatus::Running)
}

struct Progress {
    bars: Option<(MultiProgress, [ProgressBar; 4])>,
}

impl Progress {
    fn new(quiet: bool, styles: u64) -> Self {
        if quiet {
            return Self { bars: None };
        }
        let multi = MultiProgress::new();
        let style = ProgressStyle::with_template("{prefix:>9} [{bar:24}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> ");
        let bar = |name: &str, len: u64| {
            let b = multi.add(ProgressBar::new(len));
            b.set_style(style.clone());
            b.set_prefix(name.to_owned());
            b
        };
        let bars = [
            bar("analyze", 1),
            bar("render", styles),
            bar("judge", styles),
            bar("finalize", 1),
        ];
        Self {
            bars: Some((multi, bars)),
        }
    }

    fn update(&self, preview: &Preview, states: &[String], steps: &Steps) {
        let Some((_, [analyze, render, judge, finalize])) = &self.bars else {
            return;
        };
        let count = |name: &str| states.iter().filter(|s| s.as_str() == name).count() as u64;
        if preview.status != Status::Analyzing && preview.status != Status::AwaitingUpload {
            analyze.set_position(1);
            analyze.set_message(preview.status.to_string());
        }
        render.set_position(count("Render").min(render.length().unwrap_or(0)));
        judge.set_position(count("Judge").min(judge.length().unwrap_or(0)));
        let denoising = steps.summary();
        if !denoising.is_empty() {
            render.set_message(denoising);
        } else if count("Render") > render.length().unwrap_or(0) {
            render.set_message("retrying");
        }
        if preview.status == Status::Ready {
            finalize.set_position(1);
        }
    }

    fn finish(&self) {
        if let Some((_, bars)) = &self.bars {
            for bar in bars {
                bar.finish();
            }
        }
    }
}

/// The diffusion engine's denoising steps, per style: shown on the render bar
/// when bars are drawn, else one stderr line per step.
struct Steps {
    bars: bool,
    current: Arc<Mutex<BTreeMap<StyleId, StepProgress>>>,
}

impl Steps {
    fn new(bars: bool) -> Self {
        Self {
            bars,
            current: Arc::default(),
        }
    }

    fn sink(&self) -> ProgressSink {
        let (bars, current) = (self.bars, self.current.clone());
        Arc::new(move |p: &StepProgress| {
            if !bars {
                eprintln!(
                    "render {}: denoising step {}/{} ({} candidate{}, seed {})",
                    p.style,
                    p.done,
                    p.total,
                    p.candidates,
                    if p.candidates == 1 { "" } else { "s" },
                    p.seed
                );
            }
            let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
            if p.done == p.total {
                current.remove(&p.style);
            } else {
                current.insert(p.style.clone(), p.clone());
            }
        })
    }

    /// "watercolor 12/16 · oil 3/18" for the styles sampling now.
    fn summary(&self) -> String {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current
            .values()
            .map(|p| format!("{} {}/{}", p.style, p.done, p.total))
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// Copy the delivered previews into `out` and write an index.html contact sheet.
async fn deliver(pipeline: &Pipeline, preview: &Preview, out: &Path) -> anyhow::Result<Value> {
    let Some(styles) = &preview.results else {
        return Ok(json!([]));
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut listed = Vec::new();
    let mut sheet = Vec::new();
    for style in styles {
        let mut files = Vec::new();
        let mut sheet_files = Vec::new();
        for image in &style.previews {
            let mut written = Vec::new();
            for (key, format) in [(&image.jpeg, "jpeg"), (&image.webp, "webp")] {
                let bytes = pipeline.stack.blobs.get(key).await?;
                let file = key.rsplit('/').next().unwrap_or(key).to_owned();
                std::fs::write(out.join(&file), &bytes)?;
                written.push(SheetFile {
                    name: file,
                    format,
                    bytes: bytes.len() as u64,
                });
            }
            files.push(json!({"file": written[0].name, "scores": image.scores, "overall": image.overall, "flagged": image.flagged}));
            sheet_files.push(written);
        }
        listed.push(json!({"style": style.style, "outcome": style.outcome, "previews": files}));
        sheet.push((style, sheet_files));
    }
    std::fs::write(
        out.join("index.html"),
        contact_sheet(&Catalogue::builtin(), preview.id.as_str(), &sheet),
    )?;
    Ok(Value::Array(listed))
}

/// One delivered file beside the contact sheet.
struct SheetFile {
    name: String,
    format: &'static str,
    bytes: u64,
}

/// The contact sheet: the order page's gallery (its style sheet, its markup,
/// scores in the same words), as one self-contained file.
fn contact_sheet(
    catalogue: &Catalogue,
    preview_id: &str,
    styles: &[(&DeliveredStyle, Vec<Vec<SheetFile>>)],
) -> String {
    use likeness_api::page::score_word;
    let mut html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>likeness previews {id}</title>\n<style>\n{css}</style>\n</head>\n<body>\n\
         <header class=\"site\"><p class=\"brand\">likeness</p><h1>Your previews</h1></header>\n\
         <main><section class=\"card\"><p class=\"hint\">Preview {id}</p><div class=\"gallery\">\n",
        id = html_escape(preview_id),
        css = likeness_api::page::APP_CSS,
    );
    for (style, images) in styles {
        let name = catalogue
            .get(&style.style)
            .map_or_else(|| style.style.to_string(), |s| s.name.clone());
        html.push_str(&format!(
            "<section class=\"style-result\"><h3>{}</h3>",
            html_escape(&name)
        ));
        if !style.note.is_empty() {
            html.push_str(&format!(
                "<p class=\"note\">{}</p>",
                html_escape(&style.note)
            ));
        }
        if style.previews.is_empty() {
            html.push_str(
                "<p>No portrait in this style met the quality bar, so none is shown.</p></section>\n",
            );
            continue;
        }
        html.push_str("<div class=\"portraits\">\n");
        for (n, (image, files)) in style.previews.iter().zip(images).enumerate() {
            let index = n + 1;
            let shown = files.iter().find(|f| f.format == "jpeg").or(files.first());
            // A flagged portrait's overall words would contradict its flag.
            let overall = score_word("overall", f64::from(image.overall))
                .filter(|_| !image.flagged)
                .map(|w| format!(" · {w}"))
                .unwrap_or_default();
            html.push_str(&format!(
                "<figure class=\"portrait{}\"><img src=\"{}\" alt=\"{} portrait, variation {index}\">\
                 <figcaption><p class=\"portrait-title\">Variation {index}{overall}</p>",
                if image.flagged { " flagged" } else { "" },
                html_escape(shown.map_or("", |f| f.name.as_str())),
                html_escape(&name),
            ));
            if image.flagged {
                html.push_str(
                    "<p class=\"flag\">Below the quality bar: the best made in this style.</p>",
                );
            }
            html.push_str("<ul class=\"scores\">");
            if let Some(s) = image.scores {
                for (kind, value) in [
                    ("likeness", s.likeness),
                    ("colour", s.colour),
                    ("composition", s.composition),
                    ("style", s.style),
                    ("artifacts", s.artifacts),
                ] {
                    if let Some(word) = score_word(kind, f64::from(value)) {
                        html.push_str(&format!("<li data-score=\"{kind}\">{word}</li>"));
                    }
                }
            }
            html.push_str("</ul><p class=\"downloads\">");
            for file in files {
                html.push_str(&format!(
                    "<a class=\"button secondary small\" href=\"{name}\" download>Download {} ({})</a>",
                    file.format.to_uppercase(),
                    human_bytes(file.bytes),
                    name = html_escape(&file.name),
                ));
            }
            html.push_str("</p></figcaption></figure>\n");
        }
        html.push_str("</div></section>\n");
    }
    html.push_str("</div></section></main>\n</body>\n</html>\n");
    html
}

/// "38 KB", "1.2 MB": as the order page writes sizes.
fn human_bytes(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KB", n.div_ceil(1024).max(1))
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn print_summary(summary: &Value, out: &Path) {
    println!(
        "preview {}: {}",
        summary["id"].as_str().unwrap_or(""),
        summary["status"].as_str().unwrap_or("")
    );
    for reason in summary["rejection_reasons"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "  rejected: {} — {}",
            reason["code"].as_str().unwrap_or(""),
            reason["message"].as_str().unwrap_or("")
        );
    }
    if let Some(failure) = summary["failure"].as_str() {
        println!("  failed: {failure}");
    }
    for style in summary["styles"].as_array().into_iter().flatten() {
        println!(
            "  {} ({})",
            style["style"].as_str().unwrap_or(""),
            style["outcome"].as_str().unwrap_or("")
        );
        for p in style["previews"].as_array().into_iter().flatten() {
            let s = &p["scores"];
            println!(
                "    {:<22} overall {:.2}  likeness {:.2}  colour {:.2}  composition {:.2}  style {:.2}{}",
                p["file"].as_str().unwrap_or(""),
                p["overall"].as_f64().unwrap_or(0.0),
                s["likeness"].as_f64().unwrap_or(0.0),
                s["colour"].as_f64().unwrap_or(0.0),
                s["composition"].as_f64().unwrap_or(0.0),
                s["style"].as_f64().unwrap_or(0.0),
                if p["flagged"].as_bool() == Some(true) {
                    "  (flagged)"
                } else {
                    ""
                },
            );
        }
    }
    println!(
        "  cost: ${:.6}",
        summary["cost_usd"].as_f64().unwrap_or(0.0)
    );
    if summary["status"] == "ready" {
        println!("  previews and index.html in {}", out.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use likeness_core::qa::Scores;
    use likeness_core::tasks::{DeliveredImage, StyleOutcome};

    fn image(overall: f32, flagged: bool, likeness: f32) -> DeliveredImage {
        DeliveredImage {
            webp: "previews/t/pv_1/oil-1.webp".into(),
            jpeg: "previews/t/pv_1/oil-1.jpg".into(),
            seed: 1,
            overall,
            flagged,
            below: vec![],
            scores: Some(Scores {
                likeness,
                colour: 0.912_345_6,
                composition: 0.7,
                style: 0.55,
                artifacts: 1.0,
            }),
        }
    }

    #[test]
    fn the_contact_sheet_is_the_page_gallery_with_words_not_numbers() {
        let style = DeliveredStyle {
            style: StyleId::new("oil"),
            outcome: StyleOutcome::Passed,
            attempts: 1,
            note: String::new(),
            previews: vec![image(0.873_456_7, false, 0.81), image(0.41, true, 0.35)],
        };
        let files = |n: u32| {
            vec![
                SheetFile {
                    name: format!("oil-{n}.jpg"),
                    format: "jpeg",
                    bytes: 38_000,
                },
                SheetFile {
                    name: format!("oil-{n}.webp"),
                    format: "webp",
                    bytes: 21_000,
                },
            ]
        };
        let html = contact_sheet(
            &Catalogue::builtin(),
            "pv_1",
            &[(&style, vec![files(1), files(2)])],
        );
        assert!(html.contains(likeness_api::page::APP_CSS));
        assert!(html.contains("<h3>Oil painting</h3>"));
        assert!(html.contains("Variation 1 · Excellent"));
        assert!(
            html.contains("Variation 2</p>"),
            "no overall words beside a flag"
        );
        assert!(html.contains("Strong likeness"));
        assert!(html.contains("Weak likeness"));
        assert!(html.contains("True to the photo's colours"));
        assert_eq!(html.matches("class=\"portrait flagged\"").count(), 1);
        assert!(html.contains("Download JPEG (38 KB)"));
        assert!(html.contains("href=\"oil-2.webp\" download"));
        // No score leaks out as a raw number.
        for raw in ["0.87", "0.91", "87%", "0.81"] {
            assert!(!html.contains(raw), "{raw} in the sheet");
        }
    }

    #[test]
    fn a_model_folder_makes_diffusion_the_default_and_the_flag_wins() {
        assert_eq!(engine_kind(None, false), EngineKind::Classic);
        assert_eq!(engine_kind(None, true), EngineKind::Diffusion);
        assert_eq!(
            engine_kind(Some(EngineKind::Classic), true),
            EngineKind::Classic
        );
        assert_eq!(
            engine_kind(Some(EngineKind::Diffusion), false),
            EngineKind::Diffusion
        );
    }
}
