//! The catalogue's free-form `classic` table, typed. Unknown keys are refused so a
//! typo in `styles.toml` fails loudly instead of silently rendering the default.

use serde::Deserialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    Watercolor,
    Oil,
    LineArt,
    Pencil,
    Charcoal,
    PopArt,
    Pastel,
    InkWash,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassicParams {
    pub medium: Medium,
    /// Long side at which the heavy filters run, for a 1024 px output; the result
    /// is brought up to the output size before texture is added at full resolution.
    #[serde(default = "d_work")]
    pub work_long_side: u32,
    /// Smoothing / brush radius in work pixels on the subject.
    #[serde(default = "d_radius")]
    pub radius: f32,
    /// Radius on the face (smaller keeps likeness).
    #[serde(default = "d_face_radius")]
    pub face_radius: f32,
    /// Radius multiplier for the background (simplified more than the subject).
    #[serde(default = "d_bg")]
    pub background_scale: f32,
    /// 0..1: how strongly the background fades to bare paper / flat ground.
    #[serde(default = "d_fade")]
    pub background_fade: f32,
    /// Line strength (0 = no contour lines).
    #[serde(default = "d_lines")]
    pub lines: f32,
    /// Difference-of-Gaussians scale in work pixels.
    #[serde(default = "d_line_sigma")]
    pub line_sigma: f32,
    /// Texture (paper grain, granulation, canvas, chalk) strength 0..1.
    #[serde(default = "d_texture")]
    pub texture: f32,
    /// Saturation multiplier.
    #[serde(default = "d_one")]
    pub saturation: f32,
    /// Hatching / stroke spacing at 1024 px output, in output pixels.
    #[serde(default = "d_stroke")]
    pub stroke: f32,
    /// Number of tone bands (pop art, ink wash).
    #[serde(default = "d_levels")]
    pub levels: u32,
    /// Paper colours, one picked per seed (hex `#rrggbb`).
    #[serde(default)]
    pub papers: Vec<String>,
    /// Palettes (pop art: dark, shadow, mid, light, background), one picked per seed.
    #[serde(default)]
    pub palettes: Vec<Vec<String>>,
}

fn d_work() -> u32 {
    512
}
fn d_radius() -> f32 {
    5.0
}
fn d_face_radius() -> f32 {
    2.5
}
fn d_bg() -> f32 {
    1.8
}
fn d_fade() -> f32 {
    0.6
}
fn d_lines() -> f32 {
    0.5
}
fn d_line_sigma() -> f32 {
    1.0
}
fn d_texture() -> f32 {
    0.5
}
fn d_one() -> f32 {
    1.0
}
fn d_stroke() -> f32 {
    6.0
}
fn d_levels() -> u32 {
    4
}

impl ClassicParams {
    pub fn from_table(table: &toml::Table) -> Result<Self, String> {
        let params: ClassicParams = table.clone().try_into().map_err(|e| e.to_string())?;
        for hex in params.papers.iter().chain(params.palettes.iter().flatten()) {
            parse_hex(hex)?;
        }
        if params.palettes.iter().any(|p| p.len() < 5) && params.medium == Medium::PopArt {
            return Err(
                "pop art palettes need five colours: dark, shadow, mid, light, background".into(),
            );
        }
        if !(64..=2048).contains(&params.work_long_side) {
            return Err(format!(
                "work_long_side {} is outside 64..=2048",
                params.work_long_side
            ));
        }
        Ok(params)
    }
}

/// `#rrggbb` to 0..1 sRGB.
pub fn parse_hex(hex: &str) -> Result<[f32; 3], String> {
    let h = hex.strip_prefix('#').unwrap_or(hex);
    if h.len() != 6 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("colour `{hex}` is not #rrggbb"));
    }
    let v = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).map(|b| b as f32 / 255.0);
    Ok([
        v(0).unwrap_or(0.0),
        v(2).unwrap_or(0.0),
        v(4).unwrap_or(0.0),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_plain_style_has_valid_classic_params() {
        for style in likeness_core::Catalogue::builtin().styles {
            if style.hybrid.is_none() {
                ClassicParams::from_table(&style.classic)
                    .unwrap_or_else(|e| panic!("{}: {e}", style.id));
            }
        }
    }

    #[test]
    fn a_typo_or_bad_colour_is_refused() {
        let t: toml::Table = toml::from_str("medium = \"oil\"\nradus = 3.0").unwrap();
        assert!(ClassicParams::from_table(&t).unwrap_err().contains("radus"));
        let t: toml::Table = toml::from_str("medium = \"oil\"\npapers = [\"#12345\"]").unwrap();
        assert!(ClassicParams::from_table(&t).is_err());
        let t: toml::Table = toml::from_str("medium = \"crayon\"").unwrap();
        assert!(ClassicParams::from_table(&t).is_err());
        assert_eq!(parse_hex("#ff0000").unwrap(), [1.0, 0.0, 0.0]);
    }
}
