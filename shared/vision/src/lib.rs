//! Photo analysis for likeness: decode an untrusted upload safely, measure its
//! quality, find its subjects and framing, and decide whether it can make a
//! good portrait, with reasons a customer can act on.
//!
//! Entry point: [`analyze`]. No storage or queue concerns live here.

pub mod analysis;
pub mod config;
pub mod decode;
pub mod faces;
mod jpeg;
pub mod metrics;
pub mod raster;
pub mod resize;
pub mod saliency;
pub mod signature;
pub mod sniff;

pub use analysis::{
    Analysis, AnalyzeError, Framing, Metrics, Reason, Severity, Subjects, Verdict, analyze,
};
pub use config::AnalysisConfig;
pub use decode::{DecodeError, DecodeLimits, Decoded, Format, decode};
pub use faces::{FaceBox, detect_faces};
