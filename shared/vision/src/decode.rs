//! Decoding an untrusted upload into an 8-bit sRGB working copy.
//!
//! The format is sniffed from the bytes; dimensions are checked against
//! [`DecodeLimits`] from the header, before any pixel buffer is allocated;
//! EXIF orientation is applied; grayscale, 16-bit, CMYK and alpha (composited
//! on white) all end up as RGB8. JPEGs are decoded at a reduced DCT scale when
//! the working copy is smaller than the original, which is what keeps analysis
//! of a 12 MP photo cheaper than decoding it at full size. The result carries
//! no metadata at all: an `RgbImage` is pixels only.

use crate::resize::shrink_to_fit;
use crate::sniff::{Sniffed, sniff};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage, RgbaImage};
use likeness_core::{RejectionCode, RejectionReason};
use serde::{Deserialize, Serialize};
use std::io::Cursor;

/// Bounds on what an upload may make the decoder do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecodeLimits {
    /// Largest accepted file, in bytes.
    pub max_file_bytes: u64,
    /// Largest width or height, in pixels.
    pub max_side: u32,
    /// Largest pixel count, in megapixels (a 64 MP phone sensor is the largest we expect).
    pub max_megapixels: f64,
    /// Cap on what a decoder may allocate, in bytes.
    pub max_alloc_bytes: u64,
    /// Long side of the normalized working copy, in pixels.
    pub working_long_side: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: 50 * 1024 * 1024,
            max_side: 16_384,
            max_megapixels: 64.0,
            max_alloc_bytes: 1024 * 1024 * 1024,
            working_long_side: 2048,
        }
    }
}

/// Why an upload could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("the file is empty")]
    Empty,
    #[error("{} files are not supported", .0.name())]
    Unsupported(Sniffed),
    #[error("the file is not an image")]
    NotAnImage,
    #[error("the file is {bytes} bytes, above the {limit} byte limit")]
    FileTooLarge { bytes: u64, limit: u64 },
    #[error("the image is {width}x{height}, above the limits")]
    TooLarge { width: u32, height: u32 },
    #[error("decoding would need more memory than the allocation limit")]
    AllocationLimit,
    #[error("the image data ends early")]
    Truncated,
    #[error("the image data is corrupt: {0}")]
    Corrupt(String),
}

impl DecodeError {
    pub fn code(&self) -> RejectionCode {
        match self {
            DecodeError::Unsupported(_) | DecodeError::NotAnImage => {
                RejectionCode::UnsupportedFormat
            }
            DecodeError::FileTooLarge { .. }
            | DecodeError::TooLarge { .. }
            | DecodeError::AllocationLimit => RejectionCode::TooLarge,
            DecodeError::Empty | DecodeError::Truncated | DecodeError::Corrupt(_) => {
                RejectionCode::CorruptImage
            }
        }
    }

    /// The reason shown to the customer: the stable code with a message specific to this failure.
    pub fn reason(&self) -> RejectionReason {
        let message = match self {
            DecodeError::Empty => "The uploaded file is empty: upload the photo again.".to_owned(),
            DecodeError::Unsupported(Sniffed::Heif) => "HEIC/HEIF photos (the iPhone default) are not supported: export the photo as JPEG, or set Camera > Formats to Most Compatible.".to_owned(),
            DecodeError::Unsupported(Sniffed::Gif) => "GIF files (often animations) are not supported: upload a JPEG, PNG or WebP photo.".to_owned(),
            DecodeError::Unsupported(kind) => format!(
                "{} files are not supported: upload a JPEG, PNG or WebP photo.",
                kind.name()
            ),
            DecodeError::NotAnImage => "The file is not a photo (it may be a web page or a document saved with a photo's name): upload the photo itself, as JPEG, PNG or WebP.".to_owned(),
            DecodeError::FileTooLarge { .. }
            | DecodeError::TooLarge { .. }
            | DecodeError::AllocationLimit => RejectionCode::TooLarge.default_message().to_owned(),
            DecodeError::Truncated => "The photo is incomplete (the upload was cut off): upload it again.".to_owned(),
            DecodeError::Corrupt(_) => RejectionCode::CorruptImage.default_message().to_owned(),
        };
        RejectionReason::with_message(self.code(), message)
    }
}

pub use likeness_core::analysis::Format;

/// A decoded upload.
#[derive(Clone, Debug)]
pub struct Decoded {
    pub format: Format,
    /// Size of the original photo, upright (after EXIF orientation).
    pub width: u32,
    pub height: u32,
    /// The EXIF orientation tag that was applied (1 = none).
    pub exif_orientation: u8,
    /// Whether the source had an alpha channel (composited on white).
    pub had_alpha: bool,
    /// Upright 8-bit sRGB working copy, long side at most `working_long_side`; no metadata.
    pub image: RgbImage,
}

/// Decode `bytes` within `limits`.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    let kind = sniff(bytes);
    match kind {
        Sniffed::Empty => return Err(DecodeError::Empty),
        Sniffed::Html | Sniffed::Pdf | Sniffed::Unknown => return Err(DecodeError::NotAnImage),
        Sniffed::Jpeg | Sniffed::Png | Sniffed::WebP => {}
        other => return Err(DecodeError::Unsupported(other)),
    }
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(DecodeError::FileTooLarge {
            bytes: bytes.len() as u64,
            limit: limits.max_file_bytes,
        });
    }
    match kind {
        Sniffed::Jpeg => crate::jpeg::decode_jpeg(bytes, limits),
        Sniffed::Png => decode_with_image(bytes, ImageFormat::Png, Format::Png, limits),
        _ => decode_with_image(bytes, ImageFormat::WebP, Format::Webp, limits),
    }
}

/// Refuse dimensions beyond `limits`; called with header values only.
pub(crate) fn check_dimensions(
    width: u32,
    height: u32,
    limits: &DecodeLimits,
) -> Result<(), DecodeError> {
    let megapixels = width as f64 * height as f64 / 1e6;
    if width > limits.max_side || height > limits.max_side || megapixels > limits.max_megapixels {
        return Err(DecodeError::TooLarge { width, height });
    }
    if width == 0 || height == 0 {
        return Err(DecodeError::Corrupt("zero width or height".into()));
    }
    Ok(())
}

fn image_limits(limits: &DecodeLimits) -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    l.max_alloc = Some(limits.max_alloc_bytes);
    l
}

fn map_image_error(error: image::ImageError) -> DecodeError {
    use image::ImageError as E;
    match error {
        E::Limits(_) => DecodeError::AllocationLimit,
        E::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => DecodeError::Truncated,
        E::Unsupported(e) => DecodeError::Corrupt(format!("unsupported feature: {e}")),
        other => {
            let text = other.to_string();
            if text.contains("EOF") || text.contains("eof") || text.contains("end of") {
                DecodeError::Truncated
            } else {
                DecodeError::Corrupt(text)
            }
        }
    }
}

fn decode_with_image(
    bytes: &[u8],
    image_format: ImageFormat,
    format: Format,
    limits: &DecodeLimits,
) -> Result<Decoded, DecodeError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    // Only the allocation cap while the header is read, so an oversized image
    // is reported with its dimensions by `check_dimensions`; then all limits.
    let mut header_limits = Limits::no_limits();
    header_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(header_limits);
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    decoder
        .set_limits(image_limits(limits))
        .map_err(map_image_error)?;
    // A broken EXIF block must not cost the photo: it is then shown as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    let had_alpha = image.color().has_alpha();
    let rgb = if had_alpha {
        flatten_on_white(&image.to_rgba8())
    } else {
        image.to_rgb8()
    };
    drop(image);
    Ok(finish(
        format,
        (width, height),
        rgb,
        orientation,
        had_alpha,
        limits,
    ))
}

/// Alpha-composite on white: transparent regions of a cut-out read as a plain background.
pub(crate) fn flatten_on_white(rgba: &RgbaImage) -> RgbImage {
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let a = src[3] as u32;
        for c in 0..3 {
            dst[c] = ((src[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}

/// Shrink to the working size, then turn upright.
pub(crate) fn finish(
    format: Format,
    (stored_width, stored_height): (u32, u32),
    rgb: RgbImage,
    orientation: Orientation,
    had_alpha: bool,
    limits: &DecodeLimits,
) -> Decoded {
    let rgb = shrink_to_fit(rgb, limits.working_long_side);
    let mut upright = DynamicImage::ImageRgb8(rgb);
    upright.apply_orientation(orientation);
    let image = upright.into_rgb8();
    let (width, height) = if swaps_axes(orientation) {
        (stored_height, stored_width)
    } else {
        (stored_width, stored_height)
    };
    Decoded {
        format,
        width,
        height,
        exif_orientation: exif_number(orientation),
        had_alpha,
        image,
    }
}

fn exif_number(orientation: Orientation) -> u8 {
    match orientation {
        Orientation::NoTransforms => 1,
        Orientation::FlipHorizontal => 2,
        Orientation::Rotate180 => 3,
        Orientation::FlipVertical => 4,
        Orientation::Rotate90FlipH => 5,
        Orientation::Rotate90 => 6,
        Orientation::Rotate270FlipH => 7,
        Orientation::Rotate270 => 8,
    }
}

/// Whether an orientation swaps width and height.
fn swaps_axes(orientation: Orientation) -> bool {
    matches!(exif_number(orientation), 5..=8)
}
