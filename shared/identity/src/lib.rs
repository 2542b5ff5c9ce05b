//! Identity for likeness: who is in the photo, as numbers.
//!
//! Pure Rust over dlib's commercially usable models (CC0, fetched from PyPI,
//! see [`models`]): the 5-point landmark cascade ([`shape`]), dlib's aligned
//! face chip ([`chip`]), the 128-d ResNet descriptor run in candle
//! ([`resnet`]), and a colour reference of each subject ([`colour`]).
//! Lives in its own crate (not `likeness-vision`) so candle and the model
//! code stay in one place and crates that only detect faces do not build them.

pub mod chip;
pub mod colour;
mod dlib_io;
pub mod error;
pub mod face;
pub mod geometry;
pub mod models;
pub mod reference;
pub mod resnet;
pub mod shape;

pub use error::{IdentityError, Result};
pub use face::{FaceIdentity, FaceModels, SAME_PERSON_THRESHOLD, distance};
pub use models::{FETCH_COMMAND, Model, fetch, models_dir};
pub use reference::IdentityReference;
