//! OCSP requests come from anyone on the network: the parser must never panic,
//! and what it accepts must respect the bounds the responder relies on.
#![no_main]

use ca_enrol::ca::{parse_request, MAX_CERT_IDS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = parse_request(data) {
        assert!((1..=MAX_CERT_IDS).contains(&request.cert_ids.len()));
        assert!(request.cert_ids.iter().all(|id| !id.serial.is_empty()));
        assert!(request.nonce.as_ref().is_none_or(|n| !n.is_empty()));
    }
});
