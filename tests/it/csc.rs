//! Remote signing through the CSC API v2 (`/csc/v2`), over HTTP only: a `key_mode: "remote"`
//! issuance, acceptance, the OTP bound to the hashes, the SAD, `signHash`, and signatures
//! checked by `openssl` against the certificate's public key; then every refusal.

use std::process::Command;

use base64::Engine;
use ca_enrol::clock::Clock;
use chrono::Duration;
use serde_json::{json, Value};

use crate::common;
use common::certificates::{accept, contract_signed, Citizen};
use common::enrol::{app_key_with, staff};
use common::TestApp;

const P256: &str = "1.2.840.10045.4.3.2";
const RSA: &str = "1.2.840.113549.1.1.11";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha256(data: &[u8]) -> Vec<u8> {
    openssl::sha::sha256(data).to_vec()
}

struct Remote {
    serial: String,
    credential: String,
    cert_pem: String,
}

/// Intake, signed contract, then issuance with `key_mode: "remote"` (pending acceptance).
async fn remote_issued(app: &TestApp, key: &str, citizen: &Citizen, alg: Option<&str>) -> Remote {
    let enrolment = contract_signed(app, key, citizen).await;
    let mut body = json!({"key_mode": "remote"});
    if let Some(alg) = alg {
        body["key_algorithm"] = json!(alg);
    }
    let path = format!("/api/v1/enrolments/{enrolment}/certificate");
    let (status, cert) = app.post(&path, Some(key), body.clone()).await;
    assert_eq!(status, 201, "{cert}");
    assert_eq!(cert["status"], "pending_acceptance");
    // A retry answers the same certificate and credential.
    let (status, again) = app.post(&path, Some(key), body).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["credential_id"], cert["credential_id"]);
    assert_eq!(again["serial"], cert["serial"]);
    Remote {
        serial: cert["serial"].as_str().unwrap().into(),
        credential: cert["credential_id"].as_str().unwrap().into(),
        cert_pem: cert["certificate_pem"].as_str().unwrap().into(),
    }
}

/// sendOTP for `hashes`, then authorize with the code sent; returns (status, body).
async fn authorize(
    app: &TestApp,
    key: &str,
    citizen: &Citizen,
    credential: &str,
    hashes: &[Vec<u8>],
) -> (u16, Value) {
    let hashes: Vec<String> = hashes.iter().map(|h| b64(h)).collect();
    let phone = citizen.phone_e164();
    let before = app.messages_to(&phone, 0).await.len();
    let (status, sent) = app
        .post(
            "/csc/v2/credentials/sendOTP",
            Some(key),
            json!({"credentialID": credential, "userID": citizen.id_number, "hashes": hashes,
                   "numSignatures": hashes.len()}),
        )
        .await;
    if status != 201 {
        return (status, sent);
    }
    let code = app.nth_otp(&phone, before + 1).await;
    app.post(
        "/csc/v2/credentials/authorize",
        Some(key),
        json!({"credentialID": credential, "userID": citizen.id_number, "numSignatures": hashes.len(),
               "hashes": hashes, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "OTP": code}),
    )
    .await
}

async fn sign_hash(
    app: &TestApp,
    key: &str,
    citizen: &Citizen,
    credential: &str,
    sad: &str,
    hashes: &[Vec<u8>],
    algo: &str,
) -> (u16, Value) {
    let hashes: Vec<String> = hashes.iter().map(|h| b64(h)).collect();
    app.post(
        "/csc/v2/signatures/signHash",
        Some(key),
        json!({"credentialID": credential, "userID": citizen.id_number, "SAD": sad,
               "hashes": hashes, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": algo}),
    )
    .await
}

/// `openssl dgst -sha256 -verify` of `signature` over `document` with the certificate's key.
fn openssl_verifies(app: &TestApp, cert_pem: &str, document: &[u8], signature: &[u8]) -> bool {
    let dir = app
        .env
        .data_dir()
        .join(format!("verify-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert_pem).unwrap();
    std::fs::write(dir.join("doc"), document).unwrap();
    std::fs::write(dir.join("sig"), signature).unwrap();
    let key = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(dir.join("cert.pem"))
        .output()
        .unwrap();
    assert!(key.status.success());
    std::fs::write(dir.join("key.pem"), key.stdout).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(dir.join("key.pem"))
        .arg("-signature")
        .arg(dir.join("sig"))
        .arg(dir.join("doc"))
        .output()
        .unwrap();
    out.status.success()
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_citizen_signs_hashes_remotely_and_every_refusal_has_its_code() {
    let mut app = TestApp::spawn().await;
    let key = app_key_with(&mut app, "portal", &["enrol", "lifecycle", "sign"]).await;
    let citizen = Citizen::new(61, ("Phường Ba Đình", "Thành phố Hà Nội"));
    let remote = remote_issued(&app, &key, &citizen, None).await;

    // Public description.
    let (status, info) = app.post("/csc/v2/info", None, json!({})).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["specs"], "2.0.0.0");

    // Not active yet: listed (the credential exists) but it cannot sign.
    let (status, list) = app
        .post(
            "/csc/v2/credentials/list",
            Some(&key),
            json!({"userID": citizen.id_number}),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["credentialIDs"], json!([remote.credential]));
    let doc = b"hop dong mua ban so 1".to_vec();
    let (status, body) = authorize(&app, &key, &citizen, &remote.credential, &[sha256(&doc)]).await;
    assert_eq!(
        (status, code(&body)),
        (409, "credential_not_active"),
        "{body}"
    );
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"].is_string());

    accept(&app, &key, &citizen, &remote.serial).await;

    let (status, info) = app
        .post(
            "/csc/v2/credentials/info",
            Some(&key),
            json!({"credentialID": remote.credential, "userID": citizen.id_number,
                   "certificates": "chain"}),
        )
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["authMode"], "explicit");
    assert_eq!(info["SCAL"], "2");
    assert_eq!(info["key"]["status"], "enabled");
    assert_eq!(info["key"]["algo"], json!(["1.2.840.10045.2.1", P256]));
    assert_eq!(info["key"]["len"], 256);
    assert_eq!(info["cert"]["status"], "valid");
    assert_eq!(info["cert"]["certificates"].as_array().unwrap().len(), 3);

    // The full path: OTP bound to the hash, SAD, signature verified by openssl.
    let (status, auth) = authorize(&app, &key, &citizen, &remote.credential, &[sha256(&doc)]).await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(auth["expiresIn"], 300);
    let sad = auth["SAD"].as_str().unwrap().to_string();
    let hashes = [sha256(&doc)];
    let (status, signed) = sign_hash(
        &app,
        &key,
        &citizen,
        &remote.credential,
        &sad,
        &hashes,
        P256,
    )
    .await;
    assert_eq!(status, 200, "{signed}");
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signed["signatures"][0].as_str().unwrap())
        .unwrap();
    assert!(openssl_verifies(&app, &remote.cert_pem, &doc, &signature));
    assert!(!openssl_verifies(
        &app,
        &remote.cert_pem,
        b"another document",
        &signature
    ));

    // Single use.
    let (status, body) = sign_hash(
        &app,
        &key,
        &citizen,
        &remote.credential,
        &sad,
        &hashes,
        P256,
    )
    .await;
    assert_eq!((status, code(&body)), (400, "sad_already_used"), "{body}");
    // Unknown SAD.
    let (status, body) = sign_hash(
        &app,
        &key,
        &citizen,
        &remote.credential,
        "sad_made_up",
        &hashes,
        P256,
    )
    .await;
    assert_eq!((status, code(&body)), (400, "sad_invalid"), "{body}");

    // A hash the SAD did not authorise, more hashes than authorised, a wrong algorithm:
    // refused without using the SAD, which then signs what it authorised. (Each
    // authorisation below is for another document: a code for the same hashes may be sent
    // again only after the resend cooldown.)
    let doc = b"hop dong so 2".to_vec();
    let hashes = [sha256(&doc)];
    let (status, auth) = authorize(&app, &key, &citizen, &remote.credential, &hashes).await;
    assert_eq!(status, 200, "{auth}");
    let sad = auth["SAD"].as_str().unwrap().to_string();
    let other = [sha256(b"not authorised")];
    let (status, body) =
        sign_hash(&app, &key, &citizen, &remote.credential, &sad, &other, P256).await;
    assert_eq!(
        (status, code(&body)),
        (400, "hash_not_authorized"),
        "{body}"
    );
    let twice = [sha256(&doc), sha256(&doc)];
    let (status, body) =
        sign_hash(&app, &key, &citizen, &remote.credential, &sad, &twice, P256).await;
    assert_eq!(
        (status, code(&body)),
        (400, "signatures_exceeded"),
        "{body}"
    );
    let (status, body) =
        sign_hash(&app, &key, &citizen, &remote.credential, &sad, &hashes, RSA).await;
    assert_eq!(
        (status, code(&body)),
        (400, "sign_algo_unsupported"),
        "{body}"
    );
    let (status, body) = sign_hash(
        &app,
        &key,
        &citizen,
        &remote.credential,
        &sad,
        &hashes,
        P256,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // An OTP for hashes no code was sent for.
    let (status, body) = app
        .post(
            "/csc/v2/credentials/authorize",
            Some(&key),
            json!({"credentialID": remote.credential, "userID": citizen.id_number,
                   "numSignatures": 1, "hashes": [b64(&other[0])], "OTP": "000000"}),
        )
        .await;
    // No code was sent for these hashes: a code is bound to its hash list.
    assert_eq!((status, code(&body)), (409, "otp_not_found"), "{body}");
    assert_eq!(body["error"], "invalid_otp", "{body}");

    // Expired SAD.
    let hashes = [sha256(b"hop dong so 3")];
    let (status, auth) = authorize(&app, &key, &citizen, &remote.credential, &hashes).await;
    assert_eq!(status, 200, "{auth}");
    app.clock.advance(Duration::seconds(301));
    let sad = auth["SAD"].as_str().unwrap();
    let (status, body) =
        sign_hash(&app, &key, &citizen, &remote.credential, sad, &hashes, P256).await;
    assert_eq!((status, code(&body)), (400, "sad_expired"), "{body}");

    // Suspension takes effect at once, even for a SAD issued before it.
    let hashes = [sha256(b"hop dong so 4")];
    let (status, auth) = authorize(&app, &key, &citizen, &remote.credential, &hashes).await;
    assert_eq!(status, 200, "{auth}");
    let officer = staff(&mut app, "ra-csc", "ra_officer").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/certificates/{}/suspend", remote.serial),
            Some(&officer),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sad = auth["SAD"].as_str().unwrap();
    let (status, body) =
        sign_hash(&app, &key, &citizen, &remote.credential, sad, &hashes, P256).await;
    assert_eq!(
        (status, code(&body)),
        (409, "credential_not_active"),
        "{body}"
    );

    // The subscriber's signatures, through the lifecycle API: the two made.
    let (status, list) = app
        .get(
            &format!("/api/v1/certificates/{}/signatures", remote.serial),
            Some(&key),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let signatures = list["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 2, "{list}");
    let mut signed: Vec<&str> = signatures
        .iter()
        .map(|s| s["hash_sha256"].as_str().unwrap())
        .collect();
    signed.sort_unstable();
    let mut made = vec![
        hex::encode(sha256(b"hop dong mua ban so 1")),
        hex::encode(sha256(&doc)),
    ];
    made.sort_unstable();
    assert_eq!(signed, made);
    assert!(signatures
        .iter()
        .all(|s| s["credential_id"] == remote.credential.as_str()));

    // Another integration's key with scope sign: the credential does not exist for it.
    let foreign = common::enrol::api_key(&mut app, "other portal", json!(["sign"]), None).await;
    let foreign = foreign["key"].as_str().unwrap();
    let (status, body) = app
        .post(
            "/csc/v2/credentials/info",
            Some(foreign),
            json!({"credentialID": remote.credential, "userID": citizen.id_number}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (404, "credential_not_found"),
        "{body}"
    );
    let (status, list) = app
        .post(
            "/csc/v2/credentials/list",
            Some(foreign),
            json!({"userID": citizen.id_number}),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["credentialIDs"], json!([]));
    let (status, body) = app
        .get(
            &format!("/api/v1/certificates/{}/signatures", remote.serial),
            Some(foreign),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (404, "certificate_not_found"),
        "{body}"
    );
    // A key without scope sign.
    let enrol_only = app_key_with(&mut app, "enrol only", &["enrol"]).await;
    let (status, body) = app
        .post(
            "/csc/v2/credentials/list",
            Some(&enrol_only),
            json!({"userID": citizen.id_number}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("access_denied")),
        "{body}"
    );
    let (status, body) = app
        .post(
            "/csc/v2/credentials/list",
            None,
            json!({"userID": citizen.id_number}),
        )
        .await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn an_rsa_credential_signs_pkcs1_and_revocation_disables_it() {
    let mut app = TestApp::spawn().await;
    let key = app_key_with(&mut app, "portal", &["enrol", "lifecycle", "sign"]).await;
    let citizen = Citizen::new(62, ("Phường Ba Đình", "Thành phố Hà Nội"));
    let remote = remote_issued(&app, &key, &citizen, Some("RSA-2048")).await;
    accept(&app, &key, &citizen, &remote.serial).await;
    let docs: Vec<Vec<u8>> = vec![b"van ban 1".to_vec(), b"van ban 2".to_vec()];
    let hashes: Vec<Vec<u8>> = docs.iter().map(|d| sha256(d)).collect();
    let (status, auth) = authorize(&app, &key, &citizen, &remote.credential, &hashes).await;
    assert_eq!(status, 200, "{auth}");
    let sad = auth["SAD"].as_str().unwrap();
    let (status, signed) =
        sign_hash(&app, &key, &citizen, &remote.credential, sad, &hashes, RSA).await;
    assert_eq!(status, 200, "{signed}");
    for (doc, sig) in docs.iter().zip(signed["signatures"].as_array().unwrap()) {
        let sig = base64::engine::general_purpose::STANDARD
            .decode(sig.as_str().unwrap())
            .unwrap();
        assert!(openssl_verifies(&app, &remote.cert_pem, doc, &sig));
    }

    let (status, auth) = authorize(&app, &key, &citizen, &remote.credential, &hashes[..1]).await;
    assert_eq!(status, 200, "{auth}");
    let officer = staff(&mut app, "ra-csc", "ra_officer").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/certificates/{}/revoke", remote.serial),
            Some(&officer),
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sad = auth["SAD"].as_str().unwrap();
    let (status, body) = sign_hash(
        &app,
        &key,
        &citizen,
        &remote.credential,
        sad,
        &hashes[..1],
        RSA,
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (409, "credential_not_active"),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
}

#[tokio::test]
async fn a_credential_left_pending_by_a_stopped_issuance_is_destroyed_by_recovery() {
    let app = TestApp::spawn().await;
    // As a process stopping right after recording the credential (before or after its key).
    let old = (app.clock.now() - Duration::minutes(11)).naive_utc();
    app.env.sql(&format!(
        "INSERT INTO csc_credentials (id, enrolment_id, key_algorithm, key_store, state, created_at) \
         VALUES ('c-stopped', 'e-none', 'P-256', 'software', 'pending', '{old}')"
    ));
    let fresh = app.clock.now().naive_utc();
    app.env.sql(&format!(
        "INSERT INTO csc_credentials (id, enrolment_id, key_algorithm, key_store, state, created_at) \
         VALUES ('c-running', 'e-none', 'P-256', 'software', 'pending', '{fresh}')"
    ));
    let settled = app.state.remote_signing.recover().await.unwrap();
    assert_eq!(settled, vec!["c-stopped".to_string()]);
    assert_eq!(
        common::enrol::count(
            &app.env,
            "SELECT COUNT(*) AS n FROM csc_credentials WHERE state = 'destroyed'"
        ),
        1
    );
    assert!(app.state.remote_signing.recover().await.unwrap().is_empty());
}

/// The full path for citizen `n` with a P-256 remote key: issued, accepted, one hash
/// authorised and signed, the signature verified by openssl. Returns the credential id.
pub async fn signed_through_csc(app: &mut TestApp, n: u32) -> String {
    let key = app_key_with(app, "portal", &["enrol", "lifecycle", "sign"]).await;
    let citizen = Citizen::new(n, ("Phường Ba Đình", "Thành phố Hà Nội"));
    let remote = remote_issued(app, &key, &citizen, None).await;
    accept(app, &key, &citizen, &remote.serial).await;
    let doc = b"to khai truc tuyen".to_vec();
    let hashes = [sha256(&doc)];
    let (status, auth) = authorize(app, &key, &citizen, &remote.credential, &hashes).await;
    assert_eq!(status, 200, "{auth}");
    let sad = auth["SAD"].as_str().unwrap();
    let (status, signed) =
        sign_hash(app, &key, &citizen, &remote.credential, sad, &hashes, P256).await;
    assert_eq!(status, 200, "{signed}");
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signed["signatures"][0].as_str().unwrap())
        .unwrap();
    assert!(openssl_verifies(app, &remote.cert_pem, &doc, &signature));
    remote.credential
}

/// Two processes on one database (PostgreSQL when `TEST_DATABASE_URL` is set): a SAD
/// presented to both at once signs once; the other is refused `sad_already_used`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sad_signs_once_across_two_processes() {
    let mut app = TestApp::spawn().await;
    let key = app_key_with(&mut app, "portal", &["enrol", "lifecycle", "sign"]).await;
    let citizen = Citizen::new(64, ("Phường Ba Đình", "Thành phố Hà Nội"));
    let remote = remote_issued(&app, &key, &citizen, None).await;
    accept(&app, &key, &citizen, &remote.serial).await;
    // A second process: the same configuration and database, its own services and caches.
    let other = ca_enrol::app::prepare(app.env.config(), app.clock.clone())
        .await
        .unwrap()
        .state;
    let hashes = [sha256(b"to trinh so 7")];
    let (status, auth) = authorize(&app, &key, &citizen, &remote.credential, &hashes).await;
    assert_eq!(status, 200, "{auth}");
    let sad = auth["SAD"].as_str().unwrap().to_string();
    let parsed = ca_enrol::remote_signing::Hashes::parse(&[b64(&hashes[0])]).unwrap();
    let actor = ca_enrol::audit::Actor::System;
    let attempt = |service: ca_enrol::remote_signing::RemoteSigning| {
        let (sad, parsed, actor, credential, user) = (
            sad.clone(),
            parsed.clone(),
            actor.clone(),
            remote.credential.clone(),
            citizen.id_number.clone(),
        );
        tokio::spawn(async move {
            service
                .sign_hash(&actor, &credential, Some(&user), None, &sad, parsed, P256)
                .await
        })
    };
    let first = attempt(app.state.remote_signing.clone());
    let second = attempt(other.remote_signing.clone());
    let results = [first.await.unwrap(), second.await.unwrap()];
    let signed = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(ca_enrol::remote_signing::RemoteSigningError::SadUsed)
            )
        })
        .count();
    assert_eq!((signed, refused), (1, 1), "{results:?}");
}

/// Authorises and signs one hash with `credential`; returns (status, body) of the first
/// refusal, or the signature checked by openssl against `cert_pem`.
async fn signs(
    app: &TestApp,
    key: &str,
    citizen: &Citizen,
    credential: &str,
    cert_pem: &str,
    doc: &[u8],
) -> Result<(), (u16, Value)> {
    let hashes = [sha256(doc)];
    let (status, auth) = authorize(app, key, citizen, credential, &hashes).await;
    if status != 200 {
        return Err((status, auth));
    }
    let sad = auth["SAD"].as_str().unwrap();
    let (status, signed) = sign_hash(app, key, citizen, credential, sad, &hashes, P256).await;
    if status != 200 {
        return Err((status, signed));
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signed["signatures"][0].as_str().unwrap())
        .unwrap();
    assert!(openssl_verifies(app, cert_pem, doc, &signature));
    Ok(())
}

fn public_key_der(cert_pem: &str) -> Vec<u8> {
    openssl::x509::X509::from_pem(cert_pem.as_bytes())
        .unwrap()
        .public_key()
        .unwrap()
        .public_key_to_der()
        .unwrap()
}

/// A rekey and a renewal of a remote certificate each generate a new key and credential; the
/// old credential stays with its certificate and stops signing once that is superseded.
#[tokio::test]
async fn rekey_and_renewal_of_a_remote_certificate_make_new_keys_and_retire_the_old_credential() {
    let mut app = TestApp::spawn().await;
    let key = app_key_with(&mut app, "portal", &["enrol", "lifecycle", "sign"]).await;
    let citizen = Citizen::new(65, ("Phường Ba Đình", "Thành phố Hà Nội"));
    let first = remote_issued(&app, &key, &citizen, None).await;
    accept(&app, &key, &citizen, &first.serial).await;

    // Rekey: a CSR and `remote` together, or neither, are refused.
    let rekey_path = format!("/api/v1/certificates/{}/rekey", first.serial);
    for body in [
        json!({"key_mode": "remote", "csr": common::certificates::csr_pem()}),
        json!({}),
    ] {
        let (status, refused) = app.post(&rekey_path, Some(&key), body).await;
        assert_eq!(
            (status, code(&refused)),
            (422, "key_mode_invalid"),
            "{refused}"
        );
    }
    let (status, rekeyed) = app
        .post(&rekey_path, Some(&key), json!({"key_mode": "remote"}))
        .await;
    assert_eq!(status, 201, "{rekeyed}");
    assert_eq!(rekeyed["status"], "pending_acceptance");
    assert_eq!(rekeyed["supersedes"], first.serial.as_str());
    let second = Remote {
        serial: rekeyed["serial"].as_str().unwrap().into(),
        credential: rekeyed["credential_id"].as_str().unwrap().into(),
        cert_pem: rekeyed["certificate_pem"].as_str().unwrap().into(),
    };
    assert_ne!(second.credential, first.credential);
    assert_ne!(
        public_key_der(&second.cert_pem),
        public_key_der(&first.cert_pem)
    );
    // A repeated request answers the same pending rekey rather than another key.
    let (status, again) = app
        .post(&rekey_path, Some(&key), json!({"key_mode": "remote"}))
        .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["serial"], rekeyed["serial"]);
    assert_eq!(again["credential_id"], rekeyed["credential_id"]);
    // Until the new certificate is accepted the old credential signs, the new one does not.
    signs(
        &app,
        &key,
        &citizen,
        &first.credential,
        &first.cert_pem,
        b"truoc khi doi khoa",
    )
    .await
    .unwrap();
    let (status, refused) = signs(
        &app,
        &key,
        &citizen,
        &second.credential,
        &second.cert_pem,
        b"chua chap nhan",
    )
    .await
    .unwrap_err();
    assert_eq!(
        (status, code(&refused)),
        (409, "credential_not_active"),
        "{refused}"
    );
    accept(&app, &key, &citizen, &second.serial).await;
    let (status, refused) = signs(
        &app,
        &key,
        &citizen,
        &first.credential,
        &first.cert_pem,
        b"sau khi doi khoa",
    )
    .await
    .unwrap_err();
    assert_eq!(
        (status, code(&refused)),
        (409, "credential_not_active"),
        "{refused}"
    );
    signs(
        &app,
        &key,
        &citizen,
        &second.credential,
        &second.cert_pem,
        b"khoa moi",
    )
    .await
    .unwrap();

    // Renewal: a new enrolment and contract, then a new remote key for it.
    let (status, renewal) = app
        .post(
            &format!("/api/v1/certificates/{}/renew", second.serial),
            Some(&key),
            json!({"package_code": "PS12"}),
        )
        .await;
    assert_eq!(status, 201, "{renewal}");
    common::contract::sign_with_sms_code_to(
        &app,
        &key,
        renewal["contract"]["id"].as_str().unwrap(),
        &citizen.phone_e164(),
    )
    .await;
    let issue_path = format!(
        "/api/v1/enrolments/{}/certificate",
        renewal["enrolment_id"].as_str().unwrap()
    );
    // No CSR and no key mode: refused, never the old key certified again.
    let (status, refused) = app.post(&issue_path, Some(&key), json!({})).await;
    assert_eq!(
        (status, code(&refused)),
        (422, "key_mode_invalid"),
        "{refused}"
    );
    let (status, renewed) = app
        .post(&issue_path, Some(&key), json!({"key_mode": "remote"}))
        .await;
    assert_eq!(status, 201, "{renewed}");
    assert_eq!(renewed["supersedes"], second.serial.as_str());
    let (status, again) = app
        .post(&issue_path, Some(&key), json!({"key_mode": "remote"}))
        .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["serial"], renewed["serial"]);
    assert_eq!(again["credential_id"], renewed["credential_id"]);
    let third = Remote {
        serial: renewed["serial"].as_str().unwrap().into(),
        credential: renewed["credential_id"].as_str().unwrap().into(),
        cert_pem: renewed["certificate_pem"].as_str().unwrap().into(),
    };
    assert!(![&first.credential, &second.credential].contains(&&third.credential));
    let keys = [&first, &second].map(|r| public_key_der(&r.cert_pem));
    assert!(!keys.contains(&public_key_der(&third.cert_pem)));
    accept(&app, &key, &citizen, &third.serial).await;
    let (status, refused) = signs(
        &app,
        &key,
        &citizen,
        &second.credential,
        &second.cert_pem,
        b"sau khi gia han",
    )
    .await
    .unwrap_err();
    assert_eq!(
        (status, code(&refused)),
        (409, "credential_not_active"),
        "{refused}"
    );
    signs(
        &app,
        &key,
        &citizen,
        &third.credential,
        &third.cert_pem,
        b"gia han",
    )
    .await
    .unwrap();

    // Each credential stays bound to its own certificate.
    for remote in [&first, &second, &third] {
        let (status, info) = app
            .post(
                "/csc/v2/credentials/info",
                Some(&key),
                json!({"credentialID": remote.credential, "userID": citizen.id_number,
                       "certificates": "single"}),
            )
            .await;
        assert_eq!(status, 200, "{info}");
        let expected = if remote.serial == third.serial {
            "valid"
        } else {
            "revoked"
        };
        assert_eq!(info["cert"]["status"], expected, "{info}");
        assert_eq!(
            info["cert"]["certificates"][0],
            b64(&openssl::x509::X509::from_pem(remote.cert_pem.as_bytes())
                .unwrap()
                .to_der()
                .unwrap())
        );
    }
}

/// The administration page offers scope `sign`: a key made there reaches the CSC API.
#[tokio::test]
async fn the_admin_page_creates_an_api_key_with_scope_sign() {
    let mut app = TestApp::spawn().await;
    let admin = common::web::web_sign_in(&mut app, "admin").await;
    let page = admin.get("/admin").await;
    assert!(
        page.body.contains("name=\"scope_sign\""),
        "no sign checkbox"
    );
    let created = admin
        .post(
            "/admin/api-keys",
            &[("name", "Cổng ký số"), ("scope_sign", "on")],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let token = created.text_of("api-key").unwrap();
    let (status, me) = app.get("/api/v1/whoami", Some(&token)).await;
    assert_eq!((status, me["scopes"].clone()), (200, json!(["sign"])));
    let (status, list) = app
        .post(
            "/csc/v2/credentials/list",
            Some(&token),
            json!({"userID": "001203000065"}),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["credentialIDs"], json!([]));
}

/// A PDF signed through this CSC API by pyHanko's CSC client (`tests/csc/pyhanko_sign.py`:
/// pyHanko's `CSCSigner` and `fetch_certs_in_csc_credential` as shipped, with an
/// authorisation manager that asks this test for the OTP), then validated by pdfsig and by
/// `pyhanko sign validate` against our root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyhankos_csc_client_signs_a_pdf_that_pdfsig_and_pyhanko_validate() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;

    let mut app = TestApp::spawn().await;
    let key = app_key_with(&mut app, "portal", &["enrol", "lifecycle", "sign"]).await;
    let citizen = Citizen::new(66, ("Phường Ba Đình", "Thành phố Hà Nội"));
    let remote = remote_issued(&app, &key, &citizen, None).await;
    accept(&app, &key, &citizen, &remote.serial).await;
    let dir = app.env.data_dir().join("pyhanko");
    std::fs::create_dir_all(&dir).unwrap();
    let (unsigned, signed) = (dir.join("in.pdf"), dir.join("signed.pdf"));
    std::fs::write(&unsigned, common::seal::sample_pdf()).unwrap();

    let phone = citizen.phone_e164();
    let before = app.messages_to(&phone, 0).await.len();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/csc/pyhanko_sign.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(app.url(""))
        .arg(&key)
        .arg(&remote.credential)
        .arg(&unsigned)
        .arg(&signed)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with pyhanko (pip install pyhanko)");
    let stdout = child.stdout.take().unwrap();
    // The script blocks on its read; the server answers on the other worker.
    let (asked, mut stdout) = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        (line, reader)
    })
    .await
    .unwrap();
    if !asked.starts_with("OTP? ") {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        panic!(
            "pyHanko did not ask for the OTP: {asked}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let code = app.nth_otp(&phone, before + 1).await;
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{code}").unwrap();
    drop(stdin);
    let (rest, out) = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        (rest, child.wait_with_output().unwrap())
    })
    .await
    .unwrap();
    assert!(
        out.status.success() && rest.contains("SIGNED"),
        "pyhanko_sign.py: {rest}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // pdfsig judges the signature and its byte range (it does not know our root).
    let text = common::seal::pdfsig(&signed);
    assert!(
        text.contains("Signature Validation: Signature is Valid.")
            && text.contains("ETSI.CAdES.detached"),
        "pdfsig:\n{text}"
    );
    // pyHanko: intact and trusted from our root, at the service's time (the test clock may
    // run ahead of the wall clock, and the certificate's notBefore is on the former).
    let ca = app.env.ca_root();
    let at = (app.clock.now() + Duration::seconds(1)).to_rfc3339();
    let (ok, text) = common::seal::tool(
        "pyhanko",
        &[
            "sign",
            "validate",
            "--trust",
            &ca.join("root.pem").to_string_lossy(),
            "--trust-replace",
            "--other-certs",
            &ca.join("issuing.pem").to_string_lossy(),
            "--validation-time",
            &at,
            &signed.to_string_lossy(),
        ],
        "pip install pyhanko pyhanko-cli",
    );
    assert!(ok && text.contains(":INTACT:TRUSTED"), "pyhanko:\n{text}");
    // One signature, audited as made with this credential.
    let (status, list) = app
        .get(
            &format!("/api/v1/certificates/{}/signatures", remote.serial),
            Some(&key),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["signatures"].as_array().unwrap().len(), 1, "{list}");
}
