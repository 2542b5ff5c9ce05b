//! likeness QA and delivery: every candidate render is scored on likeness,
//! colour, composition, style and artifacts before anything reaches the
//! customer; [`decide`] turns the scores into pass / retry / give up;
//! [`cleanup`] removes what was not delivered and writes the delivered previews
//! without metadata. The state machine's tasks each have a module with one
//! `handle`: [`judge_task`] (`Judge`), [`finalize`] (`Finalize`) and
//! [`mark_failed`] (`MarkFailed`).

pub mod blotches;
pub mod cleanup;
pub mod colour;
pub mod config;
pub mod decide;
pub mod deliver;
pub mod face;
pub mod finalize;
pub mod judge_task;
pub mod mark_failed;
pub mod metrics;
pub mod score;

pub use cleanup::{CleanupReport, Delivered, clean_up, deliver};
pub use config::StyleQa;
pub use decide::{
    DecisionInput, DecisionOutput, JudgedCandidate, Outcome, RenderParams, decide, decide_json,
};
pub use deliver::DeliveryConfig;
pub use face::{FaceDescription, FaceModel};
pub use finalize::FinalizePorts;
pub use judge_task::JudgePorts;
pub use likeness_core::tasks::Selected;
pub use mark_failed::MarkFailedPorts;
pub use score::{
    ArtifactCode, CandidateReport, JudgeError, Reference, Scores, judge_candidate, judge_candidates,
};
