//! Start-up with damaged CA files, and an interrupted development ceremony.

use std::path::Path;
use std::sync::Arc;

use crate::common::TestEnv;
use ca_enrol::clock::SystemClock;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;

/// The error `prepare` (what `serve` runs first) stops with.
async fn start_error(env: &TestEnv) -> String {
    match ca_enrol::app::prepare(env.config(), Arc::new(SystemClock)).await {
        Ok(_) => panic!("start-up accepted damaged CA files"),
        Err(e) => e.to_string(),
    }
}

/// Rewrites an RSA key file with bit 1 of its prime p flipped: p stays odd and the
/// public key (n) is unchanged, so only the key's consistency check can see it.
fn flip_prime_bit(path: &Path) {
    let rsa = PKey::private_key_from_pem(&std::fs::read(path).unwrap())
        .unwrap()
        .rsa()
        .unwrap();
    let dup = |b: &openssl::bn::BigNumRef| b.to_owned().unwrap();
    let mut p = dup(rsa.p().unwrap());
    if p.is_bit_set(1) {
        p.clear_bit(1).unwrap();
    } else {
        p.set_bit(1).unwrap();
    }
    let damaged = Rsa::from_private_components(
        dup(rsa.n()),
        dup(rsa.e()),
        dup(rsa.d()),
        p,
        dup(rsa.q().unwrap()),
        dup(rsa.dmp1().unwrap()),
        dup(rsa.dmq1().unwrap()),
        dup(rsa.iqmp().unwrap()),
    )
    .unwrap();
    let pem = PKey::from_rsa(damaged)
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap();
    std::fs::write(path, pem).unwrap();
}

#[tokio::test]
async fn ca_key_with_a_flipped_prime_bit_is_refused_at_start_naming_the_file() {
    for key in [
        "private/issuing.key.pem",
        "private/ocsp.key.pem",
        "private/sealing.key.pem",
    ] {
        let env = TestEnv::new();
        let path = env.ca_root().join(key);
        flip_prime_bit(&path);
        let err = start_error(&env).await;
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("consistency check"), "{err}");
    }
}

#[tokio::test]
async fn truncated_key_and_certificate_files_are_named() {
    let env = TestEnv::new();
    let key = env.ca_root().join("private/issuing.key.pem");
    let pem = std::fs::read(&key).unwrap();
    std::fs::write(&key, &pem[..pem.len() / 2]).unwrap();
    let err = start_error(&env).await;
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert!(err.contains("cannot decode the PEM key"), "{err}");

    let env = TestEnv::new();
    let cert = env.ca_root().join("ocsp.pem");
    let pem = std::fs::read(&cert).unwrap();
    std::fs::write(&cert, &pem[..pem.len() / 2]).unwrap();
    let err = start_error(&env).await;
    assert!(err.contains(&cert.display().to_string()), "{err}");
}

#[tokio::test]
async fn interrupted_ceremony_leftovers_are_discarded_and_partial_sets_refused() {
    // A crash before the commit point: the staging directory is dropped, the ceremony runs.
    let env = TestEnv::bare();
    let staging = env.ca_root().join(".ceremony.staging");
    std::fs::create_dir_all(staging.join("private")).unwrap();
    std::fs::write(staging.join("private/root.key.pem"), b"half written").unwrap();
    let handles = ca_enrol::ca_files::load_ca(&env.config()).unwrap();
    assert!(!staging.exists());
    assert_eq!(
        ca_enrol::ca::certificate_to_pem(handles.issuing.cert_der()),
        std::fs::read_to_string(env.ca_root().join("issuing.pem")).unwrap()
    );

    // A partial set (here: the issuing certificate lost) is refused, never regenerated.
    let env = TestEnv::new();
    let key_before = std::fs::read(env.ca_root().join("private/issuing.key.pem")).unwrap();
    std::fs::remove_file(env.ca_root().join("issuing.pem")).unwrap();
    let err = start_error(&env).await;
    assert!(err.contains("missing issuing.pem"), "{err}");
    assert!(!env.ca_root().join("issuing.pem").exists());
    assert_eq!(
        std::fs::read(env.ca_root().join("private/issuing.key.pem")).unwrap(),
        key_before
    );
}

#[tokio::test]
async fn a_ca_root_from_before_the_sealing_key_gets_one_at_start() {
    let env = TestEnv::new();
    let ca = env.ca_root();
    let issuing_key = std::fs::read(ca.join("private/issuing.key.pem")).unwrap();
    for f in ca_enrol::ca::SEALING_FILES {
        std::fs::remove_file(ca.join(f)).unwrap();
    }
    let handles = ca_enrol::ca_files::load_ca(&env.config()).unwrap();
    assert_eq!(
        ca_enrol::ca::certificate_to_pem(handles.sealing.cert_der()),
        std::fs::read_to_string(ca.join("sealing.pem")).unwrap()
    );
    assert_eq!(handles.sealing.chain_der()[0], handles.issuing.cert_der());
    assert_eq!(
        std::fs::read(ca.join("private/issuing.key.pem")).unwrap(),
        issuing_key
    );
    crate::common::pki::assert_openssl_verifies(
        &ca.join("root.pem"),
        &ca.join("issuing.pem"),
        &ca.join("sealing.pem"),
        chrono::Utc::now().timestamp(),
    );

    // The certificate without its key is a partial set: refused, not regenerated.
    std::fs::remove_file(ca.join("private/sealing.key.pem")).unwrap();
    let err = start_error(&env).await;
    assert!(err.contains("missing private/sealing.key.pem"), "{err}");
}
