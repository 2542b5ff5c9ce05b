use clap::{Parser, Subcommand};

mod render_cmd;
mod styles_cmd;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Styles(args) => styles_cmd::run(args)?,
        Command::Render(args) => render_cmd::run(args)?,
    }
    Ok(())
}
