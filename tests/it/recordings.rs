//! The video system's recording webhook (`POST /api/v1/verification/recordings`): a signed,
//! fresh, first delivery attaches the recording to the call by its room, and the operator's
//! outcome then needs no recording of its own; a bad signature, a stale or replayed delivery
//! and an unknown room are refused.

use crate::common;

use common::enrol::*;
use common::{TestApp, TestEnv};
use serde_json::{json, Value};

const SECRET: &str = "the video system's shared secret, 32+ chars";
const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

async fn app() -> (TestApp, String) {
    let mut app = TestApp::spawn_with(TestEnv::new(), |c| {
        c.enrolment.routing.vneid = ca_enrol::enrolment::Route::VideoCall;
        c.verification.recording_webhook_secret = Some(ca_enrol::settings::Secret::new(SECRET));
    })
    .await;
    let key = enrol_key(&mut app).await;
    (app, key)
}

fn signature(secret: &str, at: i64, nonce: &str, body: &[u8]) -> String {
    let mut signed = format!("{at}.{nonce}.").into_bytes();
    signed.extend_from_slice(body);
    let mac = ca_enrol::secrets::hmac_sha256(secret.as_bytes(), &signed);
    format!("sha256={}", hex::encode(mac))
}

/// Sends one delivery: (status, body).
async fn deliver(app: &TestApp, at: i64, nonce: &str, sig: &str, body: &[u8]) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url("/api/v1/verification/recordings"))
        .header("content-type", "application/json")
        .header("x-recording-timestamp", at.to_string())
        .header("x-recording-nonce", nonce)
        .header("x-recording-signature", sig)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    common::checked_parts("post", resp).await
}

fn notice(room: &str) -> Vec<u8> {
    json!({"room_id": room, "uri": "s3://vc-recordings/2026/12/05/room.webm", "sha256": SHA})
        .to_string()
        .into_bytes()
}

/// A claimed call: (operator token, verification id, room).
async fn claimed(app: &mut TestApp, key: &str) -> (String, String, String) {
    enrol(app, key, &application("vneid", &id_number(1))).await;
    let op = staff(app, "vc.one", "operator").await;
    let (status, call) = app
        .post("/api/v1/verification/claim", Some(&op), json!({}))
        .await;
    assert_eq!(status, 200, "{call}");
    let id = call["verification_id"].as_str().unwrap().to_string();
    let room = call["room_ref"].as_str().unwrap().to_string();
    (op, id, room)
}

#[tokio::test]
async fn a_signed_delivery_attaches_the_recording_and_the_outcome_needs_no_hash() {
    let (mut app, key) = app().await;
    let (op, id, room) = claimed(&mut app, &key).await;
    let body = notice(&room);
    let now = app.now();
    let (status, answer) = deliver(
        &app,
        now,
        "n-1",
        &signature(SECRET, now, "n-1", &body),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["verification_id"], id.as_str());
    let events = audit_actions(&mut app, "verification.recording_attached").await;
    assert_eq!(events.len(), 1);
    assert!(events[0]["details"].as_str().unwrap().contains(SHA));

    // The approval without a recording takes the reported one.
    let mut approval = approval();
    approval.as_object_mut().unwrap().remove("recording");
    let (status, body) = app
        .post(
            &format!("/api/v1/verification/{id}/outcome"),
            Some(&op),
            approval,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let stored = count(
        &app.env,
        &format!(
            "SELECT COUNT(*) AS n FROM video_call_outcomes WHERE video_call_id = '{id}' \
             AND recording_sha256 = '{SHA}'"
        ),
    );
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn an_approval_without_a_reported_or_typed_recording_is_still_refused() {
    let (mut app, key) = app().await;
    let (op, id, _) = claimed(&mut app, &key).await;
    let mut approval = approval();
    approval.as_object_mut().unwrap().remove("recording");
    let (status, body) = app
        .post(
            &format!("/api/v1/verification/{id}/outcome"),
            Some(&op),
            approval,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("recording_required"), "{body}");
}

#[tokio::test]
async fn bad_signatures_stale_or_replayed_deliveries_and_unknown_rooms_are_refused() {
    let (mut app, key) = app().await;
    let (_, _, room) = claimed(&mut app, &key).await;
    let body = notice(&room);
    let now = app.now();
    let code = |v: &Value| v["code"].as_str().unwrap_or("").to_string();

    // Another secret, a body changed after signing, no signature at all.
    let wrong = signature(
        "another secret of at least 32 characters",
        now,
        "n-1",
        &body,
    );
    let (status, v) = deliver(&app, now, "n-1", &wrong, &body).await;
    assert_eq!(
        (status, code(&v).as_str()),
        (401, "webhook_signature_invalid")
    );
    let changed = notice("vc-someone-else");
    let good = signature(SECRET, now, "n-1", &body);
    let (status, v) = deliver(&app, now, "n-1", &good, &changed).await;
    assert_eq!(
        (status, code(&v).as_str()),
        (401, "webhook_signature_invalid")
    );
    let (status, v) = deliver(&app, now, "n-1", "", &body).await;
    assert_eq!(
        (status, code(&v).as_str()),
        (401, "webhook_signature_invalid")
    );

    // Correctly signed but from ten minutes ago.
    let old = now - 600;
    let (status, v) = deliver(
        &app,
        old,
        "n-old",
        &signature(SECRET, old, "n-old", &body),
        &body,
    )
    .await;
    assert_eq!(
        (status, code(&v).as_str()),
        (401, "webhook_timestamp_stale")
    );

    // The first delivery is taken, the same one again is a replay.
    let (status, v) = deliver(&app, now, "n-1", &good, &body).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = deliver(&app, now, "n-1", &good, &body).await;
    assert_eq!((status, code(&v).as_str()), (409, "webhook_replayed"));

    // A room no call has.
    let unknown = notice("vc-no-such-room");
    let sig = signature(SECRET, now, "n-2", &unknown);
    let (status, v) = deliver(&app, now, "n-2", &sig, &unknown).await;
    assert_eq!((status, code(&v).as_str()), (404, "room_unknown"));
    let events = audit_actions(&mut app, "verification.recording_attached").await;
    assert_eq!(events.len(), 1, "only the accepted delivery");
}

#[tokio::test]
async fn without_a_secret_the_webhook_is_disabled() {
    let app = TestApp::spawn().await;
    let body = notice("vc-x");
    let now = app.now();
    let (status, v) = deliver(
        &app,
        now,
        "n-1",
        &signature(SECRET, now, "n-1", &body),
        &body,
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("recording_webhook_disabled"))
    );
}
