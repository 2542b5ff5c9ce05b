//! How long likeness keeps what a customer gave it. One schedule, read by the
//! API (a preview's `expires_at`), by the one-machine sweeper and, through a
//! test below, checked against the S3 lifecycle rules and the table TTL the
//! AWS template deploys.

use crate::Preview;
use chrono::{DateTime, Duration, Utc};

/// Days an upload may stay under `uploads/` (analysis deletes it at once; this
/// is the backstop for a photo whose analysis never finished).
pub const UPLOAD_DAYS: i64 = 1;
/// Days work objects may stay under `work/` (finalize and mark-failed delete
/// them; this is the backstop for an execution that never ended).
pub const WORK_DAYS: i64 = 2;
/// Days a preview and its delivered portraits are kept unless configured
/// otherwise (`LIKENESS_RETENTION_DAYS`, the template's `PreviewRetentionDays`).
pub const DEFAULT_PREVIEW_DAYS: i64 = 7;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub upload: Duration,
    pub work: Duration,
    pub previews: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self::with_preview_days(DEFAULT_PREVIEW_DAYS)
    }
}

impl Retention {
    pub fn with_preview_days(days: i64) -> Self {
        Self {
            upload: Duration::days(UPLOAD_DAYS),
            work: Duration::days(WORK_DAYS),
            previews: Duration::days(days),
        }
    }

    /// `LIKENESS_RETENTION_DAYS` when set to a whole number of days ≥ 1, else the default.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("LIKENESS_RETENTION_DAYS") {
            Ok(v) if !v.trim().is_empty() => match v.trim().parse::<i64>() {
                Ok(days) if days >= 1 => Ok(Self::with_preview_days(days)),
                _ => Err(format!(
                    "LIKENESS_RETENTION_DAYS must be a whole number of days, at least 1 (got {v:?})"
                )),
            },
            _ => Ok(Self::default()),
        }
    }

    /// When a preview ordered at `created_at` is deleted.
    pub fn expires_at(&self, created_at: DateTime<Utc>) -> DateTime<Utc> {
        created_at + self.previews
    }

    /// What retention asks of `preview` at `now`.
    pub fn due(&self, preview: &Preview, now: DateTime<Utc>) -> Due {
        if now >= preview.expires_at {
            Due::Expire
        } else if preview.status.is_final() {
            // The stages deleted the upload and work objects when it ended.
            Due::Nothing
        } else if now >= preview.created_at + self.work {
            Due::UploadAndWork
        } else if now >= preview.created_at + self.upload {
            Due::Upload
        } else {
            Due::Nothing
        }
    }
}

/// What retention asks of one preview.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    Nothing,
    /// The upload is past its lifetime: delete it.
    Upload,
    /// The upload and the work objects are past their lifetimes.
    UploadAndWork,
    /// The preview is past retention: delete everything and mark it `expired`.
    Expire,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ExpirationInDays` per lifecycle `Prefix` of the template's bucket, and the
    /// `PreviewRetentionDays` parameter's default.
    fn template_schedule() -> (std::collections::BTreeMap<String, String>, i64) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml");
        let text = std::fs::read_to_string(path).expect("reading infra/template.yaml");
        let mut rules = std::collections::BTreeMap::new();
        let (mut prefix, mut parameter, mut default_days) = (None::<String>, None::<String>, None);
        for line in text.lines() {
            let trimmed = line.trim().trim_start_matches("- ");
            let indent = line.len() - line.trim_start().len();
            if indent == 2 {
                parameter = Some(trimmed.trim_end_matches(':').to_owned());
            }
            if let Some(p) = trimmed.strip_prefix("Prefix:") {
                prefix = Some(p.trim().to_owned());
            }
            if let Some(days) = trimmed.strip_prefix("ExpirationInDays:") {
                let prefix = prefix.take().expect("a Prefix before ExpirationInDays");
                rules.insert(prefix, days.trim().to_owned());
            }
            if parameter.as_deref() == Some("PreviewRetentionDays")
                && let Some(d) = trimmed.strip_prefix("Default:")
            {
                default_days = Some(d.trim().parse().expect("a number of days"));
            }
        }
        (rules, default_days.expect("PreviewRetentionDays' Default"))
    }

    #[test]
    fn the_schedule_is_the_one_the_template_deploys() {
        let (rules, default_days) = template_schedule();
        assert_eq!(rules["uploads/"], UPLOAD_DAYS.to_string());
        assert_eq!(rules["work/"], WORK_DAYS.to_string());
        assert_eq!(rules["previews/"], "!Ref PreviewRetentionDays");
        assert_eq!(default_days, DEFAULT_PREVIEW_DAYS);
        // The table's TTL attribute is the record's expiry, which the API sets
        // from the same number of days.
        let template = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../infra/template.yaml"
        ))
        .unwrap();
        assert!(template.contains("AttributeName: expires_at"));
        assert!(template.contains("LIKENESS_RETENTION_DAYS: !Ref PreviewRetentionDays"));
    }

    #[test]
    fn what_is_due_follows_the_schedule() {
        use crate::testing::PreviewBuilder;
        let retention = Retention::default();
        let t0 = chrono::Utc::now();
        let mut p = PreviewBuilder::new("acme", &format!("pv_{:032x}", 1))
            .created_at(t0)
            .status(crate::Status::Analyzing)
            .expires_at(retention.expires_at(t0))
            .build();
        let at = |h: i64| t0 + Duration::hours(h);
        assert_eq!(retention.due(&p, at(23)), Due::Nothing);
        assert_eq!(retention.due(&p, at(24)), Due::Upload);
        assert_eq!(retention.due(&p, at(48)), Due::UploadAndWork);
        assert_eq!(retention.due(&p, at(7 * 24)), Due::Expire);
        p.status = crate::Status::Ready;
        assert_eq!(retention.due(&p, at(48)), Due::Nothing);
        assert_eq!(retention.due(&p, at(7 * 24)), Due::Expire);
    }
}
