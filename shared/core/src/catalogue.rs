//! The style catalogue: data in `shared/core/data/styles.toml`, loaded at start.
//! Engine- and QA-specific sections stay free-form tables here; the render and judge
//! crates give them their types, so this crate never learns an engine's knobs.

use crate::ids::StyleId;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub const DEFAULT_CATALOGUE: &str = include_str!("../data/styles.toml");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Style {
    pub id: StyleId,
    pub name: String,
    pub description: String,
    /// Diffusion prompt; `{subject}` is replaced by a phrase for the subject kind.
    #[serde(default)]
    pub prompt: String,
    #[serde(default)]
    pub negative_prompt: String,
    /// Default img2img strength for the diffusion engine.
    #[serde(default = "default_strength")]
    pub strength: f32,
    /// A hybrid style renders the body in one style and the face in another.
    #[serde(default)]
    pub hybrid: Option<Hybrid>,
    /// Parameters of the classic (CPU) engine.
    #[serde(default)]
    pub classic: toml::Table,
    /// QA tolerances and thresholds for the judge.
    #[serde(default)]
    pub qa: toml::Table,
}

fn default_strength() -> f32 {
    0.55
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hybrid {
    pub body: StyleId,
    pub face: StyleId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Catalogue {
    #[serde(rename = "style")]
    pub styles: Vec<Style>,
}

#[derive(Debug, Error)]
pub enum CatalogueError {
    #[error("style catalogue is not valid TOML: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("style catalogue lists `{0}` twice")]
    Duplicate(String),
    #[error(
        "hybrid style `{style}` refers to `{missing}`, which is not a plain style in the catalogue"
    )]
    BadHybrid { style: String, missing: String },
    #[error("style catalogue is empty")]
    Empty,
}

impl Catalogue {
    pub fn from_toml(text: &str) -> Result<Self, CatalogueError> {
        let catalogue: Catalogue = toml::from_str(text)?;
        catalogue.validate()?;
        Ok(catalogue)
    }

    /// The catalogue shipped with likeness.
    pub fn builtin() -> Self {
        Self::from_toml(DEFAULT_CATALOGUE).expect("the built-in catalogue is valid (tested)")
    }

    fn validate(&self) -> Result<(), CatalogueError> {
        if self.styles.is_empty() {
            return Err(CatalogueError::Empty);
        }
        let mut seen = std::collections::HashSet::new();
        for style in &self.styles {
            if !seen.insert(style.id.as_str()) {
                return Err(CatalogueError::Duplicate(style.id.to_string()));
            }
        }
        for style in &self.styles {
            if let Some(hybrid) = &style.hybrid {
                for part in [&hybrid.body, &hybrid.face] {
                    let plain = self.get(part).is_some_and(|s| s.hybrid.is_none());
                    if !plain {
                        return Err(CatalogueError::BadHybrid {
                            style: style.id.to_string(),
                            missing: part.to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    pub fn get(&self, id: &StyleId) -> Option<&Style> {
        self.styles.iter().find(|s| &s.id == id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &StyleId> {
        self.styles.iter().map(|s| &s.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalogue_has_the_promised_styles() {
        let catalogue = Catalogue::builtin();
        for id in [
            "watercolor",
            "oil",
            "line_art",
            "pencil",
            "charcoal",
            "pop_art",
            "pastel",
        ] {
            assert!(catalogue.get(&StyleId::new(id)).is_some(), "missing {id}");
        }
        assert!(catalogue.styles.len() >= 8);
        assert!(catalogue.styles.iter().any(|s| s.hybrid.is_some()));
    }

    #[test]
    fn a_hybrid_of_an_unknown_style_is_refused() {
        let text = r#"
            [[style]]
            id = "a"
            name = "A"
            description = "a"
            hybrid = { body = "a", face = "nope" }
        "#;
        assert!(matches!(
            Catalogue::from_toml(text),
            Err(CatalogueError::BadHybrid { .. })
        ));
    }
}
