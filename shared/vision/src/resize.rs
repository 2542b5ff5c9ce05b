//! Cheap, alias-free downscaling.
//!
//! A triangle filter over a large ratio reads a wide window per output pixel;
//! averaging whole k×k blocks first, then finishing with a triangle filter over
//! a ratio below 2, costs one pass over the source and looks the same.

use image::{GrayImage, ImageBuffer, Pixel, RgbImage, imageops};

/// Shrink so the long side is at most `long_side`; smaller images are returned unchanged.
pub fn shrink_to_fit(image: RgbImage, long_side: u32) -> RgbImage {
    shrink(image, long_side)
}

/// Shrink a grayscale image so its long side is at most `long_side`.
pub fn shrink_gray_to_fit(image: GrayImage, long_side: u32) -> GrayImage {
    shrink(image, long_side)
}

/// A grayscale copy whose long side is at most `long_side`.
pub fn gray_to_fit(image: &RgbImage, long_side: u32) -> GrayImage {
    shrink(imageops::grayscale(image), long_side)
}

fn shrink<P>(image: ImageBuffer<P, Vec<u8>>, long_side: u32) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    let (w, h) = image.dimensions();
    let long = w.max(h);
    let long_side = long_side.max(1);
    if long <= long_side {
        return image;
    }
    let k = long / long_side;
    let image = if k >= 2 { box_reduce(&image, k) } else { image };
    let (w, h) = image.dimensions();
    let scale = long_side as f64 / w.max(h) as f64;
    let tw = ((w as f64 * scale).round() as u32).clamp(1, long_side);
    let th = ((h as f64 * scale).round() as u32).clamp(1, long_side);
    if (tw, th) == (w, h) {
        return image;
    }
    imageops::resize(&image, tw, th, imageops::FilterType::Triangle)
}

/// Average k×k blocks; a partial block at the right or bottom edge is dropped.
fn box_reduce<P>(image: &ImageBuffer<P, Vec<u8>>, k: u32) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    let channels = P::CHANNEL_COUNT as usize;
    let (w, h) = image.dimensions();
    let (ow, oh) = ((w / k).max(1), (h / k).max(1));
    let (kx, ky) = (k.min(w) as usize, k.min(h) as usize);
    let src = image.as_raw();
    let stride = w as usize * channels;
    let mut out = vec![0u8; ow as usize * oh as usize * channels];
    let mut sums = vec![0u32; ow as usize * channels];
    let area = (kx * ky) as u32;
    for oy in 0..oh as usize {
        sums.iter_mut().for_each(|s| *s = 0);
        for row in src.chunks_exact(stride).skip(oy * ky).take(ky) {
            for (ox, block) in row
                .chunks_exact(kx * channels)
                .take(ow as usize)
                .enumerate()
            {
                let acc = &mut sums[ox * channels..(ox + 1) * channels];
                for px in block.chunks_exact(channels) {
                    for (a, v) in acc.iter_mut().zip(px) {
                        *a += *v as u32;
                    }
                }
            }
        }
        let dst = &mut out[oy * ow as usize * channels..(oy + 1) * ow as usize * channels];
        for (d, s) in dst.iter_mut().zip(&sums) {
            *d = ((*s + area / 2) / area) as u8;
        }
    }
    ImageBuffer::from_raw(ow, oh, out).expect("buffer sized for its dimensions")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn keeps_small_images_and_bounds_large_ones() {
        let small = RgbImage::new(100, 50);
        assert_eq!(shrink_to_fit(small, 200).dimensions(), (100, 50));
        let big = RgbImage::from_pixel(5000, 3000, Rgb([10, 200, 30]));
        let out = shrink_to_fit(big, 2048);
        assert_eq!(out.width(), 2048);
        assert!(
            (out.height() as i32 - 1229).abs() <= 1,
            "{:?}",
            out.dimensions()
        );
        assert_eq!(*out.get_pixel(100, 100), Rgb([10, 200, 30]));
        let thin = RgbImage::new(10_000, 3);
        assert_eq!(shrink_to_fit(thin, 100).dimensions(), (100, 1));
    }

    #[test]
    fn block_average_is_exact() {
        let img = GrayImage::from_fn(4, 2, |x, _| image::Luma([if x < 2 { 0 } else { 200 }]));
        let out = box_reduce(&img, 2);
        assert_eq!(out.as_raw(), &vec![0u8, 200]);
    }
}
