//! Which object keys the store accepts. S3 keys are opaque strings, but this
//! store keeps `bucket/key` as a file path, so a key must name exactly one file
//! inside its bucket's directory: no `.` or `..` segment (which a filesystem would
//! resolve, and which could climb out of the bucket), no empty segment (which
//! would alias another key: `a//b` and `a/b` are one file), no backslash and no
//! control characters. Refused keys get S3's `InvalidArgument`.

use s3s::{S3Error, S3Result, s3_error};

/// S3's own limit on a key's length, in UTF-8 bytes.
pub(crate) const MAX_KEY_BYTES: usize = 1024;

/// Why `key` is refused, if it is.
pub(crate) fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        return Some("the key is empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return Some("the key is longer than 1024 bytes");
    }
    if key.chars().any(char::is_control) {
        return Some("the key contains a control character");
    }
    if key.contains('\\') {
        return Some("the key contains a backslash");
    }
    for segment in key.split('/') {
        match segment {
            "" => {
                return Some(
                    "the key has an empty path segment (a leading, trailing or double '/')",
                );
            }
            "." | ".." => return Some("the key has a '.' or '..' path segment"),
            _ => {}
        }
    }
    None
}

pub(crate) fn check_key(key: &str) -> S3Result<()> {
    match key_problem(key) {
        None => Ok(()),
        Some(why) => Err(invalid_key(key, why)),
    }
}

fn invalid_key(key: &str, why: &str) -> S3Error {
    // The key is quoted with Debug and clipped: it may be long or hold odd bytes.
    let shown: String = format!("{key:?}").chars().take(120).collect();
    s3_error!(InvalidArgument, "object key {shown} refused: {why}")
}

/// A copy source names `bucket/key` (optionally `?versionId=`); both parts are checked.
pub(crate) fn check_copy_source(source: &s3s::dto::CopySource) -> S3Result<()> {
    match source {
        s3s::dto::CopySource::Bucket { bucket, key, .. } => {
            check_bucket(bucket)?;
            check_key(key)
        }
        _ => Err(s3_error!(
            NotImplemented,
            "copy sources other than bucket/key are not supported"
        )),
    }
}

pub(crate) fn check_bucket(bucket: &str) -> S3Result<()> {
    super::check_bucket_name(bucket).map_err(|e| s3_error!(InvalidBucketName, "{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_empty_segments_and_odd_bytes_are_refused() {
        for bad in [
            "", ".", "..", "../x", "a/..", "a/../b", "./a", "a/./b", "/a", "a/", "a//b", "a\\b",
            "a\0b", "a\nb",
        ] {
            assert!(key_problem(bad).is_some(), "{bad:?}");
        }
        assert!(key_problem(&"k".repeat(1025)).is_some());
    }

    #[test]
    fn ordinary_keys_with_dots_in_names_are_kept() {
        for good in [
            "uploads/acme/pv_1/photo",
            "a.b/c..d/...",
            ".hidden/x",
            "x..",
            "é/ü",
            &"k".repeat(1024),
        ] {
            assert_eq!(key_problem(good), None, "{good:?}");
        }
    }
}
