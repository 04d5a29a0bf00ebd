//! Citizen notices (#17): each certificate status change through HTTP leaves its notices in
//! the outbox (one SMS and one e-mail, the enrolment's addresses, the notice's text), written
//! in the change's transaction: a refused or failed change leaves none.

use crate::common;

use common::certificates::{accept, active, issued, Citizen};
use common::enrol::{app_key_with, count, staff};
use common::TestApp;
use serde_json::json;

const EMAIL: &str = "an.nguyen@example.vn";

fn citizen() -> Citizen {
    Citizen::new(1, ("Phường Cửa Nam", "Thành phố Hà Nội"))
}

/// Outbox rows of `kind` on `channel`.
fn rows(app: &TestApp, kind: &str, channel: &str) -> i64 {
    count(
        &app.env,
        &format!(
            "SELECT COUNT(*) AS n FROM outbox_messages \
             WHERE kind = '{kind}' AND channel = '{channel}'"
        ),
    )
}

/// Exactly one SMS and one e-mail of `kind` are in the outbox, and they were delivered to
/// the subscriber's phone and address with these texts. Returns (SMS text, e-mail body).
async fn notified(app: &TestApp, citizen: &Citizen, kind: &str, serial: &str) -> (String, String) {
    assert_eq!(rows(app, kind, "sms"), 1, "{kind} by SMS");
    assert_eq!(rows(app, kind, "email"), 1, "{kind} by e-mail");
    let phone = citizen.phone_e164();
    let (mut sms, mut email) = (None, None);
    // Delivered by the dispatcher after the commit: wait for it (up to 5 s).
    for _ in 0..250 {
        let of_kind =
            |all: Vec<ca_enrol::notify::Delivery>| all.into_iter().find(|d| d.kind == kind);
        sms = of_kind(app.notices_to(&phone, 0).await);
        email = of_kind(app.notices_to(EMAIL, 0).await);
        if sms.is_some() && email.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (sms, email) = (
        sms.expect("SMS delivered"),
        email.expect("e-mail delivered"),
    );
    assert!(
        sms.text.is_ascii() && sms.text.chars().count() <= 160,
        "{}",
        sms.text
    );
    assert!(sms.text.contains(serial), "{}", sms.text);
    assert!(email.subject.contains(serial), "{}", email.subject);
    assert!(email.text.starts_with("Kính gửi"), "{}", email.text);
    (sms.text, email.text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuance_and_acceptance_each_notify_the_subscriber_by_sms_and_e_mail() {
    let mut app = TestApp::spawn().await;
    let key = app_key_with(&mut app, "subscriber app", &["enrol", "lifecycle"]).await;
    let citizen = citizen();
    let (_, serial) = issued(&app, &key, &citizen).await;
    let (sms, email) = notified(&app, &citizen, "certificate_issued", &serial).await;
    assert!(sms.contains("dang cho nghiem thu"), "{sms}");
    assert!(email.contains("đang chờ nghiệm thu"), "{email}");
    assert_eq!(rows(&app, "certificate_active", "sms"), 0);

    accept(&app, &key, &citizen, &serial).await;
    let (sms, email) = notified(&app, &citizen, "certificate_active", &serial).await;
    assert!(sms.contains("da co hieu luc"), "{sms}");
    assert!(email.contains("đã nghiệm thu"), "{email}");
    assert_eq!(rows(&app, "certificate_issued", "sms"), 1, "still one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officers_suspend_resume_and_revoke_each_notify_and_a_refused_change_does_not() {
    let mut app = TestApp::spawn().await;
    let key = app_key_with(&mut app, "subscriber app", &["enrol", "lifecycle"]).await;
    let officer = staff(&mut app, "ra.officer", "ra_officer").await;
    let citizen = citizen();
    let (_, serial) = active(&app, &key, &citizen).await;
    let path = |a: &str| format!("/api/v1/certificates/{serial}/{a}");

    let (status, body) = app.post(&path("suspend"), Some(&officer), json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (sms, email) = notified(&app, &citizen, "certificate_suspended", &serial).await;
    assert!(
        sms.contains("tam dung") && sms.contains("boi nha cung cap"),
        "{sms}"
    );
    assert!(
        email.contains("tạm dừng") && email.contains("bởi nhà cung cấp"),
        "{email}"
    );

    // Refused (already suspended): no second notice.
    let (status, _) = app.post(&path("suspend"), Some(&officer), json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(rows(&app, "certificate_suspended", "sms"), 1);

    let (status, body) = app.post(&path("resume"), Some(&officer), json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (sms, _) = notified(&app, &citizen, "certificate_resumed", &serial).await;
    assert!(sms.contains("khoi phuc"), "{sms}");

    let (status, body) = app
        .post(
            &path("revoke"),
            Some(&officer),
            json!({"reason": "cessationOfOperation"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (sms, email) = notified(&app, &citizen, "certificate_revoked", &serial).await;
    assert!(sms.contains("Ly do: Ngung su dung"), "{sms}");
    assert!(sms.contains("boi nha cung cap"), "{sms}");
    assert!(email.contains("Lý do: Ngừng sử dụng"), "{email}");

    // Revoked is final: the refused revocation adds nothing.
    let (status, _) = app
        .post(
            &path("revoke"),
            Some(&officer),
            json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(rows(&app, "certificate_revoked", "sms"), 1);
    assert_eq!(rows(&app, "certificate_revoked", "email"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribers_own_suspension_and_revocation_say_so_and_the_code_names_the_action() {
    let mut app = TestApp::spawn().await;
    let key = app_key_with(&mut app, "subscriber app", &["enrol", "lifecycle"]).await;
    let citizen = citizen();
    let phone = citizen.phone_e164();
    let (_, serial) = active(&app, &key, &citizen).await;
    let path = |a: &str| format!("/api/v1/certificates/{serial}/{a}");

    let before = app.messages_to(&phone, 0).await.len();
    let (status, sent) = app.post(&path("suspend/otp"), Some(&key), json!({})).await;
    assert_eq!(status, 202, "{sent}");
    let message = app.messages_to(&phone, before + 1).await[before]
        .text
        .clone();
    assert!(message.contains("tam dung chung thu so"), "{message}");
    assert!(!message.contains("thu hoi"), "{message}");
    let code = common::otp_in(&message).unwrap();

    // A wrong code is refused: the change and its notice are not written.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, _) = app
        .post(&path("suspend"), Some(&key), json!({"otp_code": wrong}))
        .await;
    assert_eq!(status / 100, 4);
    assert_eq!(rows(&app, "certificate_suspended", "sms"), 0);

    let (status, body) = app
        .post(&path("suspend"), Some(&key), json!({"otp_code": code}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (sms, email) = notified(&app, &citizen, "certificate_suspended", &serial).await;
    assert!(sms.contains("theo yeu cau cua ban"), "{sms}");
    assert!(email.contains("theo yêu cầu của bạn"), "{email}");

    let before = app.messages_to(&phone, 0).await.len();
    let (status, sent) = app
        .post(
            &path("revoke/otp"),
            Some(&key),
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 202, "{sent}");
    let code = app.nth_otp(&phone, before + 1).await;
    let (status, body) = app
        .post(
            &path("revoke"),
            Some(&key),
            json!({"reason": "keyCompromise", "otp_code": code}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (sms, email) = notified(&app, &citizen, "certificate_revoked", &serial).await;
    assert!(sms.contains("Ly do: Lo khoa bi mat"), "{sms}");
    assert!(sms.contains("theo yeu cau cua ban"), "{sms}");
    assert!(email.contains("Lộ khoá bí mật"), "{email}");
}
