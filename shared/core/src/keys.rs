//! Object key layout (DESIGN §4). Every key is built here so the retention and
//! clean-up rules can rely on the prefixes.

use crate::ids::{PreviewId, StyleId, TenantId};

/// The raw upload; deleted once analysis has made the normalized reference.
pub fn upload(tenant: &TenantId, id: &PreviewId) -> String {
    format!("uploads/{tenant}/{id}/photo")
}

/// Everything under here is intermediate and deleted when the preview is final.
pub fn work_prefix(id: &PreviewId) -> String {
    format!("work/{id}/")
}

pub fn work(id: &PreviewId, name: &str) -> String {
    format!("work/{id}/{name}")
}

/// The normalized reference analysis makes from the upload (PNG, no metadata).
pub fn reference(id: &PreviewId) -> String {
    work(id, "reference.png")
}

/// Where analysis found faces and subject in the reference (`tasks::Hints`, JSON).
pub fn hints(id: &PreviewId) -> String {
    work(id, "hints.json")
}

/// Candidate `n` (0-based) of one attempt of one style (PNG).
pub fn candidate(id: &PreviewId, style: &StyleId, attempt: u32, n: usize) -> String {
    work(id, &format!("candidates/{style}/{attempt}-{n}.png"))
}

/// The judge's best candidates so far for a style, carried to its next attempt.
pub fn judge_carry(id: &PreviewId, style: &StyleId) -> String {
    work(id, &format!("judge/{style}.json"))
}

pub fn delivered_prefix(tenant: &TenantId, id: &PreviewId) -> String {
    format!("previews/{tenant}/{id}/")
}

pub fn delivered(tenant: &TenantId, id: &PreviewId, style: &StyleId, n: u32, ext: &str) -> String {
    format!("previews/{tenant}/{id}/{style}-{n}.{ext}")
}

/// Parse `uploads/{tenant}/{id}/photo` back into its parts; `None` for any other key.
pub fn parse_upload(key: &str) -> Option<(TenantId, PreviewId)> {
    let mut parts = key.split('/');
    let (Some("uploads"), Some(tenant), Some(id), Some("photo"), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let tenant = TenantId::new(tenant);
    let id = PreviewId::new(id);
    (tenant.is_well_formed() && id.is_well_formed()).then_some((tenant, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_keys_round_trip_and_strangers_are_refused() {
        let tenant = TenantId::new("acme");
        let id = PreviewId::new(format!("pv_{}", "a".repeat(32)));
        let key = upload(&tenant, &id);
        assert_eq!(parse_upload(&key), Some((tenant, id)));
        assert_eq!(parse_upload("uploads/acme/../photo"), None);
        assert_eq!(parse_upload("work/x/photo"), None);
        assert_eq!(parse_upload(&format!("{key}/extra")), None);
    }

    #[test]
    fn every_work_object_lies_under_the_work_prefix() {
        let id = PreviewId::new(format!("pv_{}", "b".repeat(32)));
        let style = StyleId::new("oil");
        for key in [
            reference(&id),
            hints(&id),
            candidate(&id, &style, 2, 3),
            judge_carry(&id, &style),
        ] {
            assert!(key.starts_with(&work_prefix(&id)), "{key}");
        }
        assert_eq!(
            candidate(&id, &style, 2, 3),
            format!("work/{id}/candidates/oil/2-3.png")
        );
    }
}
