//! likeness QA: every candidate render is scored on likeness, colour,
//! composition, style and artifacts before anything reaches the customer;
//! [`decide`] turns the scores into pass / retry / give up; [`cleanup`] removes
//! what was not delivered and writes the delivered previews without metadata.

pub mod blotches;
pub mod cleanup;
pub mod colour;
pub mod config;
pub mod decide;
pub mod deliver;
pub mod face;
pub mod metrics;
pub mod score;
pub mod tasks;

pub use cleanup::{CleanupReport, Delivered, clean_up, deliver};
pub use config::StyleQa;
pub use decide::{
    DecisionInput, DecisionOutput, JudgedCandidate, Outcome, RenderParams, decide, decide_json,
};
pub use deliver::DeliveryConfig;
pub use face::{FaceDescription, FaceModel};
pub use score::{ArtifactCode, CandidateReport, JudgeError, Reference, Scores, judge_candidate};
