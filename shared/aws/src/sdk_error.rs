//! SDK errors → `PortError`, so handlers decide on retries without seeing the SDK.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use likeness_core::PortError;

/// What kind of failure an S3 error code and HTTP status stand for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    NotFound,
    Invalid,
    Unavailable,
    Backend,
}

/// Service codes S3 (and S3-compatible servers) use for transient trouble.
const TRANSIENT_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "ServiceUnavailable",
    "InternalError",
    "OperationAborted",
];

const NOT_FOUND_CODES: &[&str] = &["NoSuchKey", "NotFound", "NoSuchUpload"];

const INVALID_CODES: &[&str] = &[
    "InvalidArgument",
    "InvalidRequest",
    "KeyTooLongError",
    "InvalidObjectName",
    "EntityTooLarge",
    "EntityTooSmall",
    "MissingContentLength",
    "InvalidDigest",
    "BadDigest",
];

pub(crate) fn classify(code: Option<&str>, status: Option<u16>) -> Kind {
    if let Some(code) = code {
        if NOT_FOUND_CODES.contains(&code) {
            return Kind::NotFound;
        }
        if TRANSIENT_CODES.contains(&code) {
            return Kind::Unavailable;
        }
        if INVALID_CODES.contains(&code) {
            return Kind::Invalid;
        }
    }
    match status {
        // A missing bucket is a deployment mistake, not a missing object: only
        // codeless 404s (HEAD responses have no body) count as "not found".
        Some(404) if code.is_none() => Kind::NotFound,
        Some(429) | Some(500..=599) => Kind::Unavailable,
        _ => Kind::Backend,
    }
}

/// Maps one SDK failure; `what` names the operation and key for the message.
pub(crate) fn port_error<E>(what: &str, err: SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = format!("{what}: {}", DisplayErrorContext(&err));
    match &err {
        // No answer from S3 at all: the network, DNS, a timeout. Worth retrying.
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            PortError::Unavailable(message)
        }
        SdkError::ConstructionFailure(_) => PortError::Invalid(message),
        _ => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            match classify(err.code(), status) {
                Kind::NotFound => PortError::NotFound(message),
                Kind::Invalid => PortError::Invalid(message),
                Kind::Unavailable => PortError::Unavailable(message),
                Kind::Backend => PortError::Backend(message),
            }
        }
    }
}

/// Builds the `PortError` variant for a message.
pub(crate) type MakeError = fn(String) -> PortError;
/// Recognises a service-specific error code.
pub(crate) type SpecialCodes = fn(&str) -> Option<MakeError>;

/// Like [`port_error`], but a service-specific code (SQS, Step Functions) that
/// `special` recognises maps to the error it names before the S3-shaped rules.
pub(crate) fn port_error_with<E>(
    what: &str,
    err: SdkError<E, HttpResponse>,
    special: SpecialCodes,
) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(make) = err.code().and_then(special) {
        return make(format!("{what}: {}", DisplayErrorContext(&err)));
    }
    port_error(what, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_map_to_the_retry_decision() {
        assert_eq!(classify(Some("NoSuchKey"), Some(404)), Kind::NotFound);
        assert_eq!(classify(None, Some(404)), Kind::NotFound);
        assert_eq!(classify(Some("NoSuchBucket"), Some(404)), Kind::Backend);
        assert_eq!(classify(Some("SlowDown"), Some(503)), Kind::Unavailable);
        assert_eq!(
            classify(Some("ThrottlingException"), Some(400)),
            Kind::Unavailable
        );
        assert_eq!(classify(None, Some(429)), Kind::Unavailable);
        assert_eq!(classify(Some("Weird"), Some(502)), Kind::Unavailable);
        assert_eq!(classify(Some("AccessDenied"), Some(403)), Kind::Backend);
        assert_eq!(
            classify(Some("SignatureDoesNotMatch"), Some(403)),
            Kind::Backend
        );
        assert_eq!(classify(Some("InvalidArgument"), Some(400)), Kind::Invalid);
        assert_eq!(classify(None, None), Kind::Backend);
    }
}
