//! Contact sheet: the photo and one render per style in a labelled grid, for
//! people who would rather look than read.

use image::{Rgb, RgbImage};

/// 5x7 capitals, digits and a little punctuation; enough for style names.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        'A' => [14, 17, 17, 31, 17, 17, 17],
        'B' => [30, 17, 17, 30, 17, 17, 30],
        'C' => [14, 17, 16, 16, 16, 17, 14],
        'D' => [30, 17, 17, 17, 17, 17, 30],
        'E' => [31, 16, 16, 30, 16, 16, 31],
        'F' => [31, 16, 16, 30, 16, 16, 16],
        'G' => [14, 17, 16, 23, 17, 17, 15],
        'H' => [17, 17, 17, 31, 17, 17, 17],
        'I' => [14, 4, 4, 4, 4, 4, 14],
        'J' => [7, 2, 2, 2, 2, 18, 12],
        'K' => [17, 18, 20, 24, 20, 18, 17],
        'L' => [16, 16, 16, 16, 16, 16, 31],
        'M' => [17, 27, 21, 21, 17, 17, 17],
        'N' => [17, 17, 25, 21, 19, 17, 17],
        'O' => [14, 17, 17, 17, 17, 17, 14],
        'P' => [30, 17, 17, 30, 16, 16, 16],
        'Q' => [14, 17, 17, 17, 21, 18, 13],
        'R' => [30, 17, 17, 30, 20, 18, 17],
        'S' => [15, 16, 16, 14, 1, 1, 30],
        'T' => [31, 4, 4, 4, 4, 4, 4],
        'U' => [17, 17, 17, 17, 17, 17, 14],
        'V' => [17, 17, 17, 17, 17, 10, 4],
        'W' => [17, 17, 17, 21, 21, 21, 10],
        'X' => [17, 17, 10, 4, 10, 17, 17],
        'Y' => [17, 17, 10, 4, 4, 4, 4],
        'Z' => [31, 1, 2, 4, 8, 16, 31],
        '0' => [14, 17, 19, 21, 25, 17, 14],
        '1' => [4, 12, 4, 4, 4, 4, 14],
        '2' => [14, 17, 1, 2, 4, 8, 31],
        '3' => [30, 1, 1, 14, 1, 1, 30],
        '4' => [2, 6, 10, 18, 31, 2, 2],
        '5' => [31, 16, 30, 1, 1, 17, 14],
        '6' => [6, 8, 16, 30, 17, 17, 14],
        '7' => [31, 1, 2, 4, 8, 8, 8],
        '8' => [14, 17, 17, 14, 17, 17, 14],
        '9' => [14, 17, 17, 15, 1, 2, 12],
        '_' => [0, 0, 0, 0, 0, 0, 31],
        '-' => [0, 0, 0, 31, 0, 0, 0],
        '+' => [0, 4, 4, 31, 4, 4, 0],
        '(' => [2, 4, 8, 8, 8, 4, 2],
        ')' => [8, 4, 2, 2, 2, 4, 8],
        _ => [0; 7],
    }
}

/// Draw `text` at (x, y) with pixel size `scale`, clipped to the image.
pub fn draw_text(img: &mut RgbImage, x: u32, y: u32, scale: u32, text: &str, colour: Rgb<u8>) {
    for (i, c) in text.chars().enumerate() {
        let rows = glyph(c);
        let gx = x + i as u32 * 6 * scale;
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..5u32 {
                if bits & (1 << (4 - col)) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (px, py) = (gx + col * scale + dx, y + r as u32 * scale + dy);
                        if px < img.width() && py < img.height() {
                            img.put_pixel(px, py, colour);
                        }
                    }
                }
            }
        }
    }
}

/// Lay out labelled tiles (each fitted into `cell` x `cell`) in `columns` columns.
pub fn contact_sheet(tiles: &[(String, RgbImage)], cell: u32, columns: u32) -> RgbImage {
    let columns = columns.max(1);
    let label = 14 + cell / 64 * 4;
    let gap = 8;
    let rows = (tiles.len() as u32).div_ceil(columns);
    let width = columns * (cell + gap) + gap;
    let height = rows * (cell + label + gap) + gap;
    let mut sheet = RgbImage::from_pixel(width, height, Rgb([250, 249, 246]));
    let scale = (label / 10).max(1);
    for (i, (name, img)) in tiles.iter().enumerate() {
        let (col, row) = (i as u32 % columns, i as u32 / columns);
        let x0 = gap + col * (cell + gap);
        let y0 = gap + row * (cell + label + gap);
        let s = cell as f32 / img.width().max(img.height()) as f32;
        let (tw, th) = (
            ((img.width() as f32 * s) as u32).max(1),
            ((img.height() as f32 * s) as u32).max(1),
        );
        let tile = image::imageops::resize(img, tw, th, image::imageops::FilterType::Triangle);
        image::imageops::replace(
            &mut sheet,
            &tile,
            (x0 + (cell - tw) / 2) as i64,
            (y0 + (cell - th) / 2) as i64,
        );
        draw_text(
            &mut sheet,
            x0,
            y0 + cell + 3,
            scale,
            name,
            Rgb([40, 40, 48]),
        );
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sheet_holds_every_tile_and_its_label() {
        let tiles = vec![
            (
                "A".to_string(),
                RgbImage::from_pixel(40, 20, Rgb([255, 0, 0])),
            ),
            (
                "B".to_string(),
                RgbImage::from_pixel(20, 40, Rgb([0, 0, 255])),
            ),
            (
                "C".to_string(),
                RgbImage::from_pixel(30, 30, Rgb([0, 255, 0])),
            ),
        ];
        let sheet = contact_sheet(&tiles, 64, 2);
        assert_eq!(sheet.width(), 2 * 72 + 8);
        let count = |c: [u8; 3]| sheet.pixels().filter(|p| p.0 == c).count();
        assert!(
            count([255, 0, 0]) > 1000 && count([0, 0, 255]) > 1000 && count([0, 255, 0]) > 1000
        );
        assert!(count([40, 40, 48]) > 10, "labels drawn");
    }
}
