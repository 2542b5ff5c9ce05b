mod analyze_cmd;
mod costs_cmd;
mod generate_cmd;
mod identity_cmd;
mod judge_cmd;
mod keys_cmd;
mod models_cmd;
mod render_cmd;
mod styles_cmd;
mod webhooks_cmd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// likeness: portraits that still look like the subject.
#[derive(Parser)]
#[command(name = "likeness", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct DataDir {
    /// Where the embedded stack keeps records, queues and objects.
    #[arg(long, env = "LIKENESS_DATA_DIR", default_value = ".likeness")]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Turn a photo into judged portrait previews on this machine (the whole pipeline).
    Generate(generate_cmd::GenerateArgs),
    /// Run the whole service on this machine: object store, records, queues, API.
    Serve {
        #[command(flatten)]
        data: DataDir,
        /// API port on 127.0.0.1.
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
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
    /// Fetch or verify the face models; convert and check diffusion weights.
    Models {
        #[command(subcommand)]
        action: models_cmd::ModelsAction,
    },
    /// Distance between the dominant faces of two photos, and whether they are the same person.
    Identity(identity_cmd::IdentityArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Issue a new API key for a tenant; it is printed once and stored only as a hash.
    Create {
        #[arg(long)]
        tenant: String,
        /// A finance key reads costs across tenants instead of ordering previews.
        #[arg(long)]
        finance: bool,
        #[command(flatten)]
        data: DataDir,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIKENESS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not in logs or pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Generate(args) => generate_cmd::run(args).await,
        Command::Serve { data, port } => likeness::serve_cmd::serve(&data.data_dir, port).await,
        Command::Keys {
            command:
                KeysCommand::Create {
                    tenant,
                    finance,
                    data,
                },
        } => keys_cmd::create(&data.data_dir, &tenant, finance).await,
        Command::Styles(args) => styles_cmd::run(args),
        Command::Render(args) => render_cmd::run(args),
        Command::Judge(args) => judge_cmd::run(args),
        Command::Analyze(args) => analyze_cmd::run(args),
        Command::Costs(args) => costs_cmd::run(args).await,
        Command::Webhooks(args) => webhooks_cmd::run(args).await,
        Command::Models { action } => models_cmd::run(action),
        Command::Identity(args) => identity_cmd::run(args),
    }
}
