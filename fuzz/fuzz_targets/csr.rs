//! A CSR is the one structure the issuance API takes from the subscriber and hands to DER
//! parsing and openssl: `ca::check_csr` must never panic, and what it accepts must be
//! consistent (the canonical SPKI and its hash).
#![no_main]

use ca_enrol::ca::{check_csr, KeyDescription};
use ca_enrol::issuance::MAX_CSR_BYTES;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(csr) = check_csr(data, MAX_CSR_BYTES) {
        assert!(data.len() <= MAX_CSR_BYTES);
        assert_eq!(openssl::sha::sha256(&csr.spki_der), csr.spki_sha256);
        if let KeyDescription::Rsa { bits } = csr.key {
            assert!((2048..=8192).contains(&bits));
        }
    }
});
