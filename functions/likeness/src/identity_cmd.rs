//! `likeness identity PHOTO_A PHOTO_B`: are the dominant faces the same person?

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use likeness_identity::{FaceModels, SAME_PERSON_THRESHOLD};

#[derive(Args)]
pub struct IdentityArgs {
    photo_a: PathBuf,
    photo_b: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Decode with the EXIF orientation applied, as the analysis stage does.
fn load(path: &Path) -> anyhow::Result<RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut decoder = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()?
        .into_decoder()
        .with_context(|| format!("decoding {}", path.display()))?;
    let orientation = decoder.orientation()?;
    let mut img = DynamicImage::from_decoder(decoder)
        .with_context(|| format!("decoding {}", path.display()))?;
    img.apply_orientation(orientation);
    Ok(img.to_rgb8())
}

pub fn run(args: IdentityArgs) -> anyhow::Result<()> {
    let models = FaceModels::load()?;
    let mut faces = Vec::new();
    for path in [&args.photo_a, &args.photo_b] {
        let img = load(path)?;
        // Largest face first.
        let Some(face) = likeness_vision::faces::detect_faces(&img)
            .into_iter()
            .next()
        else {
            bail!("no face found in {}", path.display());
        };
        let described = models.describe(&img, &[face.rect])?;
        faces.extend(described);
    }
    let distance = faces[0].distance(&faces[1]);
    let same = distance <= SAME_PERSON_THRESHOLD;
    if args.json {
        let out = serde_json::json!({
            "photo_a": args.photo_a,
            "photo_b": args.photo_b,
            "face_a": faces[0].rect,
            "face_b": faces[1].rect,
            "distance": distance,
            "threshold": SAME_PERSON_THRESHOLD,
            "same_person": same,
        });
        println!("{out}");
    } else {
        println!("distance: {distance:.4}");
        println!("same_person: {same}");
    }
    Ok(())
}
