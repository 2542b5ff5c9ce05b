use clap::{Parser, Subcommand};

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Styles => {
            for style in likeness_core::Catalogue::builtin().styles {
                println!("{:<16} {}", style.id, style.description);
            }
        }
    }
    Ok(())
}
