//! The most a request body may hold, decided per route in one table (`router::body_limits`)
//! and enforced before routing, so no handler ever reads more. A declared `Content-Length`
//! above the limit is refused at once, without reading a byte of the body; a body of unknown
//! length (chunked, HTTP/2) is read up to the limit and refused as soon as it passes it.
//! Either way the answer is the route's refusal (413 `body_too_large` unless the route says
//! otherwise) with `Connection: close`, and the unread rest is never buffered.

use poem::http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use poem::http::{HeaderValue, Method, StatusCode, Version};
use poem::{Request, Response};

use crate::problem::Problem;

/// Bodies of routes the table does not name: JSON operations and operator forms.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// One route's limit and the refusal a larger body gets.
#[derive(Clone, Debug)]
pub struct Limit {
    pub max_bytes: usize,
    pub refusal: Problem,
}

impl Limit {
    /// `max_bytes`, refused as 413 `body_too_large`.
    pub fn bytes(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            refusal: Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
                .arg("max_bytes", max_bytes),
        }
    }
}

/// The table: routes (method and path pattern, parameters as `{name}`) whose bodies may be
/// larger or are refused with their own code, and the limit of every other request.
#[derive(Clone, Debug)]
pub struct BodyLimits {
    default: Limit,
    routes: Vec<(Method, Vec<Segment>, Limit)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter,
}

fn segments(pattern: &str) -> Vec<Segment> {
    pattern
        .split('/')
        .map(|s| {
            if s.starts_with('{') || s.starts_with(':') {
                Segment::Parameter
            } else {
                Segment::Literal(s.to_string())
            }
        })
        .collect()
}

impl BodyLimits {
    pub fn new(default: Limit) -> Self {
        Self {
            default,
            routes: Vec::new(),
        }
    }

    pub fn route(mut self, method: Method, pattern: &str, limit: Limit) -> Self {
        self.routes.push((method, segments(pattern), limit));
        self
    }

    /// The routes the table names, as `(method, pattern)` with parameters as `{}`.
    pub fn named_routes(&self) -> impl Iterator<Item = (&Method, String)> {
        self.routes.iter().map(|(m, segs, _)| {
            let path = segs
                .iter()
                .map(|s| match s {
                    Segment::Literal(l) => l.as_str(),
                    Segment::Parameter => "{}",
                })
                .collect::<Vec<_>>()
                .join("/");
            (m, path)
        })
    }

    /// The limit of a request to `path` with `method`.
    pub fn limit(&self, method: &Method, path: &str) -> &Limit {
        self.routes
            .iter()
            .find(|(m, segs, _)| {
                m == method && {
                    let mut parts = path.split('/');
                    segs.iter().all(|s| match (s, parts.next()) {
                        (Segment::Literal(l), Some(p)) => l == p,
                        (Segment::Parameter, Some(p)) => !p.is_empty(),
                        (_, None) => false,
                    }) && parts.next().is_none()
                }
            })
            .map_or(&self.default, |(_, _, limit)| limit)
    }

    /// The request with its body bounded, or the refusal to answer instead.
    pub async fn apply(&self, mut req: Request) -> Result<Request, Response> {
        let declared = req.headers().get(CONTENT_LENGTH);
        let unknown_length = declared.is_none()
            && (req.headers().contains_key(TRANSFER_ENCODING) || req.version() >= Version::HTTP_2);
        if declared.is_none() && !unknown_length {
            // HTTP/1 without either header: no body.
            return Ok(req);
        }
        let limit = self.limit(req.method(), req.uri().path());
        match declared {
            Some(value) => {
                // hyper has already refused a malformed Content-Length; the body it hands on
                // never exceeds the declared length.
                let length = value
                    .to_str()
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if length.is_none_or(|n| n > limit.max_bytes as u64) {
                    return Err(refuse(limit));
                }
                Ok(req)
            }
            None => match req.take_body().into_bytes_limit(limit.max_bytes).await {
                Ok(body) => {
                    req.set_body(body);
                    Ok(req)
                }
                Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(refuse(limit)),
                // The client went away or sent a broken chunk: what reading it would have
                // answered anyway.
                Err(e) => Err(crate::http::error_response(e.into())),
            },
        }
    }
}

fn refuse(limit: &Limit) -> Response {
    let mut resp = crate::http::problem_response(limit.refusal.clone());
    // The unread rest of the body cannot be skipped cheaply: the connection ends here.
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> BodyLimits {
        BodyLimits::new(Limit::bytes(10)).route(
            Method::PUT,
            "/api/v1/enrolments/{id}/documents/{kind}",
            Limit::bytes(100),
        )
    }

    #[test]
    fn a_route_named_in_the_table_gets_its_limit_and_every_other_the_default() {
        let t = table();
        let path = "/api/v1/enrolments/e1/documents/portrait";
        assert_eq!(t.limit(&Method::PUT, path).max_bytes, 100);
        assert_eq!(t.limit(&Method::POST, path).max_bytes, 10);
        assert_eq!(
            t.limit(&Method::PUT, "/api/v1/enrolments/e1/documents")
                .max_bytes,
            10
        );
        assert_eq!(
            t.limit(&Method::PUT, "/api/v1/enrolments/e1/documents/portrait/x")
                .max_bytes,
            10
        );
        assert_eq!(
            t.limit(&Method::PUT, "/api/v1/enrolments//documents/portrait")
                .max_bytes,
            10
        );
    }

    #[test]
    fn named_routes_write_parameters_as_empty_braces() {
        let t = table();
        let routes: Vec<_> = t.named_routes().collect();
        assert_eq!(
            routes,
            vec![(
                &Method::PUT,
                "/api/v1/enrolments/{}/documents/{}".to_string()
            )]
        );
    }
}
