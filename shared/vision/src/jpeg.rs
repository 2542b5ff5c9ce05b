//! JPEG at reduced DCT scale.
//!
//! Decoding a 4000x3000 photo at 1/2 scale skips three quarters of the inverse
//! DCT and colour conversion work; the working copy never needs more.

use crate::decode::{DecodeError, DecodeLimits, Decoded, Format, check_dimensions, finish};
use image::RgbImage;
use image::metadata::Orientation;
use jpeg_decoder::{Decoder, Error as JpegError, PixelFormat};
use std::io::Cursor;

pub(crate) fn decode_jpeg(bytes: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    let mut decoder = Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(map_error)?;
    let info = decoder
        .info()
        .ok_or_else(|| DecodeError::Corrupt("no frame header".into()))?;
    let (width, height) = (info.width as u32, info.height as u32);
    check_dimensions(width, height, limits)?;
    decoder.set_max_decoding_buffer_size(
        usize::try_from(limits.max_alloc_bytes).unwrap_or(usize::MAX),
    );

    let divisor = scale_divisor(width.max(height), limits.working_long_side);
    let (sw, sh) = decoder
        .scale(
            width.div_ceil(divisor) as u16,
            height.div_ceil(divisor) as u16,
        )
        .map_err(map_error)?;
    let pixels = decoder.decode().map_err(map_error)?;
    let info = decoder
        .info()
        .ok_or_else(|| DecodeError::Corrupt("no frame header".into()))?;
    let rgb = to_rgb(sw as u32, sh as u32, info.pixel_format, pixels)?;
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    Ok(finish(
        Format::Jpeg,
        (width, height),
        rgb,
        orientation,
        false,
        limits,
    ))
}

/// The largest of 1, 2, 4, 8 that keeps the decoded long side at least three
/// quarters of the working size: a 4032 px phone photo is decoded at 1/2
/// (2016 px) rather than at full size for a 2048 px copy, a loss of detail
/// nobody sees, for a decode that costs half as much.
fn scale_divisor(long: u32, working: u32) -> u32 {
    let floor = working as u64 * 3 / 4;
    [8, 4, 2]
        .into_iter()
        .find(|d| long.div_ceil(*d) as u64 >= floor)
        .unwrap_or(1)
}

fn to_rgb(w: u32, h: u32, format: PixelFormat, pixels: Vec<u8>) -> Result<RgbImage, DecodeError> {
    let n = w as usize * h as usize;
    let rgb: Vec<u8> = match format {
        PixelFormat::RGB24 => pixels,
        PixelFormat::L8 => pixels.iter().flat_map(|&v| [v, v, v]).collect(),
        // Big-endian samples: the high byte is the 8-bit value.
        PixelFormat::L16 => pixels
            .chunks_exact(2)
            .flat_map(|s| [s[0], s[0], s[0]])
            .collect(),
        // The decoder hands back ink amounts (0 = no ink); without a CMYK
        // profile, the naive complement is the usual approximation.
        PixelFormat::CMYK32 => pixels
            .chunks_exact(4)
            .flat_map(|p| {
                let k = 255 - p[3] as u32;
                let ch = |c: u8| ((255 - c as u32) * k / 255) as u8;
                [ch(p[0]), ch(p[1]), ch(p[2])]
            })
            .collect(),
    };
    if rgb.len() != n * 3 {
        return Err(DecodeError::Corrupt(format!(
            "decoded {} samples for {w}x{h}",
            rgb.len()
        )));
    }
    RgbImage::from_raw(w, h, rgb).ok_or_else(|| DecodeError::Corrupt("pixel buffer size".into()))
}

fn map_error(error: JpegError) -> DecodeError {
    match error {
        JpegError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => DecodeError::Truncated,
        JpegError::Format(text) if text.contains("EOF") || text.contains("end of") => {
            DecodeError::Truncated
        }
        other => DecodeError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divisor_keeps_the_working_size() {
        assert_eq!(scale_divisor(2048, 2048), 1);
        assert_eq!(scale_divisor(4032, 2048), 2);
        assert_eq!(scale_divisor(6000, 2048), 2);
        assert_eq!(scale_divisor(9000, 2048), 4);
        assert_eq!(scale_divisor(16384, 2048), 8);
        assert_eq!(scale_divisor(500, 2048), 1);
    }
}
