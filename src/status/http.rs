//! OCSP over HTTP (RFC 6960 appendix A, RFC 5019): plain poem handlers, because the bodies
//! are DER, not JSON. Every answer, error statuses included, is a 200 OCSPResponse.

use base64::Engine;
use poem::web::Data;
use poem::{handler, Body, Request, Response};

use super::OcspAnswer;
use crate::app::AppState;
use crate::ca::{error_response, OcspErrorStatus};

/// Requests carry at most 20 CertIDs and a 32-octet nonce: a few KiB at most.
const MAX_REQUEST: usize = 16 * 1024;

fn respond(answer: OcspAnswer, get: bool) -> Response {
    let mut b = Response::builder().content_type("application/ocsp-response");
    b = match answer.max_age {
        // RFC 5019 §6: GET responses are cacheable until nextUpdate (we cap it lower).
        Some(age) if get => b.header(
            "cache-control",
            format!("max-age={age}, public, no-transform, must-revalidate"),
        ),
        _ => b.header("cache-control", "no-cache"),
    };
    b.body(answer.der.as_ref().clone())
}

fn malformed() -> Response {
    respond(
        OcspAnswer {
            der: std::sync::Arc::new(error_response(OcspErrorStatus::MalformedRequest)),
            max_age: None,
        },
        false,
    )
}

#[handler]
pub async fn ocsp_post(state: Data<&AppState>, body: Body) -> Response {
    match body.into_bytes_limit(MAX_REQUEST).await {
        Ok(bytes) => respond(state.status.ocsp(&bytes).await, false),
        Err(_) => malformed(),
    }
}

#[handler]
pub async fn ocsp_get(state: Data<&AppState>, req: &Request) -> Response {
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
        Ok(der) if der.len() <= MAX_REQUEST => respond(state.status.ocsp(&der).await, true),
        _ => malformed(),
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
    use super::percent_decode;

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
