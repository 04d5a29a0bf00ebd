//! HTTP plumbing shared by the API and the operator pages: request ids, the JSON-problem
//! fallback for framework errors, Prometheus metrics and the liveness probe. It knows no
//! application state; the handlers that read it are in `router.rs`.

mod allow;
mod client;
mod limits;
mod metrics;

pub use allow::{get, post, Allow, ApiMethods, Methods};
pub use client::client_address;
pub use limits::{BodyLimits, Limit, DEFAULT_MAX_BODY_BYTES};
pub use metrics::Metrics;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use poem::error::NotFoundError;
use poem::http::header::{ALLOW, CACHE_CONTROL};
use poem::http::{HeaderValue, StatusCode};
use poem::PathPattern;
use poem::{handler, Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

use poem_openapi::types::ToJSON;

use crate::problem::Problem;

pub const REQUEST_ID: &str = "x-request-id";
const NOSNIFF: (&str, &str) = ("x-content-type-options", "nosniff");

/// The request's id, in the request's extensions for handlers that show it (error pages).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Gives every request an id (the caller's, if it sent a sane one), puts it on the response
/// and on every log line of the request, bounds its body ([`BodyLimits`]), turns framework
/// errors (bad JSON, unknown route, missing credentials) into JSON problems, and counts the
/// request in the metrics.
///
/// OCSP and CRL fetches come from every relying party, at rates where a log line per request
/// costs more than the answer itself: they are counted in the metrics and logged at debug level
/// only, without a span (and without the [`RequestId`] extension, which only pages show).
pub async fn around(
    ep: impl Endpoint,
    mut req: Request,
    metrics: Metrics,
    api_methods: ApiMethods,
    limits: Arc<BodyLimits>,
) -> poem::Result<Response> {
    let id = request_id(&req);
    let path_is_api = req.uri().path().starts_with("/api/");
    let id_text = id.to_str().unwrap_or("-");
    let method = req.method().clone();
    let started = Instant::now();
    let (mut resp, route) = if relying_party_path(req.uri().path()) {
        let (resp, route) = respond(ep, req, &limits).await;
        tracing::debug!(
            request_id = %id_text,
            %method,
            route = %route,
            status = resp.status().as_u16(),
            "handled"
        );
        (resp, route)
    } else {
        req.extensions_mut().insert(RequestId(id_text.to_string()));
        // The route is known once the router has matched; recorded on the span then.
        let span = tracing::info_span!(
            "request",
            request_id = %id_text,
            %method,
            route = tracing::field::Empty
        );
        async {
            let (resp, route) = respond(ep, req, &limits).await;
            tracing::Span::current().record("route", &*route);
            tracing::info!(
                status = resp.status().as_u16(),
                elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                "handled"
            );
            (resp, route)
        }
        .instrument(span)
        .await
    };
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED && !resp.headers().contains_key(ALLOW) {
        if let Some(allow) = api_methods.allow(&route) {
            resp.headers_mut().insert(ALLOW, allow.clone());
        }
    }
    metrics.observe(&method, &route, resp.status().as_u16(), started.elapsed());
    let headers = resp.headers_mut();
    headers.insert(REQUEST_ID, id.clone());
    // No answer is to be read as another type than it declares (an uploaded "image" as HTML).
    headers.insert(NOSNIFF.0, HeaderValue::from_static(NOSNIFF.1));
    // API answers carry identity data: no shared or browser cache keeps them, unless the
    // operation chose its own policy.
    if path_is_api && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(resp)
}

/// The response, and the route pattern that matched: poem's router attaches the innermost
/// matched [`PathPattern`] to the response or error (a reference-counted string, so taking
/// it allocates nothing). A body over its limit is refused before routing, as unmatched.
async fn respond(ep: impl Endpoint, req: Request, limits: &BodyLimits) -> (Response, Arc<str>) {
    let req = match limits.apply(req).await {
        Ok(req) => req,
        Err(refusal) => return (refusal, unmatched_route()),
    };
    match ep.call(req).await {
        Ok(r) => {
            let r = r.into_response();
            let route = r
                .data::<PathPattern>()
                .map_or_else(unmatched_route, |p| p.0.clone());
            (r, route)
        }
        Err(e) => {
            let route = route_of(&e).0;
            let allow = e.data::<Allow>().map(|a| a.0.clone());
            let mut resp = error_response(e);
            if let Some(allow) = allow {
                resp.headers_mut().insert(ALLOW, allow);
            }
            (resp, route)
        }
    }
}

/// The route an error answers for, to keep on the response a layer makes of it (the pages'
/// error page). A path no route matched is [`metrics::UNMATCHED`]: the router's miss is a
/// `NotFoundError`, which each enclosing nest would otherwise label with its own prefix.
pub fn route_of(e: &poem::Error) -> PathPattern {
    match e.data::<PathPattern>() {
        Some(p) if !e.is::<NotFoundError>() => p.clone(),
        _ => PathPattern(unmatched_route()),
    }
}

fn unmatched_route() -> Arc<str> {
    static UNMATCHED: OnceLock<Arc<str>> = OnceLock::new();
    UNMATCHED.get_or_init(|| metrics::UNMATCHED.into()).clone()
}

/// OCSP and CRL fetches, told by the path before routing decides how the request is logged.
fn relying_party_path(path: &str) -> bool {
    path == "/ocsp" || path.starts_with("/ocsp/") || path.starts_with("/crl/")
}

/// The caller's request id if it is sane, else a new one: UUID-shaped, made of a random
/// per-process prefix and a counter (unique without asking the kernel for randomness on
/// every request).
fn request_id(req: &Request) -> HeaderValue {
    if let Some(v) = req.headers().get(REQUEST_ID).filter(|v| {
        (1..=64).contains(&v.len())
            && v.as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    }) {
        return v.clone();
    }
    static PREFIX: OnceLock<[u8; 8]> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
        b
    });
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(prefix);
    bytes[8..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    let mut buf = uuid::Uuid::encode_buffer();
    let text = uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .encode_lower(&mut buf);
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

pub(crate) fn error_response(e: poem::Error) -> Response {
    if e.is_from_response() {
        return e.into_response();
    }
    let status = e.status();
    let problem = match status {
        StatusCode::UNAUTHORIZED => Problem::new(status, "unauthenticated"),
        StatusCode::NOT_FOUND => Problem::new(status, "not_found"),
        StatusCode::METHOD_NOT_ALLOWED => {
            Problem::new(status, "method_not_allowed").arg("detail", &e)
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::new(status, "payload_too_large").arg("detail", &e)
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            Problem::new(status, "unsupported_media_type").arg("detail", &e)
        }
        s if s.is_server_error() => {
            let mut p = Problem::internal(&e);
            p.status = s;
            p
        }
        _ => Problem::new(status, "bad_request").arg("detail", without_values(&e.to_string())),
    };
    problem_response(problem)
}

/// A framework refusal's text without the submitted value poem-openapi quotes when a field
/// has the wrong type (`Expected input type "string", found 12.`): it may be a password or
/// a code. The field and the expected type stay, which is what the caller needs.
fn without_values(detail: &str) -> String {
    match detail.find(", found ") {
        Some(at) => format!("{}.", &detail[..at]),
        None => detail.to_string(),
    }
}

/// A problem as the JSON answer (logging its internal detail, if any).
pub(crate) fn problem_response(problem: Problem) -> Response {
    problem.log();
    Response::builder()
        .status(problem.status)
        .content_type("application/json; charset=utf-8")
        .body(problem.into_body().to_json_string())
}

/// Liveness: the process answers.
#[handler]
pub fn healthz() -> &'static str {
    "ok"
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_type_error_keeps_the_field_and_the_type_but_not_the_value() {
        assert_eq!(
            super::without_values(
                r#"parse request payload error: failed to parse "LoginRequest": Expected input type "string", found "hunter2"."#
            ),
            r#"parse request payload error: failed to parse "LoginRequest": Expected input type "string"."#
        );
        assert_eq!(super::without_values("no value here"), "no value here");
    }
}
