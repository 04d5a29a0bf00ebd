//! X.509 issuance: record-then-sign, key uniqueness, crash safety, and every profile variant
//! checked by openssl and pkilint.

mod common;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use ca_enrol::audit::Actor;
use ca_enrol::ca::{
    self, CaError, CaKeyAlgorithm, CeremonyConfig, IssuingCa, SignatureAlgorithm, Signer,
    SubjectInfo,
};
use ca_enrol::issuance::{IssuanceError, IssuanceOrder, Issuer};
use common::pki::{assert_openssl_verifies, assert_pkilint_clean, write_pem};
use common::TestApp;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509ReqBuilder};

fn csr(key: &PKey<Private>) -> Vec<u8> {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "ignored by the CA")
        .unwrap();
    let mut req = X509ReqBuilder::new().unwrap();
    req.set_subject_name(&name.build()).unwrap();
    req.set_pubkey(key).unwrap();
    req.sign(key, MessageDigest::sha256()).unwrap();
    req.build().to_pem().unwrap()
}

fn p256() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn rsa2048() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

fn order(enrolment: &str, email: Option<&str>) -> IssuanceOrder {
    IssuanceOrder {
        enrolment_id: enrolment.into(),
        subject: SubjectInfo {
            full_name: "Nguyễn Thị Ánh Tuyết".into(),
            id_number: "001301012345".into(),
            province: "Thành phố Hà Nội".into(),
            locality: Some("Phường Cửa Nam".into()),
            email: email.map(str::to_string),
        },
        package_code: "PS0".into(),
        term_months: 12,
    }
}

fn issuer(app: &TestApp, ca: Arc<IssuingCa>) -> Issuer {
    Issuer::new(
        app.state.store.clone(),
        ca,
        app.state.ca.profile.clone(),
        app.clock.clone(),
    )
}

/// An ECDSA P-256 issuing CA made by the ceremony in `dir`, with its root.
fn p256_issuing_ca(dir: &std::path::Path) -> Arc<IssuingCa> {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ca-root");
    let mut cfg: CeremonyConfig =
        toml::from_str(&std::fs::read_to_string(repo.join("ceremony.toml")).unwrap()).unwrap();
    cfg.issuing.key = CaKeyAlgorithm::P256;
    ca::run_ceremony(dir, &cfg, None).unwrap();
    Arc::new(
        IssuingCa::load(
            &cfg.issuing.name,
            &dir.join("issuing.pem"),
            &dir.join("private/issuing.key.pem"),
            None,
        )
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_profile_variant_passes_openssl_verify_and_pkilint() {
    let app = TestApp::spawn().await;
    let ecdsa_dir = tempfile::tempdir().unwrap();
    let cas = [
        ("rsa-ca", app.state.ca.issuing.clone(), app.env.ca_root()),
        (
            "p256-ca",
            p256_issuing_ca(ecdsa_dir.path()),
            ecdsa_dir.path().to_path_buf(),
        ),
    ];
    let out = tempfile::tempdir().unwrap();
    let mut n = 0;
    for (ca_label, ca, ca_dir) in cas {
        let issuer = issuer(&app, ca);
        for key_label in ["rsa", "p256"] {
            for email in [None, Some("tuyet.nguyen@example.vn")] {
                n += 1;
                let key = if key_label == "rsa" {
                    rsa2048()
                } else {
                    p256()
                };
                let csr = csr(&key);
                let issuer = issuer.clone();
                let issued = tokio::task::spawn_blocking(move || {
                    issuer.issue_blocking(
                        &Actor::System,
                        &order(&format!("e-{n}"), email),
                        &csr,
                        |_| Ok(()),
                    )
                })
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{ca_label}/{key_label}/{email:?}: {e}"));
                assert_eq!(issued.status, "pending_acceptance");
                let leaf = out.path().join(format!("{ca_label}-{key_label}-{n}.pem"));
                write_pem(&leaf, &issued.cert_der);
                assert_openssl_verifies(
                    &ca_dir.join("root.pem"),
                    &ca_dir.join("issuing.pem"),
                    &leaf,
                );
                assert_pkilint_clean(&leaf);
                // The subject comes from the enrolment, never from the CSR.
                let text = openssl::x509::X509::from_der(&issued.cert_der).unwrap();
                let subject: Vec<String> = text
                    .subject_name()
                    .entries()
                    .map(|e| e.data().to_string().unwrap())
                    .collect();
                assert!(
                    subject.contains(&"Nguyễn Thị Ánh Tuyết".to_string()),
                    "{subject:?}"
                );
                assert!(
                    subject.contains(&"CCCD:001301012345".to_string()),
                    "{subject:?}"
                );
                assert!(
                    !subject.iter().any(|s| s.contains("ignored")),
                    "{subject:?}"
                );
                let sans = text.subject_alt_names().map_or(0, |s| s.len());
                assert_eq!(sans, usize::from(email.is_some()));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_key_is_certified_only_once() {
    let app = TestApp::spawn().await;
    let issuer = issuer(&app, app.state.ca.issuing.clone());
    let csr = csr(&p256());
    let (first, second) = tokio::task::spawn_blocking(move || {
        let first = issuer.issue_blocking(&Actor::System, &order("e-1", None), &csr, |_| Ok(()));
        let second = issuer.issue_blocking(&Actor::System, &order("e-2", None), &csr, |_| Ok(()));
        (first, second)
    })
    .await
    .unwrap();
    assert!(first.is_ok());
    assert!(
        matches!(second, Err(IssuanceError::KeyReused)),
        "{second:?}"
    );
}

/// Delegates to the real key but stops the "process" at the signature.
struct DiesWhileSigning(Arc<dyn Signer>);

impl Signer for DiesWhileSigning {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.0.algorithm()
    }
    fn public_key_der(&self) -> &[u8] {
        self.0.public_key_der()
    }
    fn sign(&self, _tbs: &[u8]) -> Result<Vec<u8>, CaError> {
        panic!("process stopped between record and sign");
    }
}

/// Delegates to the real key but its signature device fails.
struct FailingSigner(Arc<dyn Signer>);

impl Signer for FailingSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.0.algorithm()
    }
    fn public_key_der(&self) -> &[u8] {
        self.0.public_key_der()
    }
    fn sign(&self, _tbs: &[u8]) -> Result<Vec<u8>, CaError> {
        Err(CaError::SignFailed("HSM unreachable".into()))
    }
}

fn ca_with(app: &TestApp, signer: Arc<dyn Signer>) -> Arc<IssuingCa> {
    let real = &app.state.ca.issuing;
    Arc::new(IssuingCa::new(real.name(), real.cert_der().to_vec(), signer).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_between_record_and_sign_leaves_the_row_and_nothing_is_ever_signed_for_it() {
    let app = TestApp::spawn().await;
    let dying = issuer(
        &app,
        ca_with(
            &app,
            Arc::new(DiesWhileSigning(app.state.ca.issuing.signer().clone())),
        ),
    );
    let csr_pem = csr(&p256());
    let crashed = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            dying.issue_blocking(
                &Actor::System,
                &order("e-crash", None),
                &csr_pem,
                |_| Ok(()),
            )
        }))
    })
    .await
    .unwrap();
    assert!(crashed.is_err(), "the signer stopped the call");

    let rows = app
        .state
        .store
        .read(|tx| tx.certificates_for_enrolment("e-crash"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the record made before signing is there");
    assert_eq!(rows[0].status, "signing");
    assert!(rows[0].cert_der.is_none());
    assert!(!rows[0].tbs_der.is_empty(), "the exact TBS was recorded");
    let serial = rows[0].serial.clone();

    // A healthy process finds it once it is stale, and revokes it (the signature may exist).
    let healthy = issuer(&app, app.state.ca.issuing.clone());
    let h = healthy.clone();
    let early = tokio::task::spawn_blocking(move || h.abandon_stale(|_, _| Ok(())))
        .await
        .unwrap()
        .unwrap();
    assert!(
        early.is_empty(),
        "a fresh `signing` row may still be in progress"
    );
    app.clock.advance(chrono::Duration::minutes(6));
    let h = healthy.clone();
    let reopened = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = reopened.clone();
    let abandoned = tokio::task::spawn_blocking(move || {
        h.abandon_stale(move |_, enrolment| {
            seen.lock().unwrap().push(enrolment.to_string());
            Ok(())
        })
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(abandoned, vec![serial.clone()]);
    assert_eq!(*reopened.lock().unwrap(), vec!["e-crash".to_string()]);
    let row = app
        .state
        .store
        .read(move |tx| tx.certificate(&serial))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "revoked");
    assert!(row.cert_der.is_none(), "never signed");
    // Running recovery again changes nothing.
    let again = tokio::task::spawn_blocking(move || healthy.abandon_stale(|_, _| Ok(())))
        .await
        .unwrap()
        .unwrap();
    assert!(again.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn signer_failure_revokes_the_recorded_row_at_once_and_the_chain_still_verifies() {
    let mut app = TestApp::spawn().await;
    let failing = issuer(
        &app,
        ca_with(
            &app,
            Arc::new(FailingSigner(app.state.ca.issuing.signer().clone())),
        ),
    );
    let csr_pem = csr(&p256());
    let result = tokio::task::spawn_blocking(move || {
        failing.issue_blocking(&Actor::System, &order("e-fail", None), &csr_pem, |_| Ok(()))
    })
    .await
    .unwrap();
    assert!(
        matches!(result, Err(IssuanceError::Unexpected(_))),
        "{result:?}"
    );
    let rows = app
        .state
        .store
        .read(|tx| tx.certificates_for_enrolment("e-fail"))
        .await
        .unwrap();
    assert_eq!(rows[0].status, "revoked");
    let admin = app.admin_token().await;
    let (status, report) = app.get("/api/v1/audit/verify", Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(report["ok"], true, "{report}");
}
