//! Delivered previews: re-encoded as WebP (lossy, libwebp) and JPEG with no
//! metadata at all, optionally with a visible watermark for free previews.

use image::codecs::jpeg::JpegEncoder;
use image::{ImageDecoder, ImageReader, RgbImage};
use serde::{Deserialize, Serialize};
use std::io::Cursor;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("could not encode the preview as WebP: {0}")]
    EncodeWebP(String),
    #[error("could not encode the preview as {format}: {source}")]
    Encode {
        format: &'static str,
        source: image::ImageError,
    },
    #[error("the encoded {format} preview could not be read back: {source}")]
    ReadBack {
        format: &'static str,
        source: image::ImageError,
    },
    #[error("the encoded {0} preview carries metadata; refusing to deliver it")]
    Metadata(&'static str),
    #[error("storage: {0}")]
    Storage(#[from] likeness_core::PortError),
}

/// Lossy WebP quality: chosen by measurement on every style's render
/// (docs/QA.md, `examples/webp_quality.rs`): the smallest quality whose
/// worst style keeps luma PSNR at or above 38 dB against the pixels.
pub const WEBP_QUALITY: f32 = 85.0;
/// libwebp's speed/size trade-off (0 fastest .. 6 smallest): chosen by
/// measurement at [`WEBP_QUALITY`] (docs/QA.md, `examples/webp_quality.rs`).
pub const WEBP_METHOD: u8 = 2;

/// How previews are delivered; free previews usually get the watermark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    pub watermark: bool,
    /// Blend of the watermark over the picture, 0..=1.
    pub watermark_opacity: f32,
    pub jpeg_quality: u8,
    /// libwebp quality, 0..=100 (docs/QA.md has the measurement behind the default).
    pub webp_quality: f32,
    /// libwebp method, 0..=6 (docs/QA.md has the measurement behind the default).
    pub webp_method: u8,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            watermark: false,
            watermark_opacity: 0.35,
            jpeg_quality: 90,
            webp_quality: WEBP_QUALITY,
            webp_method: WEBP_METHOD,
        }
    }
}

/// 5x7 glyphs of the word the watermark writes; bit 4 is the leftmost column.
const PREVIEW: [[u8; 7]; 7] = [
    [
        0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000,
    ], // P
    [
        0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001,
    ], // R
    [
        0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111,
    ], // E
    [
        0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100,
    ], // V
    [
        0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110,
    ], // I
    [
        0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111,
    ], // E
    [
        0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010,
    ], // W
];

/// Write "PREVIEW" in three bands across the picture. Each stroke pixel is pushed
/// towards dark on light ground and towards light on dark ground, so the mark
/// shows on white paper (line art) and on charcoal alike.
pub fn watermark(image: &mut RgbImage, opacity: f32) {
    let (w, h) = image.dimensions();
    let opacity = opacity.clamp(0.0, 1.0);
    // 7 letters of 5 columns plus 1 column of spacing = 41 cells; span ~70% of the width.
    let cell = ((w as f32 * 0.7) / 41.0).floor().max(1.0) as u32;
    let text_w = 41 * cell;
    let text_h = 7 * cell;
    let x0 = w.saturating_sub(text_w) / 2;
    for band in 0..3u32 {
        let y0 = (h * (2 * band + 1)) / 6;
        let y0 = y0.saturating_sub(text_h / 2);
        for (i, glyph) in PREVIEW.iter().enumerate() {
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..5u32 {
                    if bits & (1 << (4 - col)) == 0 {
                        continue;
                    }
                    let cx = x0 + (i as u32 * 6 + col) * cell;
                    let cy = y0 + row as u32 * cell;
                    for y in cy..(cy + cell).min(h) {
                        for x in cx..(cx + cell).min(w) {
                            let p = image.get_pixel_mut(x, y);
                            let luma =
                                0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
                            let ink = if luma > 128.0 { 30.0 } else { 235.0 };
                            for c in p.0.iter_mut() {
                                *c = (*c as f32 * (1.0 - opacity) + ink * opacity).round() as u8;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Whether `bytes` (JPEG or WebP) carry EXIF or XMP: asks the decoder, then scans
/// the container for the markers themselves so a chunk the decoder skips still counts.
pub fn has_metadata(bytes: &[u8]) -> Result<bool, image::ImageError> {
    let decoder = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()?
        .into_decoder()?;
    let mut decoder = decoder;
    if decoder.exif_metadata()?.is_some() {
        return Ok(true);
    }
    let is_webp = bytes.len() > 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP";
    if is_webp {
        // RIFF chunks: fourcc, little-endian size, payload padded to even length.
        let mut at = 12;
        while at + 8 <= bytes.len() {
            let fourcc = &bytes[at..at + 4];
            if fourcc == b"EXIF" || fourcc == b"XMP " {
                return Ok(true);
            }
            let size =
                u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
                    as usize;
            at += 8 + size + (size & 1);
        }
        return Ok(false);
    }
    if bytes.starts_with(&[0xFF, 0xD8]) {
        // Walk the JPEG marker segments up to the scan: APP1 holds EXIF and XMP.
        let mut at = 2;
        while at + 4 <= bytes.len() && bytes[at] == 0xFF {
            let marker = bytes[at + 1];
            if marker == 0xDA {
                break;
            }
            if marker == 0xE1 {
                return Ok(true);
            }
            let len = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
            at += 2 + len;
        }
    }
    Ok(false)
}

/// The preview encoded as (lossy WebP, JPEG), each checked to carry no metadata.
/// `image` 0.25 encodes WebP losslessly only (about 1 MB for a 1024 px
/// preview), so WebP goes through libwebp, which writes a bare `VP8 ` stream.
pub fn encode(
    image: &RgbImage,
    config: &DeliveryConfig,
) -> Result<(Vec<u8>, Vec<u8>), DeliveryError> {
    let mut picture = image.clone();
    if config.watermark {
        watermark(&mut picture, config.watermark_opacity);
    }
    let webp = encode_webp(&picture, config.webp_quality, config.webp_method)?;
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, config.jpeg_quality.clamp(1, 100))
        .encode_image(&picture)
        .map_err(|source| DeliveryError::Encode {
            format: "JPEG",
            source,
        })?;
    for (format, bytes) in [("WebP", &webp), ("JPEG", &jpeg)] {
        if has_metadata(bytes).map_err(|source| DeliveryError::ReadBack { format, source })? {
            return Err(DeliveryError::Metadata(format));
        }
    }
    Ok((webp, jpeg))
}

/// Lossy WebP at `quality` (clamped to 0..=100) with libwebp's `method`
/// (clamped to 0..=6).
pub fn encode_webp(image: &RgbImage, quality: f32, method: u8) -> Result<Vec<u8>, DeliveryError> {
    let quality = if quality.is_finite() {
        quality.clamp(0.0, 100.0)
    } else {
        WEBP_QUALITY
    };
    let mut config = webp::WebPConfig::new().map_err(|()| {
        DeliveryError::EncodeWebP("libwebp refused its default configuration".into())
    })?;
    config.lossless = 0;
    config.quality = quality;
    config.method = i32::from(method.min(6));
    webp::Encoder::from_rgb(image.as_raw(), image.width(), image.height())
        .encode_advanced(&config)
        .map(|memory| memory.to_vec())
        .map_err(|e| DeliveryError::EncodeWebP(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webp_is_lossy_small_and_decodes_to_the_picture() {
        let img = RgbImage::from_fn(320, 240, |x, y| {
            let v = 128.0 + 100.0 * ((x as f32 * 0.05).sin() * (y as f32 * 0.04).cos());
            image::Rgb([v as u8, (v * 0.8) as u8, 90])
        });
        let (webp, _) = encode(&img, &DeliveryConfig::default()).unwrap();
        assert_eq!(&webp[12..16], b"VP8 ", "a lossy bitstream");
        let back = image::load_from_memory(&webp).unwrap().to_rgb8();
        assert_eq!(back.dimensions(), img.dimensions());
        let err = back
            .as_raw()
            .iter()
            .zip(img.as_raw())
            .map(|(a, b)| a.abs_diff(*b) as f32)
            .sum::<f32>()
            / img.as_raw().len() as f32;
        assert!(err < 3.0, "mean error {err}");
        assert!(webp.len() < img.as_raw().len() / 10, "{} bytes", webp.len());
    }

    #[test]
    fn a_jpeg_with_an_exif_segment_is_recognised_and_ours_has_none() {
        let img = RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
        });
        let (webp, jpeg) = encode(&img, &DeliveryConfig::default()).unwrap();
        assert!(!has_metadata(&webp).unwrap());
        assert!(!has_metadata(&jpeg).unwrap());
        // Splice a minimal APP1 Exif segment after SOI: the check must see it.
        let mut tagged = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x10];
        tagged.extend_from_slice(b"Exif\0\0II*\0\x08\0\0\0");
        tagged.extend_from_slice(&jpeg[2..]);
        assert!(has_metadata(&tagged).unwrap());
    }

    #[test]
    fn the_watermark_is_visible_on_white_and_on_black() {
        for ground in [250u8, 5] {
            let mut img = RgbImage::from_pixel(400, 300, image::Rgb([ground; 3]));
            watermark(&mut img, 0.35);
            let changed = img.pixels().filter(|p| p[0].abs_diff(ground) > 40).count();
            assert!(changed > 2000, "ground {ground}: {changed} pixels marked");
        }
    }
}
