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
}
