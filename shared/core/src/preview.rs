//! A preview and the status machine every adapter enforces with conditional writes.

use crate::analysis::AnalysisRecord;
use crate::ids::{PreviewId, StyleId, TenantId};
use crate::rejection::RejectionReason;
use crate::tasks::DeliveredStyle;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What the customer says the photo shows. It decides how analysis counts subjects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Person,
    Couple,
    Pet,
}

impl SubjectKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            SubjectKind::Person => "person",
            SubjectKind::Couple => "couple",
            SubjectKind::Pet => "pet",
        }
    }
    /// How many human faces the portrait must keep (pets have none to count).
    pub fn expected_faces(&self) -> Option<usize> {
        match self {
            SubjectKind::Person => Some(1),
            SubjectKind::Couple => Some(2),
            SubjectKind::Pet => None,
        }
    }
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SubjectKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "person" => Ok(SubjectKind::Person),
            "couple" => Ok(SubjectKind::Couple),
            "pet" => Ok(SubjectKind::Pet),
            other => Err(format!(
                "unknown subject `{other}`: expected person, couple or pet"
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    AwaitingUpload,
    Analyzing,
    Rejected,
    Rendering,
    Judging,
    Ready,
    Failed,
    Expired,
    Erased,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::AwaitingUpload,
        Status::Analyzing,
        Status::Rejected,
        Status::Rendering,
        Status::Judging,
        Status::Ready,
        Status::Failed,
        Status::Expired,
        Status::Erased,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Status::AwaitingUpload => "awaiting_upload",
            Status::Analyzing => "analyzing",
            Status::Rejected => "rejected",
            Status::Rendering => "rendering",
            Status::Judging => "judging",
            Status::Ready => "ready",
            Status::Failed => "failed",
            Status::Expired => "expired",
            Status::Erased => "erased",
        }
    }

    /// No further work happens to a preview in one of these states.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Status::Rejected | Status::Ready | Status::Failed | Status::Expired | Status::Erased
        )
    }

    /// The allowed transitions. `judging → rendering` is the judge asking for another
    /// attempt; `expired` and `erased` may follow any state (retention, customer erasure).
    pub fn can_become(&self, next: Status) -> bool {
        use Status::*;
        match (self, next) {
            (Erased, _) => false,
            (_, Erased) => true,
            (Expired, _) => false,
            (_, Expired) => true,
            (AwaitingUpload, Analyzing) => true,
            (Analyzing, Rejected | Rendering) => true,
            (Rendering, Judging) => true,
            (Judging, Ready | Rendering) => true,
            (AwaitingUpload | Analyzing | Rendering | Judging, Failed) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown status `{s}`"))
    }
}

/// What the customer affirmed when ordering. Kept with the preview as the record of
/// why likeness may process this photo at all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub rights_to_photo: bool,
}

/// The upload the customer promised: the presigned URL binds exactly this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSpec {
    pub key: String,
    pub content_type: String,
    pub content_length: u64,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    pub id: PreviewId,
    pub tenant: TenantId,
    pub status: Status,
    pub subject: SubjectKind,
    pub styles: Vec<StyleId>,
    /// Portraits delivered per style.
    pub variations: u32,
    pub upload: UploadSpec,
    pub webhook_url: Option<String>,
    pub consent: Consent,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Incremented on every write; conditional writes compare it.
    pub version: u64,
    /// The analysis as the analyze stage recorded it (verdict, metrics, subjects).
    #[serde(default)]
    pub analysis: Option<AnalysisRecord>,
    #[serde(default)]
    pub rejection_reasons: Vec<RejectionReason>,
    /// Why the pipeline failed, in words fit for the customer.
    #[serde(default)]
    pub failure: Option<String>,
    /// What was delivered per style, with scores, as finalize recorded it.
    #[serde(default)]
    pub results: Option<Vec<DeliveredStyle>>,
    /// When the customer's data is deleted (retention end).
    pub expires_at: DateTime<Utc>,
}

/// The fields a status transition may set alongside the new status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PreviewPatch {
    pub analysis: Option<AnalysisRecord>,
    pub rejection_reasons: Option<Vec<RejectionReason>>,
    pub failure: Option<String>,
    pub results: Option<Vec<DeliveredStyle>>,
    /// Drop what was derived from the photo (its analysis, the delivered
    /// results): what an erased preview's record keeps is the order itself.
    #[serde(default)]
    pub forget_photo: bool,
}

impl PreviewPatch {
    pub fn apply(self, preview: &mut Preview) {
        if self.forget_photo {
            preview.analysis = None;
            preview.results = None;
        }
        if let Some(analysis) = self.analysis {
            preview.analysis = Some(analysis);
        }
        if let Some(reasons) = self.rejection_reasons {
            preview.rejection_reasons = reasons;
        }
        if let Some(failure) = self.failure {
            preview.failure = Some(failure);
        }
        if let Some(results) = self.results {
            preview.results = Some(results);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_is_allowed_step_by_step() {
        use Status::*;
        let path = [AwaitingUpload, Analyzing, Rendering, Judging, Ready];
        for pair in path.windows(2) {
            assert!(pair[0].can_become(pair[1]), "{} -> {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn skipping_or_leaving_a_final_state_is_refused() {
        use Status::*;
        assert!(!AwaitingUpload.can_become(Rendering));
        assert!(!Analyzing.can_become(Ready));
        assert!(!Ready.can_become(Rendering));
        assert!(!Rejected.can_become(Analyzing));
        assert!(!Failed.can_become(Ready));
        assert!(!Erased.can_become(Expired));
        assert!(Ready.can_become(Expired));
        assert!(Expired.can_become(Erased));
    }

    #[test]
    fn status_round_trips_through_its_name() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>().unwrap(), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }
}
