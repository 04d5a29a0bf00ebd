//! The video system's recording webhook: it reports each call room's recording (URI and
//! SHA-256), signed with the shared secret `verification.recording_webhook_secret`, so the
//! operator never types a hash.
//!
//! A delivery carries `X-Recording-Timestamp` (Unix seconds), `X-Recording-Nonce` (unique per
//! delivery) and `X-Recording-Signature: sha256=<hex>`, the HMAC-SHA256 of
//! `"{timestamp}.{nonce}." ‖ body`. Replays are refused twice over: a timestamp outside
//! [`WINDOW_SECONDS`] of our clock, and a nonce already seen (kept in the database, so every
//! server process refuses it).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::outcome::{Recording, RecordingForm};
use super::VerificationError;
use crate::secrets::{constant_time_eq, hmac_sha256};

/// How far a delivery's timestamp may be from our clock, either way.
pub const WINDOW_SECONDS: i64 = 300;
const NONCE_MAX: usize = 128;

/// One webhook delivery as received: the three headers and the raw body.
pub struct Delivery<'a> {
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub body: &'a [u8],
}

/// A checked delivery: its nonce and what it reports.
pub struct Notice {
    pub nonce: String,
    pub room_id: String,
    pub recording: Recording,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    room_id: String,
    uri: String,
    sha256: String,
}

/// The signature first (nothing unsigned is parsed), then the body.
pub fn check(
    secret: &[u8],
    d: &Delivery<'_>,
    now: DateTime<Utc>,
) -> Result<Notice, VerificationError> {
    let (Some(timestamp), Some(nonce), Some(signature)) = (d.timestamp, d.nonce, d.signature)
    else {
        return Err(VerificationError::SignatureInvalid);
    };
    let nonce_ok = (1..=NONCE_MAX).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let sent = signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok());
    let (Ok(at), true, Some(sent)) = (timestamp.parse::<i64>(), nonce_ok, sent) else {
        return Err(VerificationError::SignatureInvalid);
    };
    let mut signed = format!("{at}.{nonce}.").into_bytes();
    signed.extend_from_slice(d.body);
    if !constant_time_eq(&hmac_sha256(secret, &signed), &sent) {
        return Err(VerificationError::SignatureInvalid);
    }
    if (now.timestamp() - at).abs() > WINDOW_SECONDS {
        return Err(VerificationError::TimestampStale);
    }
    let body: Body = serde_json::from_slice(d.body)
        .map_err(|e| VerificationError::NoticeMalformed(e.to_string()))?;
    let recording = Recording::parse(&RecordingForm {
        uri: body.uri,
        sha256: body.sha256,
    })
    .map_err(VerificationError::RecordingInvalid)?;
    Ok(Notice {
        nonce: nonce.to_string(),
        room_id: body.room_id,
        recording,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a shared secret of the video system, 32+";

    fn signed(at: i64, nonce: &str, body: &[u8]) -> String {
        let mut m = format!("{at}.{nonce}.").into_bytes();
        m.extend_from_slice(body);
        format!("sha256={}", hex::encode(hmac_sha256(SECRET, &m)))
    }

    #[test]
    fn a_signed_fresh_delivery_is_read_and_anything_else_refused() {
        let now = Utc::now();
        let at = now.timestamp();
        let body = br#"{"room_id":"vc-1","uri":"s3://r/1.webm","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}"#;
        let sig = signed(at, "n-1", body);
        let ts = at.to_string();
        let run = |(ts, sig, body): (String, String, &[u8])| {
            check(
                SECRET,
                &Delivery {
                    timestamp: Some(&ts),
                    nonce: Some("n-1"),
                    signature: Some(&sig),
                    body,
                },
                now,
            )
        };
        let ok = run((ts.clone(), sig.clone(), body)).unwrap();
        assert_eq!((ok.room_id.as_str(), ok.nonce.as_str()), ("vc-1", "n-1"));
        // Another body under the same signature, or a signature over another timestamp.
        let other = br#"{"room_id":"vc-2","uri":"s3://r/1.webm","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}"#;
        assert!(matches!(
            run((ts.clone(), sig.clone(), other)),
            Err(VerificationError::SignatureInvalid)
        ));
        assert!(matches!(
            run(("1".to_string(), sig.clone(), body)),
            Err(VerificationError::SignatureInvalid)
        ));
        // Correctly signed, but too old.
        let old = at - WINDOW_SECONDS - 1;
        assert!(matches!(
            run((old.to_string(), signed(old, "n-1", body), body)),
            Err(VerificationError::TimestampStale)
        ));
        // Signed nonsense is still refused by content.
        let bad: &[u8] = br#"{"room_id":"vc-1","uri":"nowhere","sha256":"12"}"#;
        assert!(matches!(
            run((ts.clone(), signed(at, "n-1", bad), bad)),
            Err(VerificationError::RecordingInvalid(_))
        ));
    }
}
