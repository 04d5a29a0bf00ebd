//! X.509 issuance: record-then-sign, key uniqueness, crash safety, and every profile variant
//! checked by openssl and pkilint.

use crate::common;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use ca_enrol::audit::Actor;
use ca_enrol::ca::{
    self, CaError, CaKeyAlgorithm, CeremonyConfig, IssuingCa, SignatureAlgorithm, Signer,
    SubjectInfo,
};
use ca_enrol::issuance::{IssuanceError, IssuanceOrder, Term};
use common::enrol::enrolment_status;
use common::pki::{assert_openssl_verifies, assert_pkilint_clean, write_pem};
use common::signing::{ca_with, issuer, DiesWhileSigning};
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
        term: Term::Months(12),
        supersedes: None,
    }
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
                    issuer.issue_blocking(&Actor::System, &order(&format!("e-{n}"), email), &csr)
                })
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{ca_label}/{key_label}/{email:?}: {e}"));
                assert_eq!(issued.status.as_str(), "pending_acceptance");
                let leaf = out.path().join(format!("{ca_label}-{key_label}-{n}.pem"));
                write_pem(&leaf, &issued.cert_der);
                assert_openssl_verifies(
                    &ca_dir.join("root.pem"),
                    &ca_dir.join("issuing.pem"),
                    &leaf,
                    app.now(),
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
        let first = issuer.issue_blocking(&Actor::System, &order("e-1", None), &csr);
        let second = issuer.issue_blocking(&Actor::System, &order("e-2", None), &csr);
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

/// The TBS recorded before signing is emptied once the signed DER (which holds it) is stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_signed_certificate_keeps_its_der_and_not_a_second_copy_of_its_tbs() {
    let app = TestApp::spawn().await;
    let issuer = issuer(&app, app.state.ca.issuing.clone());
    let csr = csr(&p256());
    let issued = tokio::task::spawn_blocking(move || {
        issuer.issue_blocking(&Actor::System, &order("e-tbs", None), &csr)
    })
    .await
    .unwrap()
    .unwrap();
    let row = app.certificate_row(&issued.serial).await;
    assert_eq!(row.cert_der.as_deref(), Some(&issued.cert_der[..]));
    assert!(
        row.tbs_der.is_empty(),
        "{} bytes of TBS kept",
        row.tbs_der.len()
    );
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
            dying.issue_blocking(&Actor::System, &order("e-crash", None), &csr_pem)
        }))
    })
    .await
    .unwrap();
    assert!(crashed.is_err(), "the signer stopped the call");

    let rows = app.certificate_rows("e-crash").await;
    assert_eq!(rows.len(), 1, "the record made before signing is there");
    assert_eq!(rows[0].status.as_str(), "signing");
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
    let row = app.certificate_row(&serial).await;
    assert_eq!(row.status.as_str(), "revoked");
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
        failing.issue_blocking(&Actor::System, &order("e-fail", None), &csr_pem)
    })
    .await
    .unwrap();
    assert!(
        matches!(result, Err(IssuanceError::Unexpected(_))),
        "{result:?}"
    );
    let rows = app.certificate_rows("e-fail").await;
    assert_eq!(rows[0].status.as_str(), "revoked");
    let admin = app.admin_token().await;
    let (status, report) = app.get("/api/v1/audit/verify", Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(report["ok"], true, "{report}");
}

/// A signer that errs (the token refused; no crash) during an issuance for an enrolment:
/// the row is revoked and the enrolment given back in one transaction, so the retry
/// through the API issues instead of answering `certificate_already_issued`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_signer_error_the_enrolment_is_given_back_and_a_retry_through_the_api_issues() {
    let mut app = TestApp::spawn().await;
    let token = common::enrol::enrol_key(&mut app).await;
    let enrolment = common::contract::contracted(&app, &token, 11).await;
    let failing = ca_enrol::issuance::Issuance::new(
        app.state.store.clone(),
        issuer(
            &app,
            ca_with(
                &app,
                Arc::new(FailingSigner(app.state.ca.issuing.signer().clone())),
            ),
        ),
        app.state.acceptance.clone(),
        app.clock.clone(),
    );
    let key = p256();
    let result = failing
        .issue_for_enrolment(
            &Actor::System,
            &enrolment,
            csr_with(&key, MessageDigest::sha256()),
            None,
        )
        .await;
    assert!(
        matches!(&result, Err(IssuanceError::Unexpected(m)) if m.contains("HSM unreachable")),
        "{result:?}"
    );
    assert_eq!(
        enrolment_status(&app, &token, &enrolment).await,
        "contract_signed"
    );
    let rows = app.certificate_rows(&enrolment).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status.as_str(), "revoked");

    // The same key pair: the revoked row never certified it.
    let (status, body) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/certificate"),
            Some(&token),
            serde_json::json!({ "csr": String::from_utf8(csr(&key)).unwrap() }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        enrolment_status(&app, &token, &enrolment).await,
        "certificate_issued"
    );
    let admin = app.admin_token().await;
    let (status, report) = app.get("/api/v1/audit/verify", Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(report["ok"], true, "{report}");
}

// ---- Through the API: POST /api/v1/enrolments/{id}/certificate ----

fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        lines.join("\n")
    )
}

fn csr_with(key: &PKey<Private>, md: MessageDigest) -> Vec<u8> {
    let mut req = X509ReqBuilder::new().unwrap();
    req.set_pubkey(key).unwrap();
    req.sign(key, md).unwrap();
    req.build().to_der().unwrap()
}

async fn request_certificate(
    app: &TestApp,
    key: &str,
    enrolment: &str,
    csr: &str,
    idempotency_key: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut req = app
        .http
        .post(app.url(&format!("/api/v1/enrolments/{enrolment}/certificate")))
        .bearer_auth(key)
        .json(&serde_json::json!({ "csr": csr }));
    if let Some(k) = idempotency_key {
        req = req.header("Idempotency-Key", k);
    }
    common::into_parts(req.send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_ps0_contract_gets_a_certificate_through_the_api_that_openssl_and_pkilint_accept()
{
    let mut app = TestApp::spawn().await;
    let key = common::enrol::enrol_key(&mut app).await;
    let enrolment = common::contract::contracted(&app, &key, 1).await;
    let csr_pem = String::from_utf8(csr(&p256())).unwrap();

    let (status, body) =
        request_certificate(&app, &key, &enrolment, &csr_pem, Some("issue-1")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "pending_acceptance");
    assert_eq!(body["enrolment_id"], enrolment.as_str());
    let dir = tempfile::tempdir().unwrap();
    let leaf = dir.path().join("leaf.pem");
    std::fs::write(&leaf, body["certificate_pem"].as_str().unwrap()).unwrap();
    let ca = app.env.ca_root();
    assert_openssl_verifies(
        &ca.join("root.pem"),
        &ca.join("issuing.pem"),
        &leaf,
        app.now(),
    );
    assert_pkilint_clean(&leaf);
    assert!(
        body["chain_pem"]
            .as_str()
            .unwrap()
            .matches("BEGIN CERTIFICATE")
            .count()
            == 2
    );
    let cert = openssl::x509::X509::from_pem(body["certificate_pem"].as_str().unwrap().as_bytes())
        .unwrap();
    let serial = cert
        .serial_number()
        .to_bn()
        .unwrap()
        .to_hex_str()
        .unwrap()
        .to_lowercase();
    assert_eq!(
        serial.trim_start_matches('0'),
        body["serial"].as_str().unwrap().trim_start_matches('0')
    );
    // Valid for the PS0 term: 12 months.
    let days = cert.not_before().diff(cert.not_after()).unwrap().days;
    assert!((364..=366).contains(&days), "{days}");
    assert_eq!(
        enrolment_status(&app, &key, &enrolment).await,
        "certificate_issued"
    );
    // Its acceptance record was made with it, before anyone asked for it.
    let serial_hex = body["serial"].as_str().unwrap().to_string();
    let record = app
        .state
        .store
        .read(move |tx| tx.acceptance_record(&serial_hex))
        .await
        .unwrap();
    assert!(record.is_some(), "no acceptance record made at signing");

    // The same request with the same key: the same certificate.
    let (status, again) =
        request_certificate(&app, &key, &enrolment, &csr_pem, Some("issue-1")).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["serial"], body["serial"]);
    assert_eq!(again["certificate_pem"], body["certificate_pem"]);
    // The same key with another body: refused.
    let other = String::from_utf8(csr(&p256())).unwrap();
    let (status, refused) =
        request_certificate(&app, &key, &enrolment, &other, Some("issue-1")).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("idempotency_key_reused"))
    );
    // A second issuance for the enrolment: refused.
    let (status, refused) =
        request_certificate(&app, &key, &enrolment, &other, Some("issue-2")).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("certificate_already_issued"))
    );

    // The caIssuers URL serves the issuing CA.
    let resp = app
        .http
        .get(app.url("/ca/dev-issuing.crt"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/pkix-cert");
    let issuing = openssl::x509::X509::from_der(&resp.bytes().await.unwrap()).unwrap();
    assert!(cert.verify(&issuing.public_key().unwrap()).unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_csrs_answer_with_their_code_and_leave_the_enrolment_ready() {
    let mut app = TestApp::spawn().await;
    let key = common::enrol::enrol_key(&mut app).await;
    let enrolment = common::contract::contracted(&app, &key, 2).await;

    let mut tampered = csr_with(&p256(), MessageDigest::sha256());
    let last = tampered.len() - 5;
    tampered[last] ^= 0x01;
    let small = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
    let e3 = {
        let three = openssl::bn::BigNum::from_u32(3).unwrap();
        PKey::from_rsa(Rsa::generate_with_e(2048, &three).unwrap()).unwrap()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("bad signature", pem(&tampered), "csr_signature_invalid"),
        ("RSA-1024", pem(&csr_with(&small, MessageDigest::sha256())), "csr_key_too_small"),
        ("exponent 3", pem(&csr_with(&e3, MessageDigest::sha256())), "csr_rsa_exponent"),
        ("SHA-1", pem(&csr_with(&p256(), MessageDigest::sha1())), "csr_signature_algorithm"),
        ("garbage", "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n".into(), "csr_malformed"),
        ("not PEM at all", "hello".into(), "csr_malformed"),
        ("oversized", format!("{}{}", pem(&csr_with(&p256(), MessageDigest::sha256())), " ".repeat(20_000)), "csr_too_large"),
    ];
    for (label, csr_pem, code) in cases {
        let (status, body) = request_certificate(&app, &key, &enrolment, &csr_pem, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some(code)),
            "{label}: {body}"
        );
        assert!(
            body["message_vi"].as_str().is_some_and(|m| !m.is_empty()),
            "{label}"
        );
    }
    assert_eq!(
        enrolment_status(&app, &key, &enrolment).await,
        "contract_signed"
    );
    let rows = app.certificate_rows(&enrolment).await;
    assert!(rows.is_empty(), "refusals record nothing");

    // A key certified for someone else is refused for this enrolment too.
    let other = common::contract::contracted(&app, &key, 3).await;
    let reused = String::from_utf8(csr(&p256())).unwrap();
    let (status, _) = request_certificate(&app, &key, &other, &reused, None).await;
    assert_eq!(status, 201);
    let (status, body) = request_certificate(&app, &key, &enrolment, &reused, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("key_already_certified"))
    );
    assert_eq!(
        enrolment_status(&app, &key, &enrolment).await,
        "contract_signed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issuance_needs_the_enrol_scope_and_a_signed_contract() {
    let mut app = TestApp::spawn().await;
    let key = common::enrol::enrol_key(&mut app).await;
    let verified_only = common::enrol::enrol(
        &app,
        &key,
        &common::enrol::application("vneid", &common::enrol::id_number(4)),
    )
    .await;
    let csr_pem = String::from_utf8(csr(&p256())).unwrap();
    let (status, body) = request_certificate(&app, &key, &verified_only, &csr_pem, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("enrolment_not_ready"))
    );
    let (status, body) = request_certificate(&app, &key, "no-such-enrolment", &csr_pem, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("enrolment_not_found"))
    );

    let admin = app.admin_token().await;
    let (status, body) = request_certificate(&app, &admin, &verified_only, &csr_pem, None).await;
    assert_eq!(status, 403, "{body}");
    let (_, reports) = app
        .post(
            "/api/v1/api-keys",
            Some(&admin),
            serde_json::json!({"name": "reports", "scopes": ["reports"]}),
        )
        .await;
    let (status, _) = request_certificate(
        &app,
        reports["key"].as_str().unwrap(),
        &verified_only,
        &csr_pem,
        None,
    )
    .await;
    assert_eq!(status, 403);
}

/// Retries of one request racing each other (a client that timed out and retried): every one
/// gets the one certificate with the same status, never `certificate_already_issued` or
/// `key_already_certified`; one certificate, one acceptance record, one stored answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_idempotency_key_all_get_the_same_certificate() {
    let mut app = TestApp::spawn().await;
    let key = common::enrol::enrol_key(&mut app).await;
    let enrolment = common::contract::contracted(&app, &key, 5).await;
    let csr_pem = String::from_utf8(csr(&p256())).unwrap();
    let answers = common::race_with_one_key(
        &app,
        &format!("/api/v1/enrolments/{enrolment}/certificate"),
        &key,
        "race-1",
        &serde_json::json!({ "csr": csr_pem }),
        8,
    )
    .await;
    let (_, first) = &answers[0];
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
        assert_eq!(body["serial"], first["serial"], "{body}");
        assert_eq!(body["certificate_pem"], first["certificate_pem"]);
        assert_eq!(body["status"], "pending_acceptance");
    }
    let rows = app.certificate_rows(&enrolment).await;
    assert_eq!(rows.len(), 1, "one certificate recorded");
    let serial = rows[0].serial.clone();
    assert_eq!(first["serial"], serial.as_str());
    let record = app
        .state
        .store
        .read(move |tx| tx.acceptance_record(&serial))
        .await
        .unwrap();
    assert!(record.is_some(), "the acceptance record was made with it");

    // Later retries get the stored answer too.
    let (status, again) =
        request_certificate(&app, &key, &enrolment, &csr_pem, Some("race-1")).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["serial"], first["serial"]);
}

/// Requests of one process share their batch's transactions, and one refused there fails
/// alone: concurrent requests for several enrolments, two of them with one key, give every
/// enrolment but one its certificate and acceptance record; the other is told the key was
/// certified and keeps its signed contract. Holds however the requests fall into batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_batches_and_a_request_refused_in_one_fails_alone() {
    const N: u32 = 6;
    let mut app = TestApp::spawn().await;
    let token = common::enrol::enrol_key(&mut app).await;
    let mut enrolments = Vec::new();
    for n in 0..N {
        enrolments.push(common::contract::contracted(&app, &token, 20 + n).await);
        // Past the codes' hourly limit for the one test phone number.
        app.clock.advance(chrono::Duration::minutes(61));
    }
    let shared = p256();
    let requests = enrolments.iter().enumerate().map(|(i, id)| {
        let csr = if i < 2 { csr(&shared) } else { csr(&p256()) };
        let (issuance, id) = (app.state.issuance.clone(), id.clone());
        tokio::spawn(async move {
            issuance
                .issue_for_enrolment(&Actor::System, &id, csr, None)
                .await
        })
    });
    let answers: Vec<_> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect();
    let refused: Vec<usize> = (0..answers.len())
        .filter(|&i| answers[i].is_err())
        .collect();
    assert_eq!(refused.len(), 1, "{answers:?}");
    assert!(
        refused[0] < 2,
        "only a request with the shared key is refused"
    );
    assert!(
        matches!(answers[refused[0]], Err(IssuanceError::KeyReused)),
        "{answers:?}"
    );
    for (i, id) in enrolments.iter().enumerate() {
        let status = enrolment_status(&app, &token, id).await;
        if i == refused[0] {
            assert_eq!(status, "contract_signed");
            continue;
        }
        assert_eq!(status, "certificate_issued");
        let serial = answers[i].as_ref().unwrap().serial.clone();
        let record = app
            .state
            .store
            .read(move |tx| tx.acceptance_record(&serial))
            .await
            .unwrap();
        assert!(record.is_some(), "stored with its acceptance record");
    }
    let admin = app.admin_token().await;
    let (status, report) = app.get("/api/v1/audit/verify", Some(&admin)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true, "{report}");
}
