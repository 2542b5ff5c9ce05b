use clap::{Parser, Subcommand};

mod costs_cmd;
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
    /// List the style catalogue.
    Styles,
    /// Cost totals by day, style or tenant.
    Costs(costs_cmd::CostsArgs),
    /// Replay webhooks and inspect delivery attempts.
    Webhooks(webhooks_cmd::WebhooksArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Styles => {
            for style in likeness_core::Catalogue::builtin().styles {
                println!("{:<16} {}", style.id, style.description);
            }
        }
        Command::Costs(args) => costs_cmd::run(args)?,
        Command::Webhooks(args) => webhooks_cmd::run(args)?,
    }
    Ok(())
}
