//! The HTTP routes, and the few handlers that read the application state directly (readiness,
//! the CA certificate, metrics). It sits above `app` (the state) and the front ends (`api/`,
//! `web/`), as crates.io's `router.rs` does, so the state never depends on its handlers.

use std::sync::Arc;
use std::time::Duration;

use poem::http::{Method, StatusCode};
use poem::web::Data;
use poem::{handler, EndpointExt, Response, Route};

use crate::app::AppState;
use crate::http::{self, get, post, BodyLimits, Limit};
use crate::problem::Problem;

pub fn routes(state: AppState) -> impl poem::Endpoint {
    let api = crate::api::service(&state.config.public_base_url);
    let csc = crate::api::csc::service(&state.config.public_base_url);
    let csc_spec = get(csc.spec_endpoint());
    let api_methods = http::ApiMethods::from_document("/api", &api.spec());
    let spec = get(api.spec_endpoint());
    let docs = api.swagger_ui();
    let metrics = state.metrics.clone();
    let limits = Arc::new(body_limits(&state.config));
    let status = state.status.clone();
    let app = Route::new()
        .nest("/api", api)
        .at("/api/openapi.json", spec)
        .at("/csc/v2/openapi.json", csc_spec)
        .nest("/csc/v2", csc)
        .nest("/api/docs", docs)
        .at("/healthz", get(http::healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(metrics_text))
        .at("/ca/:file", get(ca_certificate))
        .at(
            "/crl/:file",
            get(crate::status::crl_get).data(status.clone()),
        )
        .nest("/", crate::web::routes())
        .data(state);
    // OCSP handlers get only the status service: request data is cloned per request, and
    // OCSP is the hot path.
    Route::new()
        .at("/ocsp", post(crate::status::ocsp_post).data(status.clone()))
        .at("/ocsp/*request", get(crate::status::ocsp_get).data(status))
        .nest_no_strip("/", app)
        .around(move |ep, req| {
            http::around(
                ep,
                req,
                metrics.clone(),
                api_methods.clone(),
                limits.clone(),
            )
        })
}

/// How large a request body may be, per operation (`http::BodyLimits`): 64 KiB for JSON
/// operations and forms, except where the operation carries a file, and the route's own
/// refusal where it has one, so a body too large says the same at the edge as in the handler.
pub fn body_limits(config: &crate::config::Config) -> BodyLimits {
    let document = usize::try_from(config.enrolment.max_document_bytes).unwrap_or(usize::MAX);
    let signature = config.contract.signature.max_bytes;
    let default = http::DEFAULT_MAX_BODY_BYTES;
    // A CSR is at most `MAX_CSR_BYTES` of PEM; the JSON around it leaves room under the default.
    let csr = Limit {
        max_bytes: default,
        refusal: Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "csr_too_large")
            .arg("max", crate::issuance::MAX_CSR_BYTES),
    };
    BodyLimits::new(Limit::bytes(default))
        .route(
            Method::PUT,
            "/api/v1/enrolments/{id}/documents/{kind}",
            Limit {
                max_bytes: document,
                refusal: Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "document_too_large")
                    .arg("max_bytes", document),
            },
        )
        // The signature PNG travels as base64 (4 characters per 3 bytes) in JSON.
        .route(
            Method::POST,
            "/api/v1/contracts/{id}/sign",
            Limit {
                max_bytes: signature.div_ceil(3) * 4 + default,
                refusal: Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "signature_image_too_large")
                    .arg("max_bytes", signature),
            },
        )
        .route(
            Method::POST,
            "/api/v1/enrolments/{id}/certificate",
            csr.clone(),
        )
        .route(Method::POST, "/api/v1/certificates/{serial}/rekey", csr)
        // The hub's registration: its own cap and refusal (the handler reads up to the same).
        .route(
            Method::POST,
            "/api/v1/vneid/registrations",
            Limit {
                max_bytes: usize::try_from(config.vneid.max_body_bytes).unwrap_or(usize::MAX),
                refusal: Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "registration_too_large")
                    .arg("max_bytes", config.vneid.max_body_bytes),
            },
        )
        // A scan and the form's few fields, as multipart.
        .route(
            Method::POST,
            "/counter/{id}/documents",
            Limit::bytes(document.saturating_add(default)),
        )
        // The counter's signature pad: the drawn PNG as a data URL in a url-encoded form,
        // read up to the pages' form limit.
        .route(
            Method::POST,
            "/counter/{id}/contract/sign",
            Limit::bytes(crate::web::MAX_FORM_BYTES),
        )
        // The desk's registration carries the consent drawn on the same pad, and the API's
        // counter intake the same PNG as base64 in JSON.
        .route(
            Method::POST,
            "/counter",
            Limit::bytes(crate::web::MAX_FORM_BYTES),
        )
        .route(
            Method::POST,
            "/api/v1/enrolments",
            Limit::bytes(signature.div_ceil(3) * 4 + default),
        )
        // A CSR file from the citizen's token and the form's few fields, as multipart.
        .route(
            Method::POST,
            "/counter/{id}/certificate/csr",
            Limit::bytes(crate::issuance::MAX_CSR_BYTES + default),
        )
}

/// How long `/readyz` waits for the database before it answers 503 "unreachable": a load
/// balancer's probe must get an answer within its own timeout, whatever the pool's is.
const READINESS_BUDGET: Duration = Duration::from_secs(2);

/// Readiness: the database answers and accepts writes, and the CA keys are loaded. The
/// object store, when documents use one, is reported (`document_store`: a write-read-delete
/// probe) but does not make the answer 503: every instance shares it, so taking instances
/// out of rotation would stop OCSP and issuance too, while only uploads and document reads
/// need it (they answer 503 `document_store_unavailable` meanwhile).
#[handler]
async fn readyz(state: Data<&AppState>) -> Response {
    let objects = async {
        if !state.documents.has_objects() {
            return None;
        }
        let probe = tokio::time::timeout(READINESS_BUDGET, state.documents.probe()).await;
        Some(match probe {
            Ok(Ok(())) => "ok",
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: document store unavailable");
                "unavailable"
            }
            Err(_) => {
                tracing::warn!("readiness: no document store answer within the budget");
                "unavailable"
            }
        })
    };
    let probes = async {
        match state.store.ping().await {
            Err(e) => {
                tracing::warn!(error = %e, "readiness: database unreachable");
                Err(("unreachable", None))
            }
            Ok(()) => match state.store.probe_write().await {
                Ok(()) => Ok(()),
                Err(e) => {
                    let message = format!(
                        "{} refuses writes: {e}",
                        crate::app::database_label(&state.config)
                    );
                    tracing::warn!(error = %message, "readiness: database read-only");
                    Err(("read-only", Some(message)))
                }
            },
        }
    };
    let (db, objects) = tokio::join!(tokio::time::timeout(READINESS_BUDGET, probes), objects);
    let db = db.unwrap_or_else(|_| {
        tracing::warn!("readiness: no database answer within the budget");
        Err(("unreachable", None))
    });
    let mut body = serde_json::json!({
        "database": db.as_ref().err().map_or("ok", |(what, _)| *what),
        "dialect": state.store.dialect(),
        "ca": {
            "name": state.ca.issuing.name(),
            "not_after": state.ca.issuing.not_after().to_rfc3339(),
        },
    });
    if let Some(objects) = objects {
        body["document_store"] = serde_json::Value::String(objects.into());
    }
    if let Err((_, Some(message))) = &db {
        body["message"] = serde_json::Value::String(message.clone());
    }
    let status = if db.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}

/// The issuing CA certificate in DER: the caIssuers URL of every certificate
/// (`/ca/{name}.crt`). An unknown name is a 404, which `http::around` answers as a problem.
#[handler]
fn ca_certificate(state: Data<&AppState>, file: poem::web::Path<String>) -> poem::Result<Response> {
    let ca = &state.ca.issuing;
    if file.0.strip_suffix(".crt") != Some(ca.name()) {
        return Err(poem::Error::from_status(StatusCode::NOT_FOUND));
    }
    Ok(Response::builder()
        .content_type("application/pkix-cert")
        .header("cache-control", "public, max-age=86400")
        .body(ca.cert_der().to_vec()))
}

#[handler]
fn metrics_text(state: Data<&AppState>) -> Response {
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
        (
            "ocsp_cached_unknown_serials",
            "gauge",
            "Never-issued serials remembered as absent (answered unauthorized without a read).",
            ocsp.unknown_serials,
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
