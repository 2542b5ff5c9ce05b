//! Bucket CORS as S3 applies it, so a page can PUT to a presigned URL (and
//! fetch a delivered portrait) from its own origin.
//!
//! A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`)
//! is answered from the first rule whose origin, method and every requested
//! header match, and refused with 403 when none does, as S3 does. Other
//! requests from a matching origin get `Access-Control-Allow-Origin`; the
//! request itself is still authorised by its signature alone.
//!
//! [`bucket_rule`] is the rule likeness ships: the SAM template declares the
//! same one for the bucket (`Bucket.CorsConfiguration`), and the deployed-stack
//! test compares the two.

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};

/// One `CORSRule`, as S3 stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorsRule {
    /// Exact origins, or patterns with one `*`.
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    /// Lower-case header names, or patterns with one `*`.
    pub allowed_headers: Vec<String>,
    pub max_age_secs: u32,
}

/// The rule for the likeness bucket: pages on `origins` upload the photo
/// (`PUT` with its signed `Content-Type`) and download portraits (`GET`).
pub fn bucket_rule(origins: &[String]) -> CorsRule {
    CorsRule {
        allowed_origins: origins.to_vec(),
        allowed_methods: vec!["PUT".into(), "GET".into()],
        allowed_headers: vec!["content-type".into()],
        max_age_secs: 3000,
    }
}

/// S3's wildcard: at most one `*`, matching any run of characters.
fn matches(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value.starts_with(head)
                && value.ends_with(tail)
        }
    }
}

impl CorsRule {
    fn allows(&self, origin: &str, method: &str, headers: &[String]) -> bool {
        self.allowed_origins.iter().any(|o| matches(o, origin))
            && self.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| {
                self.allowed_headers
                    .iter()
                    .any(|a| matches(&a.to_ascii_lowercase(), h))
            })
    }
}

/// What CORS makes of one request.
pub enum Cors {
    /// Not a CORS request, or one no rule allows: serve it unchanged.
    None,
    /// A preflight: answer it with this, without touching S3.
    Preflight(Response<String>),
    /// An allowed cross-origin request: serve it and add these headers.
    Allow(HeaderMap),
}

pub fn evaluate(rules: &[CorsRule], method: &Method, headers: &HeaderMap) -> Cors {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return Cors::None;
    };
    if method == Method::OPTIONS {
        return Cors::Preflight(preflight(rules, origin, headers));
    }
    match rules
        .iter()
        .find(|r| r.allows(origin, method.as_str(), &[]))
    {
        Some(_) => {
            let mut add = HeaderMap::new();
            if let Ok(origin) = HeaderValue::from_str(origin) {
                add.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            }
            add.insert(header::VARY, HeaderValue::from_static("Origin"));
            Cors::Allow(add)
        }
        None => Cors::None,
    }
}

fn preflight(rules: &[CorsRule], origin: &str, headers: &HeaderMap) -> Response<String> {
    let method = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|m| m.to_str().ok())
        .unwrap_or_default();
    let requested: Vec<String> = headers
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    let Some(rule) = rules.iter().find(|r| r.allows(origin, method, &requested)) else {
        return Response::builder()
            .status(StatusCode::FORBIDDEN)
            .header(header::CONTENT_TYPE, "application/xml")
            .body(
                "<Error><Code>AccessForbidden</Code>\
                 <Message>CORSResponse: This CORS request is not allowed.</Message></Error>"
                    .to_owned(),
            )
            .expect("static response");
    };
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin)
        .header(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            rule.allowed_methods.join(", "),
        )
        .header(header::ACCESS_CONTROL_MAX_AGE, rule.max_age_secs)
        .header(
            header::VARY,
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        );
    if !requested.is_empty() {
        response = response.header(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.join(", "));
    }
    response
        .body(String::new())
        .expect("valid preflight headers")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, extra: &[(&str, &str)]) -> (Method, HeaderMap) {
        let mut headers = HeaderMap::new();
        for (name, value) in extra {
            headers.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        (method.parse().unwrap(), headers)
    }

    #[test]
    fn a_preflight_is_allowed_only_for_a_listed_origin_method_and_headers() {
        let rules = [bucket_rule(&["http://127.0.0.1:8080".into()])];
        let ok = |origin: &str, method: &str, headers: &str| {
            let (m, h) = request(
                "OPTIONS",
                &[
                    ("origin", origin),
                    ("access-control-request-method", method),
                    ("access-control-request-headers", headers),
                ],
            );
            match evaluate(&rules, &m, &h) {
                Cors::Preflight(r) => r.status() == StatusCode::OK,
                _ => panic!("not a preflight"),
            }
        };
        assert!(ok("http://127.0.0.1:8080", "PUT", "content-type"));
        assert!(ok("http://127.0.0.1:8080", "GET", ""));
        assert!(!ok("http://127.0.0.1:8081", "PUT", "content-type"));
        assert!(!ok("http://127.0.0.1:8080", "DELETE", ""));
        assert!(!ok(
            "http://127.0.0.1:8080",
            "PUT",
            "content-type, x-amz-acl"
        ));
    }

    #[test]
    fn a_request_from_an_allowed_origin_is_marked_and_others_are_not() {
        let rules = [bucket_rule(&["https://shop.example".into()])];
        let (m, h) = request("PUT", &[("origin", "https://shop.example")]);
        assert!(matches!(evaluate(&rules, &m, &h), Cors::Allow(_)));
        let (m, h) = request("PUT", &[("origin", "https://evil.example")]);
        assert!(matches!(evaluate(&rules, &m, &h), Cors::None));
        let (m, h) = request("PUT", &[]);
        assert!(matches!(evaluate(&rules, &m, &h), Cors::None));
        assert!(matches("https://*.example", "https://shop.example"));
        assert!(!matches("https://*.example", "https://shop.example.evil"));
    }
}
