//! HTTP plumbing shared by the API and the operator pages: request ids, the JSON-problem
//! fallback for framework errors, Prometheus metrics and the health probes.

mod metrics;

pub use metrics::Metrics;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use poem::http::{HeaderValue, StatusCode};
use poem::web::Data;
use poem::{handler, Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

use poem_openapi::types::ToJSON;

use crate::app::AppState;
use crate::problem::Problem;

pub const REQUEST_ID: &str = "x-request-id";

/// The request's id, in the request's extensions for handlers that show it (error pages).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Gives every request an id (the caller's, if it sent a sane one), puts it on the response
/// and on every log line of the request, turns framework errors (bad JSON, unknown route,
/// missing credentials) into JSON problems, and counts the request in the metrics.
///
/// OCSP and CRL fetches come from every relying party, at rates where a log line per request
/// costs more than the answer itself: they are counted in the metrics and logged at debug level
/// only, without a span (and without the [`RequestId`] extension, which only pages show).
pub async fn around(
    ep: impl Endpoint,
    mut req: Request,
    metrics: Metrics,
) -> poem::Result<Response> {
    let id = request_id(&req);
    let id_text = id.to_str().unwrap_or("-");
    let method = req.method().clone();
    let route = metrics::route_label(req.uri().path());
    let started = Instant::now();
    let mut resp = if relying_party_route(&route) {
        let resp = respond(ep, req).await;
        tracing::debug!(
            request_id = %id_text,
            %method,
            route = %route,
            status = resp.status().as_u16(),
            "handled"
        );
        resp
    } else {
        req.extensions_mut().insert(RequestId(id_text.to_string()));
        let span = tracing::info_span!("request", request_id = %id_text, %method, route = %route);
        async {
            let resp = respond(ep, req).await;
            tracing::info!(
                status = resp.status().as_u16(),
                elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                "handled"
            );
            resp
        }
        .instrument(span)
        .await
    };
    metrics.observe(&method, &route, resp.status().as_u16(), started.elapsed());
    resp.headers_mut().insert(REQUEST_ID, id.clone());
    Ok(resp)
}

async fn respond(ep: impl Endpoint, req: Request) -> Response {
    match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => error_response(e),
    }
}

fn relying_party_route(route: &str) -> bool {
    route == "/ocsp" || route.starts_with("/ocsp/") || route.starts_with("/crl/")
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

fn error_response(e: poem::Error) -> Response {
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
        _ => Problem::new(status, "bad_request").arg("detail", &e),
    };
    problem.log();
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(problem.into_body().to_json_string())
}

/// Liveness: the process answers.
#[handler]
pub fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers and the CA keys are loaded.
#[handler]
pub async fn readyz(state: Data<&AppState>) -> Response {
    let db = state.store.ping().await;
    let body = serde_json::json!({
        "database": if db.is_ok() { "ok" } else { "unreachable" },
        "dialect": state.store.dialect(),
        "ca": {
            "name": state.ca.issuing.name(),
            "not_after": state.ca.issuing.not_after().to_rfc3339(),
        },
    });
    let status = if db.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if let Err(e) = db {
        tracing::warn!(error = %e, "readiness: database unreachable");
    }
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}

/// The issuing CA certificate in DER: the caIssuers URL of every certificate
/// (`/ca/{name}.crt`).
#[handler]
pub fn ca_certificate(state: Data<&AppState>, file: poem::web::Path<String>) -> Response {
    let ca = &state.ca.issuing;
    if file.0.strip_suffix(".crt") != Some(ca.name()) {
        return error_response(poem::Error::from_status(StatusCode::NOT_FOUND));
    }
    Response::builder()
        .content_type("application/pkix-cert")
        .header("cache-control", "public, max-age=86400")
        .body(ca.cert_der().to_vec())
}

#[handler]
pub fn metrics_text(state: Data<&AppState>) -> Response {
    let mut text = state.metrics.render();
    let ocsp = state.status.ocsp_cache_stats();
    for (name, kind, help, value) in [
        (
            "ocsp_cached_responses",
            "gauge",
            "Pre-signed OCSP responses held in memory.",
            ocsp.responses,
        ),
        (
            "ocsp_cached_bytes",
            "gauge",
            "Approximate memory of the cached OCSP responses.",
            ocsp.bytes,
        ),
        (
            "ocsp_cache_hits_total",
            "counter",
            "OCSP requests answered from the cache.",
            ocsp.hits,
        ),
        (
            "ocsp_freshness_checks_total",
            "counter",
            "Database reads checking cached OCSP responses against status changes.",
            ocsp.checks,
        ),
    ] {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}
