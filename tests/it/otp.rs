//! One-time passwords: bound to a purpose and a document, delivered through the outbox,
//! expiring, locking, single use, with a resend cooldown and an hourly cap per recipient.
//! Time moves only by the test's clock.

use crate::common;

use ca_enrol::audit::{Actor, NewEvent};
use ca_enrol::clock::Clock;
use ca_enrol::enrolment::identity::{Email, PhoneNumber};
use ca_enrol::notify::Recipient;
use ca_enrol::otp::{
    ChallengeLookup, ChallengeRequest, ChallengeSent, Check, DocumentDigest, OtpError, Purpose,
    VerifiedChallenge,
};
use chrono::Duration;
use common::{TestApp, TestEnv};

const PHONE: &str = "+84912345678";
const CONTRACT: &str = "contract:HD-2026-000123";
const DOCUMENT: &str = "Hợp đồng dịch vụ chứng thư số, bản 1";

fn phone() -> Recipient {
    Recipient::Phone(PhoneNumber::parse("phone", PHONE).unwrap())
}

fn digest(document: &str) -> DocumentDigest {
    DocumentDigest::of(document.as_bytes())
}

async fn issue_to(
    app: &TestApp,
    subject: &str,
    purpose: Purpose,
    document: &str,
    to: Recipient,
) -> Result<ChallengeSent, OtpError> {
    let otp = app.state.otp.clone();
    let now = app.clock.now();
    let request = ChallengeRequest {
        purpose,
        subject: subject.into(),
        document_digest: digest(document),
        recipient: to,
        actor: Actor::System,
    };
    app.state
        .store
        .write(move |tx| otp.issue_challenge(tx, now, request.clone()))
        .await
}

async fn issue(app: &TestApp, subject: &str) -> Result<ChallengeSent, OtpError> {
    issue_to(app, subject, Purpose::ContractSigning, DOCUMENT, phone()).await
}

/// Confirms like a contract-signing call would: the action appends its own event.
async fn confirm_with(
    app: &TestApp,
    lookup: ChallengeLookup,
    purpose: Purpose,
    document: &str,
    code: &str,
) -> Result<VerifiedChallenge, OtpError> {
    let check = Check {
        lookup,
        purpose,
        document_digest: digest(document),
        code: code.into(),
        actor: Actor::System,
    };
    let now = app.clock.now();
    app.state
        .otp
        .confirm(check, move |tx, verified| {
            tx.audit(NewEvent::new(
                now,
                &Actor::System,
                "test.document_confirmed",
                "test_document",
                verified.subject.clone(),
                serde_json::json!({"otp_challenge_id": verified.challenge_id}),
            ))?;
            Ok::<_, OtpError>(verified.clone())
        })
        .await
}

async fn confirm(app: &TestApp, subject: &str, code: &str) -> Result<VerifiedChallenge, OtpError> {
    confirm_with(
        app,
        ChallengeLookup::Subject(subject.into()),
        Purpose::ContractSigning,
        DOCUMENT,
        code,
    )
    .await
}

fn wrong(code: &str) -> String {
    let last = (code.as_bytes()[5] - b'0' + 1) % 10;
    format!("{}{last}", &code[..5])
}

/// The test's clock runs on from real time between two readings: allow that.
fn assert_in_window(d: Duration, seconds: i64) {
    assert!(
        d >= Duration::seconds(seconds) && d < Duration::seconds(seconds + 1),
        "{d:?} is not {seconds} s"
    );
}

fn refusal<T: std::fmt::Debug>(r: Result<T, OtpError>) -> &'static str {
    r.expect_err("expected a refusal").code()
}

#[tokio::test]
async fn a_code_reaches_the_phone_through_the_outbox_at_once_and_confirms_exactly_once() {
    // Polling is off for the length of the test: only the enqueue's wake-up can deliver.
    let app = TestApp::spawn_with(TestEnv::new(), |c| c.outbox.poll_interval_ms = 600_000).await;
    let issued_at = app.clock.now();
    let sent = issue(&app, CONTRACT).await.unwrap();
    assert_eq!(sent.resend_after_seconds, 90);
    assert_in_window(sent.expires_at - issued_at, 300);
    assert_eq!(sent.masked_destination, "+84 9** *** 678");

    let message = app.messages_to(PHONE, 1).await;
    assert_eq!(message.len(), 1, "delivered without waiting for a poll");
    assert!(
        message[0].text.contains("ky hop dong"),
        "{}",
        message[0].text
    );
    assert!(message[0].text.contains("5 phut"), "{}", message[0].text);
    let code = app.nth_otp(PHONE, 1).await;

    let verified = confirm(&app, CONTRACT, &code).await.unwrap();
    assert_eq!(verified.challenge_id, sent.challenge_id);
    assert_eq!(verified.purpose, Purpose::ContractSigning);
    assert_eq!(verified.document_digest, digest(DOCUMENT));
    assert_eq!(verified.masked_destination, "+84 9** *** 678");

    // Replay: the same code, still within its five minutes.
    assert_eq!(
        refusal(confirm(&app, CONTRACT, &code).await),
        "otp_already_used"
    );
    let by_id = confirm_with(
        &app,
        ChallengeLookup::Id(sent.challenge_id.clone()),
        Purpose::ContractSigning,
        DOCUMENT,
        &code,
    )
    .await;
    assert_eq!(refusal(by_id), "otp_already_used");
}

#[tokio::test]
async fn the_code_and_the_message_are_never_stored_in_clear() {
    let app = TestApp::spawn().await;
    let sent = issue(&app, CONTRACT).await.unwrap();
    let code = app.nth_otp(PHONE, 1).await;
    let id = sent.challenge_id.clone();
    let row = app
        .state
        .store
        .read(move |tx| tx.otp_challenge_by_id(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.code_hmac.len(), 64);
    assert!(!row.code_hmac.contains(&code));
    assert!(!row.recipient_key.contains("912345678"));
    let message_id = row.outbox_message_id.clone();
    let mut message = None;
    for _ in 0..250 {
        let id = message_id.clone();
        let m = app
            .state
            .store
            .read(move |tx| tx.outbox_message(&id))
            .await
            .unwrap()
            .unwrap();
        if m.status == "sent" {
            message = Some(m);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let message = message.expect("message sent");
    assert_eq!(message.attempts, 1);
    assert_eq!(message.masked_destination, "+84 9** *** 678");
    // The sealed payload is wiped once sent.
    assert!(message.payload_sealed.is_empty());
}

#[tokio::test]
async fn a_code_expires_after_five_minutes() {
    let app = TestApp::spawn().await;
    let start = std::time::Instant::now();
    issue(&app, "contract:a").await.unwrap();
    issue(&app, "contract:b").await.unwrap();
    let a = app.nth_otp(PHONE, 1).await;
    let b = app.nth_otp(PHONE, 2).await;

    // The test clock is real time plus an offset: the real time these calls took counts
    // against the 299 s, so that `a` is at most 299 s old however slow the machine is.
    let taken = Duration::from_std(start.elapsed()).unwrap();
    app.clock.advance(Duration::seconds(299) - taken);
    confirm(&app, "contract:a", &a).await.unwrap();
    // Back to the full offset plus one second: `b`, made after `start`, is over 300 s old.
    app.clock.advance(Duration::seconds(1) + taken);
    assert_eq!(
        refusal(confirm(&app, "contract:b", &b).await),
        "otp_expired"
    );
}

#[tokio::test]
async fn five_wrong_codes_lock_the_challenge_although_each_attempt_rolled_back() {
    let app = TestApp::spawn().await;
    issue(&app, CONTRACT).await.unwrap();
    let code = app.nth_otp(PHONE, 1).await;
    for left in (1..=4).rev() {
        match confirm(&app, CONTRACT, &wrong(&code)).await {
            Err(OtpError::Invalid { attempts_left }) => assert_eq!(attempts_left, left),
            other => panic!("expected otp_invalid, got {other:?}"),
        }
    }
    assert_eq!(
        refusal(confirm(&app, CONTRACT, "not a code").await),
        "otp_locked"
    );
    // Locked: the right code no longer helps.
    assert_eq!(refusal(confirm(&app, CONTRACT, &code).await), "otp_locked");

    // Every counted attempt is in the audit trail, and the chain holds.
    let store = app.state.store.clone();
    let report = tokio::task::spawn_blocking(move || store.verify_audit_blocking())
        .await
        .unwrap()
        .unwrap();
    assert!(report.fault.is_none(), "{:?}", report.fault);
    let events = app
        .state
        .store
        .read(|tx| tx.audit_events_after(0, 1000))
        .await
        .unwrap();
    let count = |action: &str| events.iter().filter(|e| e.action == action).count();
    assert_eq!(count("otp.code_rejected"), 4);
    assert_eq!(count("otp.locked"), 1);
    assert!(
        events.iter().all(|e| !e.details.contains(&code)),
        "the code reached the audit trail"
    );
}

#[tokio::test]
async fn a_code_confirms_only_its_own_document_and_purpose_and_mismatches_do_not_count() {
    let app = TestApp::spawn().await;
    let sent = issue(&app, CONTRACT).await.unwrap();
    let code = app.nth_otp(PHONE, 1).await;
    for _ in 0..5 {
        let other_document = confirm_with(
            &app,
            ChallengeLookup::Subject(CONTRACT.into()),
            Purpose::ContractSigning,
            "Hợp đồng dịch vụ chứng thư số, bản 2",
            &code,
        )
        .await;
        assert_eq!(refusal(other_document), "otp_wrong_document");
    }
    let other_purpose = confirm_with(
        &app,
        ChallengeLookup::Id(sent.challenge_id.clone()),
        Purpose::CertificateAcceptance,
        DOCUMENT,
        &code,
    )
    .await;
    assert_eq!(refusal(other_purpose), "otp_wrong_purpose");
    let nothing_for_that_purpose = confirm_with(
        &app,
        ChallengeLookup::Subject(CONTRACT.into()),
        Purpose::Revocation,
        DOCUMENT,
        &code,
    )
    .await;
    assert_eq!(refusal(nothing_for_that_purpose), "otp_not_found");
    // None of those counted as an attempt: the right code for the right document works.
    confirm(&app, CONTRACT, &code).await.unwrap();
}

#[tokio::test]
async fn a_new_code_waits_for_the_cooldown_and_replaces_the_old_one() {
    let app = TestApp::spawn().await;
    let first = issue(&app, CONTRACT).await.unwrap();
    let old = app.nth_otp(PHONE, 1).await;

    app.clock.advance(Duration::seconds(30));
    match issue(&app, CONTRACT).await {
        Err(OtpError::ResendTooSoon {
            retry_after_seconds,
        }) => assert_eq!(retry_after_seconds, 60),
        other => panic!("expected otp_resend_too_soon, got {other:?}"),
    }
    app.clock.advance(Duration::seconds(59));
    assert_eq!(refusal(issue(&app, CONTRACT).await), "otp_resend_too_soon");
    app.clock.advance(Duration::seconds(1));
    let second = issue(&app, CONTRACT).await.unwrap();
    assert_ne!(second.challenge_id, first.challenge_id);
    let new = app.nth_otp(PHONE, 2).await;

    let old_by_id = confirm_with(
        &app,
        ChallengeLookup::Id(first.challenge_id.clone()),
        Purpose::ContractSigning,
        DOCUMENT,
        &old,
    )
    .await;
    assert_eq!(refusal(old_by_id), "otp_expired", "replaced codes are dead");
    if old != new {
        assert_eq!(refusal(confirm(&app, CONTRACT, &old).await), "otp_invalid");
    }
    let verified = confirm(&app, CONTRACT, &new).await.unwrap();
    assert_eq!(verified.challenge_id, second.challenge_id);
}

#[tokio::test]
async fn at_most_five_codes_reach_one_recipient_in_an_hour() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        issue(&app, &format!("contract:{i}")).await.unwrap();
        // Delivered before the clock moves on (an undelivered code would expire unsent).
        assert_eq!(app.messages_to(PHONE, i + 1).await.len(), i + 1);
        app.clock.advance(Duration::minutes(1));
    }
    // Sends at minutes 0..4; now minute 5. The first leaves the window at minute 60. The
    // clock runs on from the real time, so a loaded machine may add seconds between sends:
    // the bounds below allow up to a minute of that, and never let the cap open early.
    match issue(&app, "contract:5").await {
        Err(OtpError::RateLimited {
            retry_after_seconds,
        }) => assert!(
            (54 * 60..=55 * 60).contains(&retry_after_seconds),
            "retry after {retry_after_seconds} s"
        ),
        other => panic!("expected otp_rate_limited, got {other:?}"),
    }
    // Another recipient is not affected.
    let email = Recipient::Email(Email::parse("email", "nguyen.van.a@example.vn").unwrap());
    let sent = issue_to(
        &app,
        "contract:5",
        Purpose::ContractSigning,
        DOCUMENT,
        email,
    )
    .await
    .unwrap();
    assert_eq!(sent.masked_destination, "n***@example.vn");

    // Minute 59: still five sends in the last hour.
    app.clock.advance(Duration::minutes(54));
    assert_eq!(refusal(issue(&app, "contract:6").await), "otp_rate_limited");
    // Just past minute 60: the first send has left the window.
    app.clock
        .advance(Duration::minutes(1) + Duration::seconds(1));
    issue(&app, "contract:6").await.unwrap();
    assert_eq!(app.messages_to(PHONE, 6).await.len(), 6);
}

#[tokio::test]
async fn an_e_mail_code_arrives_in_vietnamese_with_its_purpose() {
    let app = TestApp::spawn().await;
    let to = "nguyen.van.a@example.vn";
    let email = Recipient::Email(Email::parse("email", to).unwrap());
    issue_to(
        &app,
        "certificate:1",
        Purpose::CertificateAcceptance,
        DOCUMENT,
        email,
    )
    .await
    .unwrap();
    let m = app.messages_to(to, 1).await.pop().unwrap();
    assert_eq!(
        m.subject,
        "Mã xác thực (OTP) để xác nhận biên bản nghiệm thu chứng thư số"
    );
    assert!(m.text.contains("5 phút"), "{}", m.text);
    let code = app.last_otp(to).await.unwrap();
    confirm_with(
        &app,
        ChallengeLookup::Subject("certificate:1".into()),
        Purpose::CertificateAcceptance,
        DOCUMENT,
        &code,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_code_stays_usable_when_the_confirmed_action_fails() {
    let app = TestApp::spawn().await;
    issue(&app, CONTRACT).await.unwrap();
    let code = app.nth_otp(PHONE, 1).await;
    let check = Check {
        lookup: ChallengeLookup::Subject(CONTRACT.into()),
        purpose: Purpose::ContractSigning,
        document_digest: digest(DOCUMENT),
        code: code.clone(),
        actor: Actor::System,
    };
    let failed: Result<(), OtpError> = app
        .state
        .otp
        .confirm(check, |_, _| {
            Err(OtpError::BadRequest("signature image too large"))
        })
        .await;
    assert_eq!(refusal(failed), "otp_bad_request");
    // Nothing was consumed or counted: the same code confirms the corrected request.
    confirm(&app, CONTRACT, &code).await.unwrap();
}

#[tokio::test]
async fn every_limit_comes_from_configuration() {
    let app = TestApp::spawn_with(TestEnv::new(), |c| {
        c.otp.code_ttl_seconds = 60;
        c.otp.max_attempts = 2;
        c.otp.resend_cooldown_seconds = 10;
        c.otp.max_sends_per_hour = 2;
    })
    .await;
    let now = app.clock.now();
    let sent = issue(&app, "contract:a").await.unwrap();
    assert_eq!(sent.resend_after_seconds, 10);
    assert_in_window(sent.expires_at - now, 60);
    let code = app.nth_otp(PHONE, 1).await;
    assert!(app.messages_to(PHONE, 1).await[0].text.contains("1 phut"));
    match confirm(&app, "contract:a", &wrong(&code)).await {
        Err(OtpError::Invalid { attempts_left }) => assert_eq!(attempts_left, 1),
        other => panic!("expected otp_invalid, got {other:?}"),
    }
    assert_eq!(
        refusal(confirm(&app, "contract:a", &wrong(&code)).await),
        "otp_locked"
    );
    app.clock.advance(Duration::seconds(10));
    issue(&app, "contract:a").await.unwrap();
    assert_eq!(refusal(issue(&app, "contract:b").await), "otp_rate_limited");
    let code = app.nth_otp(PHONE, 2).await;
    app.clock.advance(Duration::seconds(60));
    assert_eq!(
        refusal(confirm(&app, "contract:a", &code).await),
        "otp_expired"
    );
}
