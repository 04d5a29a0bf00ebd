//! OCSP over HTTP (RFC 6960 appendix A, RFC 5019): plain poem handlers, because the bodies
//! are DER, not JSON. Every answer, error statuses included, is a 200 OCSPResponse.

use base64::Engine;
use poem::web::Data;
use poem::{handler, Body, Request, Response};

use poem::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use poem::http::HeaderValue;

use super::{OcspAnswer, StatusError, StatusService, CRL_MAX_AGE_SECONDS, OCSP_MAX_AGE_SECONDS};
use crate::ca::OcspErrorStatus;

/// Requests carry at most 20 CertIDs and a 32-octet nonce: a few KiB at most.
const MAX_REQUEST: usize = 16 * 1024;

fn respond(answer: OcspAnswer, get: bool) -> Response {
    let cache_control = match answer.max_age {
        // RFC 5019 §6: GET responses are cacheable until nextUpdate (we cap it lower).
        Some(OCSP_MAX_AGE_SECONDS) if get => HeaderValue::from_static(CACHE_FOR_MAX_AGE),
        Some(age) if get => HeaderValue::from_str(&format!(
            "max-age={age}, public, no-transform, must-revalidate"
        ))
        .unwrap_or(HeaderValue::from_static("no-cache")),
        _ => HeaderValue::from_static("no-cache"),
    };
    Response::builder()
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/ocsp-response"),
        )
        .header(CACHE_CONTROL, cache_control)
        .body(answer.der)
}

/// The Cache-Control of a GET answer with its full HTTP cache lifetime ahead of it.
const CACHE_FOR_MAX_AGE: &str = "max-age=60, public, no-transform, must-revalidate";

fn malformed() -> Response {
    respond(OcspAnswer::error(OcspErrorStatus::MalformedRequest), false)
}

#[handler]
pub async fn ocsp_post(status: Data<&StatusService>, body: Body) -> Response {
    match body.into_bytes_limit(MAX_REQUEST).await {
        Ok(bytes) => respond(status.ocsp(&bytes).await, false),
        Err(_) => malformed(),
    }
}

#[handler]
pub async fn ocsp_get(status: Data<&StatusService>, req: &Request) -> Response {
    let raw = req.uri().path().strip_prefix("/ocsp/").unwrap_or_default();
    let Some(decoded) = percent_decode(raw) else {
        return malformed();
    };
    // Standard base64 per RFC 6960; some clients send the URL-safe alphabet.
    let der = base64::engine::general_purpose::STANDARD
        .decode(decoded.trim_end_matches('/'))
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(decoded.trim_end_matches('/').trim_end_matches('='))
        });
    match der {
        Ok(der) if der.len() <= MAX_REQUEST => respond(status.ocsp(&der).await, true),
        _ => malformed(),
    }
}

/// `GET /crl/{ca}.crl`, or `/crl/{ca}-{shard}.crl` when sharded: the current CRL, DER.
#[handler]
pub async fn crl_get(status: Data<&StatusService>, file: poem::web::Path<String>) -> Response {
    let not_found = || {
        Response::builder()
            .status(poem::http::StatusCode::NOT_FOUND)
            .finish()
    };
    let ca = status.inner.ca.name();
    let Some(stem) = file.0.strip_suffix(".crl") else {
        return not_found();
    };
    let shard = if status.crl_shards() > 1 {
        match stem
            .strip_prefix(ca)
            .and_then(|s| s.strip_prefix('-'))
            .and_then(|s| s.parse::<u32>().ok())
        {
            Some(s) => s,
            None => return not_found(),
        }
    } else if stem == ca {
        0
    } else {
        return not_found();
    };
    match status.crl(shard).await {
        Ok(crl) => {
            let now = status.inner.clock.now();
            let age = (crl.next_update - now)
                .num_seconds()
                .clamp(0, CRL_MAX_AGE_SECONDS);
            Response::builder()
                .content_type("application/pkix-crl")
                .header("cache-control", format!("public, max-age={age}"))
                .header("etag", format!("\"{}\"", crl.number))
                .header(
                    "last-modified",
                    crl.this_update
                        .format("%a, %d %b %Y %H:%M:%S GMT")
                        .to_string(),
                )
                .body(crl.der.as_ref().clone())
        }
        Err(StatusError::NotFound) => not_found(),
        Err(e) => {
            tracing::error!(error = %e, "CRL unavailable");
            Response::builder()
                .status(poem::http::StatusCode::SERVICE_UNAVAILABLE)
                .header("retry-after", "1")
                .finish()
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, CACHE_FOR_MAX_AGE, OCSP_MAX_AGE_SECONDS};

    #[test]
    fn the_fixed_cache_control_header_says_the_maximum_age() {
        assert!(CACHE_FOR_MAX_AGE.starts_with(&format!("max-age={OCSP_MAX_AGE_SECONDS},")));
    }

    #[test]
    fn percent_escapes_in_get_requests_are_decoded() {
        assert_eq!(
            percent_decode("MEow%2BTA%3D%3D").as_deref(),
            Some("MEow+TA==")
        );
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
    }
}
