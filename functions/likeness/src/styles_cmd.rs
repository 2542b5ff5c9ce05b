//! `likeness styles`: list the catalogue, or render a contact sheet of every
//! style on one photo.

use crate::render_cmd::{identity_hints, load_photo};
use anyhow::{Context, bail};
use likeness_core::Catalogue;
use likeness_render::{ClassicEngine, Engine, RenderRequest, sheet::contact_sheet};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct StylesArgs {
    /// Render every style on this photo into a contact sheet.
    #[arg(long, requires = "out")]
    pub photo: Option<PathBuf>,
    /// Where to write the contact sheet (PNG).
    #[arg(long, requires = "photo")]
    pub out: Option<PathBuf>,
    /// Tile size in pixels.
    #[arg(long, default_value_t = 384)]
    pub tile: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(args: StylesArgs) -> anyhow::Result<()> {
    let catalogue = Catalogue::builtin();
    let (Some(photo_path), Some(out)) = (args.photo, args.out) else {
        for style in &catalogue.styles {
            let kind = match &style.hybrid {
                Some(h) => format!("{} + {} face", h.body, h.face),
                None => "".to_string(),
            };
            println!(
                "{:<18} {:<28} {} {}",
                style.id, style.name, style.description, kind
            );
        }
        return Ok(());
    };
    if !(64..=1024).contains(&args.tile) {
        bail!("--tile must be 64..=1024, got {}", args.tile);
    }
    let photo = load_photo(&photo_path)?;
    let hints = identity_hints(&photo);
    let engine = ClassicEngine::new(catalogue.clone());
    let mut tiles = vec![("photo".to_string(), photo.clone())];
    for style in &catalogue.styles {
        let mut req = RenderRequest::new(photo.clone(), style.clone(), args.seed);
        req.long_side = args.tile;
        req.identity = hints.clone();
        let c = engine
            .render(&req)?
            .into_iter()
            .next()
            .context("engine returned no candidate")?;
        tiles.push((style.id.to_string(), c.image));
    }
    let sheet = contact_sheet(&tiles, args.tile, 4);
    sheet
        .save(&out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("{}", out.display());
    Ok(())
}
