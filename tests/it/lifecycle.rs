//! Renewal, rekey and expiry through the API: the replaced certificate is revoked
//! (`superseded`) only when the new one is accepted, checked with `openssl ocsp`; expiry and its
//! reminders run through the job as the scheduler would, with the clock moved.

use crate::common;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use common::contract::{contracted, sign_with_sms_code, PHONE};
use common::enrol::{audit_actions, enrolment_status, staff};
use common::pki::{crl_serials, ocsp_status};
use common::TestApp;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509ReqBuilder;
use serde_json::{json, Value};

const EMAIL: &str = "an.nguyen@example.vn";

fn p256() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn csr(key: &PKey<Private>) -> String {
    let mut req = X509ReqBuilder::new().unwrap();
    req.set_pubkey(key).unwrap();
    req.sign(key, MessageDigest::sha256()).unwrap();
    String::from_utf8(req.build().to_pem().unwrap()).unwrap()
}

/// An API key as the subscriber app's backend holds it: enrolment and lifecycle.
async fn app_key(app: &mut TestApp, scopes: &[&str]) -> String {
    common::enrol::app_key_with(app, "subscriber app", scopes).await
}

/// Outbox rows of `kind` (certificate status notices).
fn notices(app: &TestApp, kind: &str) -> i64 {
    common::enrol::count(
        &app.env,
        &format!("SELECT COUNT(*) AS n FROM outbox_messages WHERE kind = '{kind}'"),
    )
}

/// Where the test keeps certificates as PEM files for openssl.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    fn leaf(&self, issued: &Value) -> PathBuf {
        let path = self
            .0
            .path()
            .join(format!("{}.pem", issued["serial"].as_str().unwrap()));
        std::fs::write(&path, issued["certificate_pem"].as_str().unwrap()).unwrap();
        path
    }
}

/// A certificate as issued, with its key and PEM file.
struct Cert {
    serial: String,
    enrolment: String,
    not_after: String,
    key: PKey<Private>,
    leaf: PathBuf,
}

impl Cert {
    fn from(issued: &Value, key: PKey<Private>, files: &Files) -> Self {
        Self {
            serial: issued["serial"].as_str().unwrap().to_string(),
            enrolment: issued["enrolment_id"].as_str().unwrap().to_string(),
            not_after: issued["not_after"].as_str().unwrap().to_string(),
            leaf: files.leaf(issued),
            key,
        }
    }
}

/// Issues the certificate of a `contract_signed` enrolment (`pending_acceptance`).
async fn issue(app: &TestApp, key: &str, enrolment: &str, files: &Files) -> Cert {
    let pkey = p256();
    let (status, issued) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/certificate"),
            Some(key),
            json!({ "csr": csr(&pkey) }),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    Cert::from(&issued, pkey, files)
}

/// Confirms the acceptance record with the code sent by SMS; returns the answer.
async fn accept(app: &TestApp, key: &str, serial: &str) -> (u16, Value) {
    let before = app.messages_to(PHONE, 0).await.len();
    let (status, sent) = app
        .post(
            &format!("/api/v1/certificates/{serial}/acceptance/otp"),
            Some(key),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    let code = app.nth_otp(PHONE, before + 1).await;
    app.post(
        &format!("/api/v1/certificates/{serial}/acceptance"),
        Some(key),
        json!({"agree": true, "otp_code": code, "challenge_id": sent["challenge_id"]}),
    )
    .await
}

/// A PS0 enrolment for ID number `n` taken to an accepted, `active` certificate.
async fn active(app: &TestApp, key: &str, n: u32, files: &Files) -> Cert {
    let enrolment = contracted(app, key, n).await;
    let cert = issue(app, key, &enrolment, files).await;
    let (status, body) = accept(app, key, &cert.serial).await;
    assert_eq!(status, 200, "{body}");
    cert
}

/// What `openssl ocsp` says of `leaf` right now.
fn ocsp(app: &TestApp, leaf: &Path) -> (String, String) {
    let skew = (app.now() - Utc::now().timestamp()).max(0);
    ocsp_status(&app.env.ca_root(), &app.url("/ocsp"), leaf, skew)
}

async fn certificate(app: &TestApp, token: &str, serial: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/certificates/{serial}"), Some(token))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn renew(app: &TestApp, token: &str, serial: &str, package: &str) -> (u16, Value) {
    app.post(
        &format!("/api/v1/certificates/{serial}/renew"),
        Some(token),
        json!({ "package_code": package }),
    )
    .await
}

async fn rekey(app: &TestApp, token: &str, serial: &str, key: &PKey<Private>) -> (u16, Value) {
    app.post(
        &format!("/api/v1/certificates/{serial}/rekey"),
        Some(token),
        json!({ "csr": csr(key) }),
    )
    .await
}

async fn enrolment_next_step(app: &TestApp, key: &str, id: &str) -> String {
    let (status, body) = app
        .get(&format!("/api/v1/enrolments/{id}"), Some(key))
        .await;
    assert_eq!(status, 200, "{body}");
    body["next_step"].as_str().unwrap().to_string()
}

/// Polls the CRL (rebuilt on the first request after a change) for up to a second.
async fn crl_lists(app: &TestApp, serial: &str, expected: bool) {
    let name = app.state.ca.issuing.name().to_string();
    let bare = serial.trim_start_matches('0').to_string();
    let started = std::time::Instant::now();
    loop {
        let der = app
            .http
            .get(app.url(&format!("/crl/{name}.crl")))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        if crl_serials(&der).contains(&bare) == expected {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "CRL listing of {serial} is not {expected} after 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewing_with_a_paid_package_issues_a_new_certificate_and_supersedes_the_old_one_only_on_acceptance(
) {
    let mut app = TestApp::spawn().await;
    let key = app_key(&mut app, &["enrol", "lifecycle"]).await;
    let files = Files::new();
    let old = active(&app, &key, 1, &files).await;

    let (status, renewal) = renew(&app, &key, &old.serial, "PS12").await;
    assert_eq!(status, 201, "{renewal}");
    assert_eq!(renewal["renews"], old.serial.as_str());
    let enrolment = renewal["enrolment_id"].as_str().unwrap().to_string();
    assert_ne!(enrolment, old.enrolment);
    assert_eq!(renewal["contract"]["package_code"], "PS12");
    assert_eq!(renewal["contract"]["price_vnd"], 385000);
    assert_eq!(renewal["contract"]["status"], "draft");
    assert_eq!(enrolment_status(&app, &key, &enrolment).await, "verified");
    let view = certificate(&app, &key, &old.serial).await;
    assert_eq!(view["pending_replacement"]["kind"], "renewal", "{view}");
    assert_eq!(
        view["pending_replacement"]["enrolment_id"],
        enrolment.as_str()
    );

    // The normal steps: the contract signed with an SMS code, the certificate from a CSR.
    sign_with_sms_code(&app, &key, renewal["contract"]["id"].as_str().unwrap()).await;
    let new = issue(&app, &key, &enrolment, &files).await;
    let view = certificate(&app, &key, &new.serial).await;
    assert_eq!(view["supersedes"], old.serial.as_str());
    assert_eq!(view["package_code"], "PS12");
    let not_before: DateTime<Utc> = view["not_before"].as_str().unwrap().parse().unwrap();
    let not_after: DateTime<Utc> = view["not_after"].as_str().unwrap().parse().unwrap();
    assert!((not_after - not_before).num_days() >= 364, "{view}");
    assert_eq!(
        enrolment_next_step(&app, &key, &enrolment).await,
        "accept_certificate"
    );

    // Until the new one is accepted the old one is good and the new one on hold.
    assert_eq!(ocsp(&app, &old.leaf).0, "good");
    assert_eq!(ocsp(&app, &new.leaf).0, "revoked");

    let (status, body) = accept(&app, &key, &new.serial).await;
    assert_eq!(status, 200, "{body}");
    let (status, text) = ocsp(&app, &old.leaf);
    assert_eq!(status, "revoked", "{text}");
    assert!(text.contains("Reason: superseded"), "{text}");
    assert_eq!(ocsp(&app, &new.leaf).0, "good");
    crl_lists(&app, &old.serial, true).await;
    // One notice, by SMS and e-mail, says both: the new certificate in use, the old replaced.
    assert_eq!(notices(&app, "certificate_renewed"), 2);
    assert_eq!(
        notices(&app, "certificate_active"),
        2,
        "the first one's only"
    );
    assert_eq!(notices(&app, "certificate_revoked"), 0);
    let sms = app.notices_to(PHONE, 4).await; // issued, active, issued, renewed
    assert!(
        sms.iter()
            .any(|d| d.kind == "certificate_renewed" && d.text.contains(&new.serial)),
        "{sms:?}"
    );

    let view = certificate(&app, &key, &old.serial).await;
    assert_eq!(view["status"], "revoked");
    assert_eq!(view["revocation_reason"], "superseded");
    assert_eq!(view["superseded_by"], new.serial.as_str());
    assert!(view.get("pending_replacement").is_none(), "{view}");
    assert_eq!(enrolment_next_step(&app, &key, &enrolment).await, "none");
    let revoked = audit_actions(&mut app, "certificate.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["object_id"], old.serial.as_str());
    assert!(revoked[0]["details"]
        .as_str()
        .unwrap()
        .contains(&new.serial));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_free_package_cannot_be_taken_a_second_time_by_renewal() {
    let mut app = TestApp::spawn().await;
    let key = app_key(&mut app, &["enrol", "lifecycle"]).await;
    let files = Files::new();
    let old = active(&app, &key, 2, &files).await;

    let (status, body) = renew(&app, &key, &old.serial, "PS0").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "free_package_already_used");
    assert!(body["message_vi"].as_str().unwrap().contains("miễn phí"));
    // Nothing was left behind: no renewal in progress, and a paid one may start.
    let view = certificate(&app, &key, &old.serial).await;
    assert!(view.get("pending_replacement").is_none(), "{view}");
    let (status, body) = renew(&app, &key, &old.serial, "PS24").await;
    assert_eq!(status, 201, "{body}");
    // One at a time.
    let (status, body) = renew(&app, &key, &old.serial, "PS36").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "replacement_pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rekeying_keeps_the_not_after_refuses_the_same_key_and_supersedes_on_acceptance() {
    let mut app = TestApp::spawn().await;
    let key = app_key(&mut app, &["enrol", "lifecycle"]).await;
    let files = Files::new();
    let old = active(&app, &key, 3, &files).await;
    app.clock.advance(Duration::days(40));

    // The old key is certified already.
    let (status, body) = rekey(&app, &key, &old.serial, &old.key).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "key_already_certified");

    let new_key = p256();
    let request = json!({ "csr": csr(&new_key) });
    let path = format!("/api/v1/certificates/{}/rekey", old.serial);
    let send = |body: Value| {
        let req = app
            .http
            .post(app.url(&path))
            .bearer_auth(&key)
            .header("Idempotency-Key", "rekey-1")
            .json(&body);
        async move { common::into_parts(req.send().await.unwrap()).await }
    };
    let (status, issued) = send(request.clone()).await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["status"], "pending_acceptance");
    assert_eq!(issued["supersedes"], old.serial.as_str());
    assert_eq!(issued["enrolment_id"], old.enrolment.as_str());
    // A retry of the same request is answered with the same certificate.
    let (status, again) = send(request).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["serial"], issued["serial"]);
    let new = Cert::from(&issued, new_key, &files);

    // Same notAfter (the remaining term), in the JSON and in the certificate itself.
    assert_eq!(new.not_after, old.not_after);
    let read = |p: &PathBuf| {
        openssl::x509::X509::from_pem(&std::fs::read(p).unwrap())
            .unwrap()
            .not_after()
            .to_string()
    };
    assert_eq!(read(&new.leaf), read(&old.leaf));
    let view = certificate(&app, &key, &new.serial).await;
    assert_eq!(view["package_code"], "PS0");

    // One replacement at a time, whichever kind.
    let (status, body) = rekey(&app, &key, &old.serial, &p256()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "replacement_pending");
    let (status, body) = renew(&app, &key, &old.serial, "PS12").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "replacement_pending");
    let view = certificate(&app, &key, &old.serial).await;
    assert_eq!(view["pending_replacement"]["kind"], "rekey", "{view}");
    assert_eq!(view["pending_replacement"]["serial"], new.serial.as_str());

    assert_eq!(ocsp(&app, &old.leaf).0, "good");
    let (status, body) = accept(&app, &key, &new.serial).await;
    assert_eq!(status, 200, "{body}");
    let (status, text) = ocsp(&app, &old.leaf);
    assert_eq!(status, "revoked", "{text}");
    assert!(text.contains("Reason: superseded"), "{text}");
    assert_eq!(ocsp(&app, &new.leaf).0, "good");
    assert_eq!(
        enrolment_status(&app, &key, &old.enrolment).await,
        "certificate_issued"
    );
    let rekeyed = audit_actions(&mut app, "certificate.rekey_requested").await;
    assert_eq!(rekeyed.len(), 1);
    assert_eq!(rekeyed[0]["object_id"], old.serial.as_str());
}

/// Retries of one rekey racing each other all get the one new certificate, never
/// `replacement_pending` or `key_already_certified`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rekeys_with_one_idempotency_key_all_get_the_same_certificate() {
    let mut app = TestApp::spawn().await;
    let key = app_key(&mut app, &["enrol", "lifecycle"]).await;
    let files = Files::new();
    let old = active(&app, &key, 6, &files).await;
    let answers = common::race_with_one_key(
        &app,
        &format!("/api/v1/certificates/{}/rekey", old.serial),
        &key,
        "rekey-race",
        &json!({ "csr": csr(&p256()) }),
        8,
    )
    .await;
    let (_, first) = &answers[0];
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
        assert_eq!(body["serial"], first["serial"], "{body}");
        assert_eq!(body["supersedes"], old.serial.as_str());
    }
    let rekeyed = audit_actions(&mut app, "certificate.rekey_requested").await;
    assert_eq!(rekeyed.len(), 1, "one rekey recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_or_unaccepted_replacement_leaves_the_old_certificate_as_it_was() {
    let mut app = TestApp::spawn().await;
    let key = app_key(&mut app, &["enrol", "lifecycle"]).await;
    let files = Files::new();
    let old = active(&app, &key, 4, &files).await;

    // A rekey the citizen rejects.
    let (status, issued) = rekey(&app, &key, &old.serial, &p256()).await;
    assert_eq!(status, 201, "{issued}");
    let rejected = Cert::from(&issued, p256(), &files);
    let (status, body) = app
        .post(
            &format!("/api/v1/certificates/{}/acceptance/reject", rejected.serial),
            Some(&key),
            json!({"reason": "Tôi không yêu cầu thay khóa"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ocsp(&app, &rejected.leaf).0, "revoked");
    assert_eq!(ocsp(&app, &old.leaf).0, "good");
    let view = certificate(&app, &key, &old.serial).await;
    assert_eq!(view["status"], "active");
    assert!(view.get("pending_replacement").is_none(), "{view}");
    // Its enrolment and its free package are untouched.
    assert_eq!(
        enrolment_status(&app, &key, &old.enrolment).await,
        "certificate_issued"
    );
    let (status, body) = renew(&app, &key, &old.serial, "PS0").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("free_package_already_used"))
    );

    // A renewal whose certificate is not accepted before the deadline.
    let (status, renewal) = renew(&app, &key, &old.serial, "PS12").await;
    assert_eq!(status, 201, "{renewal}");
    let enrolment = renewal["enrolment_id"].as_str().unwrap().to_string();
    sign_with_sms_code(&app, &key, renewal["contract"]["id"].as_str().unwrap()).await;
    let late = issue(&app, &key, &enrolment, &files).await;
    app.clock.advance(Duration::days(8));
    let run = app.state.acceptance.run_deadline().await.unwrap();
    assert_eq!(run.revoked, vec![late.serial.clone()]);
    assert_eq!(enrolment_status(&app, &key, &enrolment).await, "expired");
    let view = certificate(&app, &key, &old.serial).await;
    assert_eq!(view["status"], "active", "{view}");
    assert!(view.get("pending_replacement").is_none(), "{view}");
    assert_eq!(ocsp(&app, &old.leaf).0, "good");

    // The old one may still be replaced.
    let (status, body) = rekey(&app, &key, &old.serial, &p256()).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_is_not_accepted_while_the_certificate_it_replaces_is_suspended() {
    let mut app = TestApp::spawn().await;
    let key = app_key(&mut app, &["enrol", "lifecycle"]).await;
    let officer = staff(&mut app, "ra.officer", "ra_officer").await;
    let files = Files::new();
    let old = active(&app, &key, 5, &files).await;
    let (status, issued) = rekey(&app, &key, &old.serial, &p256()).await;
    assert_eq!(status, 201, "{issued}");
    let new = Cert::from(&issued, p256(), &files);

    let action = |a: &str| format!("/api/v1/certificates/{}/{a}", old.serial);
    let (status, body) = app
        .post(
            &action("suspend"),
            Some(&officer),
            json!({"note": "gọi tổng đài"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = accept(&app, &key, &new.serial).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "replaced_certificate_suspended");
    assert_eq!(
        notices(&app, "certificate_renewed"),
        0,
        "refused in its transaction"
    );
    assert_eq!(
        certificate(&app, &key, &new.serial).await["status"],
        "pending_acceptance"
    );

    let (status, body) = app.post(&action("resume"), Some(&officer), json!({})).await;
    assert_eq!(status, 200, "{body}");
    app.clock.advance(Duration::seconds(120));
    let (status, body) = accept(&app, &key, &new.serial).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        certificate(&app, &key, &old.serial).await["revocation_reason"],
        "superseded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_ra_officer_or_a_lifecycle_key_may_renew_or_rekey_and_only_an_active_certificate() {
    let mut app = TestApp::spawn().await;
    let key = app_key(&mut app, &["enrol", "lifecycle"]).await;
    let enrol_only = app_key(&mut app, &["enrol"]).await;
    let lifecycle_only = app_key(&mut app, &["lifecycle"]).await;
    let operator = staff(&mut app, "desk.op", "operator").await;
    let auditor = staff(&mut app, "auditor", "auditor").await;
    let officer = staff(&mut app, "ra.officer", "ra_officer").await;
    let files = Files::new();
    let old = active(&app, &key, 6, &files).await;

    for token in [&enrol_only, &operator, &auditor] {
        let (status, body) = renew(&app, token, &old.serial, "PS12").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("forbidden")),
            "{body}"
        );
        let (status, body) = rekey(&app, token, &old.serial, &p256()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("forbidden")),
            "{body}"
        );
    }

    // An RA officer opens a renewal; withdrawing its enrolment abandons it.
    let (status, renewal) = renew(&app, &officer, &old.serial, "PS12").await;
    assert_eq!(status, 201, "{renewal}");
    let enrolment = renewal["enrolment_id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/withdraw"),
            Some(&key),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // A lifecycle key rekeys.
    let (status, body) = rekey(&app, &lifecycle_only, &old.serial, &p256()).await;
    assert_eq!(status, 201, "{body}");

    // Only an active certificate: not one awaiting acceptance, suspended or revoked.
    let pending = issue(&app, &key, &contracted(&app, &key, 7).await, &files).await;
    let (status, body) = renew(&app, &officer, &pending.serial, "PS12").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("certificate_not_renewable"))
    );
    let other = active(&app, &key, 8, &files).await;
    let path = |a: &str| format!("/api/v1/certificates/{}/{a}", other.serial);
    let (status, _) = app.post(&path("suspend"), Some(&officer), json!({})).await;
    assert_eq!(status, 200);
    let (status, body) = rekey(&app, &officer, &other.serial, &p256()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("certificate_not_renewable"))
    );
    assert!(
        body["message_vi"].as_str().unwrap().contains("khôi phục"),
        "{body}"
    );
    let (status, _) = app
        .post(
            &path("revoke"),
            Some(&officer),
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = renew(&app, &officer, &other.serial, "PS12").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("certificate_not_renewable"))
    );
    let (status, body) = renew(&app, &officer, "00deadbeef", "PS12").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("certificate_not_found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_reminds_once_at_30_and_7_days_then_marks_the_certificate_expired() {
    // Three subscribers share one test phone: more codes per hour than the default cap.
    let mut app =
        TestApp::spawn_with(common::TestEnv::new(), |c| c.otp.max_sends_per_hour = 20).await;
    let key = app_key(&mut app, &["enrol", "lifecycle"]).await;
    let officer = staff(&mut app, "ra.officer", "ra_officer").await;
    let files = Files::new();
    let cert = active(&app, &key, 9, &files).await;
    let held = active(&app, &key, 10, &files).await;
    let revoked = active(&app, &key, 11, &files).await;
    let (status, _) = app
        .post(
            &format!("/api/v1/certificates/{}/suspend", held.serial),
            Some(&officer),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post(
            &format!("/api/v1/certificates/{}/revoke", revoked.serial),
            Some(&officer),
            json!({"reason": "affiliationChanged"}),
        )
        .await;
    assert_eq!(status, 200);
    let not_after: DateTime<Utc> = cert.not_after.parse().unwrap();
    let move_to = |app: &TestApp, at: DateTime<Utc>| {
        use ca_enrol::clock::Clock;
        app.clock.advance(at - app.clock.now());
    };
    // A second job, as another process sharing the database would run it.
    let store = if app.env.database_url.is_empty() {
        ca_enrol::store::Store::open_sqlite(&app.env.data_dir().join("ca-enrol.db"), 2).unwrap()
    } else {
        ca_enrol::store::Store::open_postgres(&app.env.database_url, 2).unwrap()
    };
    let other = ca_enrol::expiry::Expiry::new(
        store,
        app.state.outbox.clone(),
        app.clock.clone(),
        ca_enrol::expiry::Settings::default(),
    );
    let job = app.state.expiry.clone();
    let reminders = |app: &TestApp, to: &str| {
        let sink = app.state.notifier.memory().unwrap().clone();
        sink.delivered()
            .into_iter()
            .filter(|d| d.to == to)
            .filter(|d| d.text.contains(&cert.serial) || d.subject.contains(&cert.serial))
            .filter(|d| d.text.contains("het han") || d.subject.contains("sắp hết hạn"))
            .map(|d| {
                if d.subject.is_empty() {
                    d.text
                } else {
                    d.subject
                }
            })
            .collect::<Vec<_>>()
    };

    move_to(&app, not_after - Duration::days(31));
    assert_eq!(job.run().await.unwrap(), Default::default());

    // 30 days before: one reminder, however many jobs run.
    move_to(&app, not_after - Duration::days(29) - Duration::hours(12));
    let (a, b) = tokio::join!(job.run(), other.run());
    let mut reminded = a.unwrap().reminded;
    reminded.extend(b.unwrap().reminded);
    assert_eq!(reminded, vec![(cert.serial.clone(), 30)]);
    assert!(job.run().await.unwrap().reminded.is_empty());

    // 7 days before: the second.
    move_to(&app, not_after - Duration::days(6) - Duration::hours(12));
    let (a, b) = tokio::join!(job.run(), other.run());
    let mut reminded = a.unwrap().reminded;
    reminded.extend(b.unwrap().reminded);
    assert_eq!(reminded, vec![(cert.serial.clone(), 7)]);
    assert!(other.run().await.unwrap().reminded.is_empty());

    app.messages_to(EMAIL, 0).await;
    for _ in 0..250 {
        if reminders(&app, PHONE).len() >= 2 && reminders(&app, EMAIL).len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let sms = reminders(&app, PHONE);
    assert_eq!(sms.len(), 2, "{sms:?}");
    // One of each; the dispatcher may deliver them in either order.
    let count = |texts: &[String], s: &str| texts.iter().filter(|t| t.contains(s)).count();
    assert!(
        count(&sms, "con 30 ngay") == 1 && count(&sms, "con 7 ngay") == 1,
        "{sms:?}"
    );
    let mail = reminders(&app, EMAIL);
    assert_eq!(mail.len(), 2, "{mail:?}");
    assert!(
        count(&mail, "còn 30 ngày") == 1 && count(&mail, "còn 7 ngày") == 1,
        "{mail:?}"
    );

    // Past notAfter: active and suspended certificates expire, revoked ones stay revoked.
    let last: DateTime<Utc> = revoked.not_after.parse().unwrap();
    move_to(&app, last + Duration::hours(1));
    let (a, b) = tokio::join!(job.run(), other.run());
    let mut expired = a.unwrap().expired;
    expired.extend(b.unwrap().expired);
    expired.sort();
    let mut expected = vec![cert.serial.clone(), held.serial.clone()];
    expected.sort();
    assert_eq!(expired, expected);
    assert_eq!(job.run().await.unwrap(), Default::default());
    assert_eq!(
        certificate(&app, &key, &cert.serial).await["status"],
        "expired"
    );
    assert_eq!(
        certificate(&app, &key, &held.serial).await["status"],
        "expired"
    );
    assert_eq!(
        certificate(&app, &key, &revoked.serial).await["status"],
        "revoked"
    );
    let events = audit_actions(&mut app, "certificate.expired").await;
    assert_eq!(events.len(), 2);

    // OCSP in RFC 6960's sense: not revoked is good, a hold or revocation stays; the CRL
    // agrees.
    assert_eq!(ocsp(&app, &cert.leaf).0, "good");
    let (status, text) = ocsp(&app, &held.leaf);
    assert!(
        status == "revoked" && text.contains("certificateHold"),
        "{text}"
    );
    crl_lists(&app, &cert.serial, false).await;
    crl_lists(&app, &held.serial, true).await;
    crl_lists(&app, &revoked.serial, true).await;

    // An expired certificate is neither renewed nor rekeyed.
    let (status, body) = renew(&app, &key, &cert.serial, "PS12").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("certificate_not_renewable"))
    );
}
