//! HTTP plumbing shared by the API and the operator pages: request ids, the JSON-problem
//! fallback for framework errors, Prometheus metrics and the health probes.

mod metrics;

pub use metrics::Metrics;

use std::time::Instant;

use poem::http::{HeaderValue, StatusCode};
use poem::web::Data;
use poem::{handler, Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

use crate::app::AppState;

pub const REQUEST_ID: &str = "x-request-id";

/// The request's id, in the request's extensions for handlers that show it (error pages).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Gives every request an id (the caller's, if it sent a sane one), puts it on the response
/// and on every log line of the request, turns framework errors (bad JSON, unknown route,
/// missing credentials) into JSON problems, and counts the request in the metrics.
pub async fn around(
    ep: impl Endpoint,
    mut req: Request,
    metrics: Metrics,
) -> poem::Result<Response> {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    let route = metrics::route_label(req.uri().path());
    let span = tracing::info_span!("request", request_id = %id, %method, route = %route);
    let started = Instant::now();
    let mut resp = async {
        let resp = match ep.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => error_response(e),
        };
        tracing::info!(
            status = resp.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "handled"
        );
        resp
    }
    .instrument(span)
    .await;
    metrics.observe(&method, &route, resp.status().as_u16(), started.elapsed());
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(resp)
}

fn error_response(e: poem::Error) -> Response {
    if e.is_from_response() {
        return e.into_response();
    }
    let status = e.status();
    let (code, vi) = match status {
        StatusCode::BAD_REQUEST => ("bad_request", "Yêu cầu không hợp lệ."),
        StatusCode::UNAUTHORIZED => ("unauthenticated", "Thiếu hoặc sai thông tin xác thực."),
        StatusCode::NOT_FOUND => ("not_found", "Không tìm thấy."),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "Phương thức không được hỗ trợ."),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "Dữ liệu gửi lên quá lớn."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "Kiểu nội dung không được hỗ trợ.")
        }
        s if s.is_server_error() => {
            tracing::error!(error = %e, "unexpected error");
            ("internal_error", "Đã xảy ra lỗi phía máy chủ.")
        }
        _ => ("bad_request", "Yêu cầu không hợp lệ."),
    };
    let message = if status.is_server_error() {
        "Something went wrong on our side; the request id identifies it.".to_string()
    } else {
        e.to_string()
    };
    let body = serde_json::json!({"code": code, "message": message, "message_vi": vi});
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
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
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
