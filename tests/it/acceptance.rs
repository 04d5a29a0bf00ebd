//! Certificate acceptance through the API: the acceptance record, its OTP, confirmation,
//! rejection and the deadline job.

use crate::common;

use chrono::Duration;
use common::contract::{contracted, PHONE};
use common::enrol::{count, enrol_key, enrolment_status, staff};
use common::TestApp;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509NameBuilder, X509ReqBuilder};
use serde_json::{json, Value};

const EMAIL: &str = "an.nguyen@example.vn";

fn csr_pem() -> String {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "ignored").unwrap();
    let mut req = X509ReqBuilder::new().unwrap();
    req.set_subject_name(&name.build()).unwrap();
    req.set_pubkey(&key).unwrap();
    req.sign(&key, MessageDigest::sha256()).unwrap();
    String::from_utf8(req.build().to_pem().unwrap()).unwrap()
}

/// A contracted PS0 enrolment for ID number `n` with its certificate issued; returns the
/// enrolment id and the certificate as issued.
async fn issued(app: &TestApp, key: &str, n: u32) -> (String, Value) {
    let enrolment = contracted(app, key, n).await;
    let (status, cert) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/certificate"),
            Some(key),
            json!({ "csr": csr_pem() }),
        )
        .await;
    assert_eq!(status, 201, "{cert}");
    (enrolment, cert)
}

async fn record_bytes(app: &TestApp, token: &str, serial: &str) -> (u16, Vec<u8>, String) {
    let resp = app
        .http
        .get(app.url(&format!("/api/v1/certificates/{serial}/acceptance-record")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let etag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, resp.bytes().await.unwrap().to_vec(), etag)
}

async fn send_otp(app: &TestApp, key: &str, serial: &str) -> (u16, Value) {
    app.post(
        &format!("/api/v1/certificates/{serial}/acceptance/otp"),
        Some(key),
        json!({}),
    )
    .await
}

async fn accept(app: &TestApp, key: &str, serial: &str, body: Value) -> (u16, Value) {
    app.post(
        &format!("/api/v1/certificates/{serial}/acceptance"),
        Some(key),
        body,
    )
    .await
}

/// Requests a code and returns it with its challenge id, read from the SMS back end.
async fn sms_code(app: &TestApp, key: &str, serial: &str) -> (String, String) {
    let before = app.messages_to(PHONE, 0).await.len();
    let (status, sent) = send_otp(app, key, serial).await;
    assert_eq!(status, 201, "{sent}");
    let code = app.nth_otp(PHONE, before + 1).await;
    (code, sent["challenge_id"].as_str().unwrap().to_string())
}

async fn certificate_status(app: &TestApp, key: &str, enrolment: &str, serial: &str) -> String {
    let (status, list) = app
        .get(
            &format!("/api/v1/enrolments/{enrolment}/certificates"),
            Some(key),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == serial)
        .map(|c| c["status"].as_str().unwrap().to_string())
        .unwrap()
}

fn audit_actions(app: &TestApp, object_id: &str) -> Vec<String> {
    let id = object_id.to_string();
    let store = app.state.store.clone();
    let rows =
        tokio::task::block_in_place(|| store.read_blocking(|tx| tx.audit_events_after(0, 100_000)))
            .unwrap();
    rows.into_iter()
        .filter(|r| r.object_id == id)
        .map(|r| r.action)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ps0_enrolment_goes_from_intake_to_an_active_certificate_through_the_api_alone() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let (enrolment, cert) = issued(&app, &key, 1).await;
    let serial = cert["serial"].as_str().unwrap().to_string();

    // The app's "awaiting acceptance" list.
    let (status, list) = app
        .get(
            &format!("/api/v1/enrolments/{enrolment}/certificates?status=pending_acceptance"),
            Some(&key),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let pending = list["certificates"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{list}");
    assert_eq!(pending[0]["serial"], serial.as_str());
    assert!(pending[0]["accept_before"].is_string(), "{list}");

    // The record names everything the citizen confirms.
    let (status, bytes, etag) = record_bytes(&app, &key, &serial).await;
    assert_eq!(status, 200);
    let html = String::from_utf8(bytes.clone()).unwrap();
    assert!(html.contains("Biên bản nghiệm thu và bàn giao chứng thư số"));
    assert!(html.contains(&serial));
    assert!(html.contains("HD-"), "contract number");
    assert!(html.contains("PS0"), "package");
    assert!(html.contains("ECDSA P-256"), "key algorithm and size");
    assert!(html.contains("UID=CCCD:"), "subject DN");
    let fingerprint =
        crate::common::certificates::fingerprint(cert["certificate_pem"].as_str().unwrap());
    assert!(html.contains(&fingerprint), "certificate fingerprint");
    let digest = ca_enrol::secrets::sha256_hex(&bytes);
    assert_eq!(etag, format!("\"{digest}\""));

    let (code, challenge) = sms_code(&app, &key, &serial).await;
    let (status, accepted) = accept(
        &app,
        &key,
        &serial,
        json!({"agree": true, "otp_code": code, "challenge_id": challenge,
               "client_ip": "203.0.113.7", "user_agent": "SmartCA/3.2 (Android 14)"}),
    )
    .await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["document_sha256"], digest.as_str());
    assert_eq!(accepted["otp_challenge_id"], challenge.as_str());
    assert_eq!(accepted["otp_channel"], "sms");
    assert!(accepted["otp_masked_destination"]
        .as_str()
        .unwrap()
        .contains('*'));
    assert_eq!(accepted["client_ip"], "203.0.113.7");
    assert_eq!(accepted["user_agent"], "SmartCA/3.2 (Android 14)");
    assert!(accepted["decided_at"].is_string());

    assert_eq!(
        certificate_status(&app, &key, &enrolment, &serial).await,
        "active"
    );
    let (_, list) = app
        .get(
            &format!("/api/v1/enrolments/{enrolment}/certificates?status=pending_acceptance"),
            Some(&key),
        )
        .await;
    assert!(list["certificates"].as_array().unwrap().is_empty());
    assert!(audit_actions(&app, &serial).contains(&"certificate.accepted".to_string()));

    // Confirming twice is harmless and returns the same record.
    let (status, again) = accept(
        &app,
        &key,
        &serial,
        json!({"agree": true, "otp_code": code, "challenge_id": challenge}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, accepted);
    // A decided certificate gets no new code.
    let (status, body) = send_otp(&app, &key, &serial).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "certificate_not_pending_acceptance");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_record_bytes_never_change_once_made_even_by_sql() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let (_, cert) = issued(&app, &key, 2).await;
    let serial = cert["serial"].as_str().unwrap().to_string();

    let (_, first, first_tag) = record_bytes(&app, &key, &serial).await;
    app.clock.advance(Duration::days(2));
    let (_, second, second_tag) = record_bytes(&app, &key, &serial).await;
    assert_eq!(first, second);
    assert_eq!(first_tag, second_tag);

    // ra_officer may read it too, and reads the same bytes.
    let officer = staff(&mut app, "officer1", "ra_officer").await;
    let (status, third, _) = record_bytes(&app, &officer, &serial).await;
    assert_eq!(status, 200);
    assert_eq!(first, third);
    // But only the subscriber's integration confirms.
    let (status, body) = send_otp(&app, &officer, &serial).await;
    assert_eq!(status, 403, "{body}");

    // Someone with SQL access cannot change or delete it either (triggers).
    let sql = |statement: String| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| app.env.sql(&statement)))
    };
    let refused = sql(format!(
        "UPDATE acceptance_records SET document_sha256 = 'x' WHERE serial = '{serial}'"
    ));
    assert!(refused.is_err(), "the database refuses to change a record");
    let refused = sql(format!(
        "DELETE FROM acceptance_records WHERE serial = '{serial}'"
    ));
    assert!(refused.is_err(), "the database refuses to delete a record");
    let (_, fourth, _) = record_bytes(&app, &key, &serial).await;
    assert_eq!(first, fourth);
}

async fn record_pdf(app: &TestApp, token: &str, serial: &str) -> (u16, Vec<u8>) {
    let resp = app
        .http
        .get(app.url(&format!("/api/v1/certificates/{serial}/acceptance-record")))
        .bearer_auth(token)
        .header("Accept", "application/pdf")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap().to_vec())
}

fn record_pdfs(app: &TestApp, serial: &str) -> i64 {
    count(
        &app.env,
        &format!(
            "SELECT COUNT(*) AS n FROM pdf_documents \
             WHERE kind = 'acceptance_record' AND subject = '{serial}'"
        ),
    )
}

/// The acceptance code's challenge for `serial` bound to `digest`.
fn challenges_bound_to(app: &TestApp, serial: &str, digest: &str) -> i64 {
    count(
        &app.env,
        &format!(
            "SELECT COUNT(*) AS n FROM otp_challenges \
             WHERE subject = 'certificate:{serial}' AND document_digest = '{digest}'"
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_record_pdf_is_made_once_on_first_need_and_the_code_is_bound_to_it() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let made = |app: &TestApp, serial: &str| {
        audit_actions(app, serial)
            .iter()
            .filter(|a| *a == "acceptance.record_pdf_made")
            .count()
    };

    // Issued: the record's row (the certificate is "with its acceptance record"), no PDF yet.
    let (_, cert) = issued(&app, &key, 3).await;
    let serial = cert["serial"].as_str().unwrap().to_string();
    let rows = format!("SELECT COUNT(*) AS n FROM acceptance_records WHERE serial = '{serial}'");
    assert_eq!(count(&app.env, &rows), 1);
    assert!(audit_actions(&app, &serial).contains(&"acceptance.record_created".to_string()));
    assert_eq!(record_pdfs(&app, &serial), 0);
    assert_eq!(made(&app, &serial), 0);

    // Two first requests at once: one document is stored and both answer its bytes.
    let (first, second) = tokio::join!(
        record_pdf(&app, &key, &serial),
        record_pdf(&app, &key, &serial)
    );
    assert_eq!(
        (first.0, second.0),
        (200, 200),
        "{} {}",
        String::from_utf8_lossy(&first.1[..first.1.len().min(500)]),
        String::from_utf8_lossy(&second.1[..second.1.len().min(500)])
    );
    assert!(first.1.starts_with(b"%PDF-"));
    assert_eq!(first.1, second.1);
    assert_eq!(record_pdfs(&app, &serial), 1);
    assert_eq!(made(&app, &serial), 1);
    let digest = ca_enrol::secrets::sha256_hex(&first.1);

    // The code is bound to that PDF and accepts it; the same bytes come back later.
    let (code, challenge) = sms_code(&app, &key, &serial).await;
    assert_eq!(challenges_bound_to(&app, &serial, &digest), 1);
    let (status, accepted) = accept(
        &app,
        &key,
        &serial,
        json!({"agree": true, "otp_code": code, "challenge_id": challenge}),
    )
    .await;
    assert_eq!(status, 200, "{accepted}");
    app.clock.advance(Duration::days(1));
    let (status, later) = record_pdf(&app, &key, &serial).await;
    assert_eq!(status, 200);
    assert_eq!(later, first.1);
    assert_eq!(made(&app, &serial), 1);

    // Asking for the code first makes the PDF then, and binds the code to it.
    let (_, cert) = issued(&app, &key, 4).await;
    let serial = cert["serial"].as_str().unwrap().to_string();
    assert_eq!(record_pdfs(&app, &serial), 0);
    sms_code(&app, &key, &serial).await;
    assert_eq!(record_pdfs(&app, &serial), 1);
    let (_, bytes) = record_pdf(&app, &key, &serial).await;
    let digest = ca_enrol::secrets::sha256_hex(&bytes);
    assert_eq!(challenges_bound_to(&app, &serial, &digest), 1);

    // A record decided without its PDF never gains one.
    let (_, cert) = issued(&app, &key, 5).await;
    let serial = cert["serial"].as_str().unwrap().to_string();
    let (status, body) = app
        .post(
            &format!("/api/v1/certificates/{serial}/acceptance/reject"),
            Some(&key),
            json!({"reason": "Sai tên"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = record_pdf(&app, &key, &serial).await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert_eq!(record_pdfs(&app, &serial), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_expired_and_wrong_purpose_codes_do_not_accept_a_certificate() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let (enrolment, cert) = issued(&app, &key, 3).await;
    let serial = cert["serial"].as_str().unwrap().to_string();

    // Not agreed.
    let (status, body) = accept(
        &app,
        &key,
        &serial,
        json!({"agree": false, "otp_code": "000000"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "agreement_required");

    // A contract-signing code is for another purpose: take the contract's last challenge.
    let store = app.state.store.clone();
    let e = enrolment.clone();
    let contract_challenge = tokio::task::block_in_place(|| {
        store.read_blocking(|tx| {
            let c = tx.signed_contract_for(&e)?.unwrap();
            Ok::<_, ca_enrol::store::StoreError>(c.otp_challenge_id.unwrap())
        })
    })
    .unwrap();
    let (code, challenge) = sms_code(&app, &key, &serial).await;
    let (status, body) = accept(
        &app,
        &key,
        &serial,
        json!({"agree": true, "otp_code": code, "challenge_id": contract_challenge}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "otp_wrong_purpose", "{body}");

    // A wrong code counts an attempt.
    let wrong = if code == "123456" { "654321" } else { "123456" };
    let (status, body) = accept(
        &app,
        &key,
        &serial,
        json!({"agree": true, "otp_code": wrong, "challenge_id": challenge}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "otp_invalid", "{body}");

    // The right code after its expiry.
    app.clock.advance(Duration::seconds(301));
    let (status, body) = accept(
        &app,
        &key,
        &serial,
        json!({"agree": true, "otp_code": code, "challenge_id": challenge}),
    )
    .await;
    assert_ne!(status, 200, "{body}");
    assert_eq!(body["code"], "otp_expired", "{body}");
    assert_eq!(
        certificate_status(&app, &key, &enrolment, &serial).await,
        "pending_acceptance"
    );

    // A fresh code works, after the resend countdown.
    let (code, challenge) = sms_code(&app, &key, &serial).await;
    let (status, body) = send_otp(&app, &key, &serial).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "otp_resend_too_soon");
    assert!(body["retry_after_seconds"].as_i64().unwrap() > 0, "{body}");
    let (status, body) = accept(
        &app,
        &key,
        &serial,
        json!({"agree": true, "otp_code": code, "challenge_id": challenge}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        certificate_status(&app, &key, &enrolment, &serial).await,
        "active"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rejecting_revokes_the_certificate_releases_the_free_package_and_reopens_for_correction() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let (enrolment, cert) = issued(&app, &key, 4).await;
    let serial = cert["serial"].as_str().unwrap().to_string();
    let reject = |reason: &'static str| {
        let path = format!("/api/v1/certificates/{serial}/acceptance/reject");
        let (app, key) = (&app, key.clone());
        async move {
            app.post(&path, Some(&key), json!({ "reason": reason }))
                .await
        }
    };

    let (status, body) = reject("  ").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "reason_required");

    let (status, rejected) = reject("Sai ngày sinh trong chứng thư").await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(
        rejected["rejection_reason"],
        "Sai ngày sinh trong chứng thư"
    );
    assert_eq!(
        certificate_status(&app, &key, &enrolment, &serial).await,
        "revoked"
    );
    assert_eq!(enrolment_status(&app, &key, &enrolment).await, "rejected");
    let actions = audit_actions(&app, &serial);
    assert!(actions.contains(&"certificate.rejected_at_acceptance".to_string()));

    // Twice is harmless; accepting afterwards is refused.
    let (status, again) = reject("Sai ngày sinh trong chứng thư").await;
    assert_eq!(status, 200);
    assert_eq!(again, rejected);
    let (status, body) = accept(
        &app,
        &key,
        &serial,
        json!({"agree": true, "otp_code": "000000"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "certificate_not_pending_acceptance");

    // The corrected application gets the free package again.
    let corrected = contracted(&app, &key, 4).await;
    assert_ne!(corrected, enrolment);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unaccepted_certificate_is_reminded_on_day_1_and_day_5_then_revoked_after_7_days() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let (enrolment, cert) = issued(&app, &key, 5).await;
    let serial = cert["serial"].as_str().unwrap().to_string();
    let job = app.state.acceptance.clone();
    let reminders = |app: &TestApp| {
        let sink = app.state.notifier.memory().unwrap().clone();
        sink.delivered()
            .into_iter()
            .filter(|d| d.kind == "acceptance_reminder")
            .filter(|d| d.text.contains("nghiem thu") || d.subject.contains("nghiệm thu"))
            .filter(|d| d.text.contains(serial.as_str()) || d.subject.contains(serial.as_str()))
            .count()
    };

    // Nothing before day 1.
    app.clock.advance(Duration::hours(23));
    assert_eq!(job.run_deadline().await.unwrap().reminded.len(), 0);

    // Day 1: one reminder by SMS and one by e-mail, once however often the job runs.
    app.clock.advance(Duration::hours(2));
    assert_eq!(
        job.run_deadline().await.unwrap().reminded,
        vec![serial.clone()]
    );
    assert!(job.run_deadline().await.unwrap().reminded.is_empty());
    app.messages_to(EMAIL, 1).await;
    for _ in 0..100 {
        if reminders(&app) >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(reminders(&app), 2);

    // Day 5: the second.
    app.clock.advance(Duration::days(4));
    assert_eq!(
        job.run_deadline().await.unwrap().reminded,
        vec![serial.clone()]
    );
    for _ in 0..100 {
        if reminders(&app) >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(reminders(&app), 4);
    assert_eq!(
        certificate_status(&app, &key, &enrolment, &serial).await,
        "pending_acceptance"
    );

    // Day 7: revoked, the record expired, the enrolment closed.
    app.clock.advance(Duration::days(2));
    let run = job.run_deadline().await.unwrap();
    assert_eq!(run.revoked, vec![serial.clone()]);
    assert_eq!(
        certificate_status(&app, &key, &enrolment, &serial).await,
        "revoked"
    );
    assert_eq!(enrolment_status(&app, &key, &enrolment).await, "expired");
    let (status, record) = app
        .get(
            &format!("/api/v1/certificates/{serial}/acceptance"),
            Some(&key),
        )
        .await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["status"], "expired");
    assert!(audit_actions(&app, &serial).contains(&"certificate.acceptance_expired".to_string()));
    assert!(job.run_deadline().await.unwrap().revoked.is_empty());

    // Too late to accept.
    let (status, body) = send_otp(&app, &key, &serial).await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deadline_is_configurable() {
    let env = common::TestEnv::new();
    let mut app = TestApp::spawn_with(env, |c| {
        c.acceptance.deadline_days = 2;
        c.acceptance.reminder_days = vec![1];
    })
    .await;
    let key = enrol_key(&mut app).await;
    let (_, cert) = issued(&app, &key, 6).await;
    let serial = cert["serial"].as_str().unwrap().to_string();
    app.clock.advance(Duration::days(2));
    let run = app.state.acceptance.run_deadline().await.unwrap();
    assert_eq!(run.revoked, vec![serial]);
}
