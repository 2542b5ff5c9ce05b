//! `likeness render`: one photo, one style, a few seeded variations as PNGs.

use anyhow::{Context, bail};
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use likeness_core::{Catalogue, StyleId};
use likeness_render::{
    ClassicEngine, DEFAULT_LONG_SIDE, Engine, FaceHint, IdentityHints, RenderRequest,
};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct RenderArgs {
    /// The photo to render.
    pub photo: PathBuf,
    /// Style id from `likeness styles`.
    #[arg(long)]
    pub style: String,
    /// First seed; variation i uses seed + i.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 1)]
    pub variations: u32,
    /// Output long side in pixels.
    #[arg(long, default_value_t = DEFAULT_LONG_SIDE)]
    pub size: u32,
    /// Stylization strength 0..1 (default: the style's own).
    #[arg(long)]
    pub strength: Option<f32>,
    /// Directory for `<style>-<seed>.<format>`; created if missing.
    #[arg(long)]
    pub out: PathBuf,
    /// File format: `png` (lossless) or `jpeg` (quality 82, no metadata; the
    /// page's style thumbnails).
    #[arg(long, value_enum, default_value_t = Format::Png)]
    pub format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Png,
    Jpeg,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpg",
        }
    }
}

/// JPEG quality for `--format jpeg`: small files without visible blocking.
const JPEG_QUALITY: u8 = 82;

pub fn run(args: RenderArgs) -> anyhow::Result<()> {
    let catalogue = Catalogue::builtin();
    let style = catalogue
        .get(&StyleId::new(&args.style))
        .with_context(|| {
            let ids: Vec<_> = catalogue.ids().map(|s| s.to_string()).collect();
            format!("unknown style `{}`; known: {}", args.style, ids.join(", "))
        })?
        .clone();
    let photo = load_photo(&args.photo)?;
    let mut request = RenderRequest::new(photo.clone(), style, args.seed);
    request.variations = args.variations;
    request.long_side = args.size;
    if let Some(s) = args.strength {
        request.strength = s;
    }
    request.identity = identity_hints(&photo);
    let engine = ClassicEngine::new(catalogue);
    let candidates = engine.render(&request)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for c in candidates {
        let path = args.out.join(format!(
            "{}-{}.{}",
            args.style,
            c.seed,
            args.format.extension()
        ));
        save(&c.image, &path, args.format)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "{} ({} ms, engine {})",
            path.display(),
            c.compute_ms,
            c.engine
        );
    }
    Ok(())
}

fn save(image: &RgbImage, path: &Path, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Png => image.save(path)?,
        Format::Jpeg => {
            let file = std::io::BufWriter::new(std::fs::File::create(path)?);
            image::codecs::jpeg::JpegEncoder::new_with_quality(file, JPEG_QUALITY)
                .encode_image(image)?;
        }
    }
    Ok(())
}

/// Decode any supported image, applying its EXIF orientation.
pub fn load_photo(path: &Path) -> anyhow::Result<RgbImage> {
    let reader = ImageReader::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut decoder = reader
        .into_decoder()
        .with_context(|| format!("{} is not an image likeness can decode", path.display()))?;
    let orientation = decoder.orientation()?;
    let mut img = DynamicImage::from_decoder(decoder)
        .with_context(|| format!("cannot decode {}", path.display()))?;
    img.apply_orientation(orientation);
    if img.width() < 16 || img.height() < 16 {
        bail!(
            "{} is {}x{}; too small to render",
            path.display(),
            img.width(),
            img.height()
        );
    }
    Ok(img.to_rgb8())
}

/// Face boxes (with their landmarks when the identity models are installed)
/// guide where detail is kept. With no face found (a pet), the salient region
/// stands in for the head, as the analysis stage does it.
pub fn identity_hints(photo: &RgbImage) -> IdentityHints {
    let faces: Vec<FaceHint> = likeness_vision::faces::detect_faces(photo)
        .into_iter()
        .map(|f| FaceHint {
            rect: f.rect,
            landmarks: None,
        })
        .collect();
    let subject = if faces.is_empty() {
        let gray = image::imageops::grayscale(photo);
        likeness_vision::saliency::salient_box(&gray).map(|(b, _)| b)
    } else {
        None
    };
    let mut hints = IdentityHints { faces, subject };
    if let Some(finder) = likeness::identity::landmarks() {
        likeness_render::add_landmarks(&mut hints, photo, finder.as_ref());
    }
    hints
}
