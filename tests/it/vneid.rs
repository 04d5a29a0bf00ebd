//! The VNeID hub connector against the simulated hub (`ca_enrol::vneid::sim`): registrations
//! and every refusal, idempotency by transaction id, the one-time hand-over, and the signed
//! status callbacks through the outbox.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ca_enrol::vneid::sim::{registration_claims, Callback, CallbackReceiver, Hub};
use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::common;
use common::certificates::{active, Citizen};
use common::enrol::{app_integration, application, count, enrol_key, id_number};
use common::vneid::{hand_over, hub, register, registration};
use common::TestApp;

/// The claims of a good registration for `application`, as of the app's clock.
fn claims(app: &TestApp, application: &Value, txn: &str) -> Value {
    registration_claims(application, txn, "ca-enrol", app.now())
}

async fn refused(app: &TestApp, body: impl Into<reqwest::Body>) -> (u16, String) {
    let (status, answer) = register(app, body).await;
    assert!(answer["message_vi"].is_string(), "{answer}");
    (
        status,
        answer["code"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn a_registration_makes_a_verified_enrolment_handed_over_once() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let body = application("vneid", &id_number(1));
    let (status, answer) = register(&app, registration(&app, &body, "txn-1")).await;
    assert_eq!(status, 201, "{answer}");
    let view = &answer["enrolment"];
    assert_eq!(view["status"], "verified");
    assert_eq!(view["verified_by"], "vneid_level2");
    assert_eq!(view["source"], "vneid");
    assert_eq!(view["next_step"], "sign_contract");
    let id = view["id"].as_str().unwrap().to_string();
    let token = answer["handover_token"].as_str().unwrap().to_string();

    // Before the hand-over no integration owns it: the app's key does not reach it.
    let (status, _) = app
        .get(&format!("/api/v1/enrolments/{id}"), Some(&key))
        .await;
    assert_eq!(status, 404);

    // A repeated transaction (the hub retries, signing again) answers the same enrolment with a
    // fresh token; the first one no longer redeems.
    let (status, again) = register(&app, registration(&app, &body, "txn-1")).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["enrolment"]["id"], json!(id));
    let fresh = again["handover_token"].as_str().unwrap().to_string();
    assert_ne!(fresh, token);
    assert_eq!(count(&app.env, "SELECT COUNT(*) AS n FROM enrolments"), 1);
    let (status, stale) = hand_over(&app, &key, &token).await;
    assert_eq!(
        (status, stale["code"].as_str()),
        (404, Some("handover_token_invalid"))
    );

    let (status, handed) = hand_over(&app, &key, &fresh).await;
    assert_eq!(status, 200, "{handed}");
    assert_eq!(handed["id"], json!(id));
    let (status, got) = app
        .get(&format!("/api/v1/enrolments/{id}"), Some(&key))
        .await;
    assert_eq!((status, &got["status"]), (200, &json!("verified")));
    // Once.
    let (status, used) = hand_over(&app, &key, &fresh).await;
    assert_eq!(
        (status, used["code"].as_str()),
        (409, Some("handover_token_used"))
    );
    // After the hand-over a repeat still answers the enrolment, without a token.
    let (status, late) = register(&app, registration(&app, &body, "txn-1")).await;
    assert_eq!(status, 201, "{late}");
    assert_eq!(late["enrolment"]["id"], json!(id));
    assert_eq!(late["handover_token"], Value::Null);

    // The same transaction id with other data is refused.
    let mut other = body.clone();
    other["identity"]["full_name"] = json!("Trần Thị Bình");
    let (status, code) = refused(&app, registration(&app, &other, "txn-1")).await;
    assert_eq!((status, code.as_str()), (409, "vneid_transaction_reused"));

    // The trail names the hub, the transaction and the integration it went to.
    let integration = app_integration(&mut app).await;
    let store = app.state.store.clone();
    let events = store
        .read(|tx| tx.audit_events_after(0, 1000))
        .await
        .unwrap();
    let actions: Vec<_> = events
        .iter()
        .filter(|e| e.object_id == id)
        .map(|e| (e.actor.clone(), e.action.clone()))
        .collect();
    assert!(
        actions.contains(&("vneid_hub".into(), "enrolment.submitted".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("vneid_hub".into(), "vneid.registered".into())),
        "{actions:?}"
    );
    let handed = events
        .iter()
        .find(|e| e.action == "vneid.handed_over")
        .unwrap();
    assert!(handed.details.contains(&integration), "{}", handed.details);
}

#[tokio::test]
async fn registrations_are_refused_with_a_clear_code_for_each_fault() {
    let app = TestApp::spawn().await;
    let body = application("vneid", &id_number(2));
    let good = claims(&app, &body, "txn-2");

    // A bad signature: the payload changed after signing.
    let jws = hub().sign(&good).unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    let mut changed = good.clone();
    changed["identity"]["full_name"] = json!("Kẻ Mạo Danh");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(changed.to_string()),
        parts[2]
    );
    assert_eq!(
        refused(&app, forged).await,
        (400, "jws_signature_invalid".into())
    );
    assert_eq!(refused(&app, "x").await, (400, "jws_malformed".into()));

    // Another CA's hub; an expired certificate of our hub's CA.
    let now = Utc::now();
    let stranger = Hub::generate((now - Duration::days(1), now + Duration::days(30))).unwrap();
    assert_eq!(
        refused(&app, stranger.sign(&good).unwrap()).await,
        (403, "hub_certificate_untrusted".into())
    );
    let expired = hub()
        .reissued((now - Duration::days(30), now - Duration::days(1)))
        .unwrap();
    assert_eq!(
        refused(&app, expired.sign(&good).unwrap()).await,
        (403, "hub_certificate_expired".into())
    );

    // Stale: signed ten minutes ago (the default skew is five).
    let mut stale = good.clone();
    stale["iat"] = json!(app.now() - 600);
    assert_eq!(
        refused(&app, hub().sign(&stale).unwrap()).await,
        (400, "registration_stale".into())
    );

    // Another provider; assurance level 1.
    let mut other = good.clone();
    other["provider_id"] = json!("another-ca");
    assert_eq!(
        refused(&app, hub().sign(&other).unwrap()).await,
        (422, "provider_mismatch".into())
    );
    let mut level1 = good.clone();
    level1["assurance_level"] = json!(1);
    assert_eq!(
        refused(&app, hub().sign(&level1).unwrap()).await,
        (403, "assurance_level_insufficient".into())
    );

    // Malformed fields: the intake's field errors, in both languages.
    let mut bad_fields = body.clone();
    bad_fields["identity"]["id_number"] = json!("12345");
    bad_fields["identity"]["date_of_birth"] = json!("17/05/1990");
    let (status, answer) = register(&app, registration(&app, &bad_fields, "txn-3")).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("validation_failed")),
        "{answer}"
    );
    let fields: Vec<_> = answer["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(
                e["message_vi"].is_string() && e["message"].is_string(),
                "{e}"
            );
            e["field"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(
        fields.contains(&"identity.id_number".to_string()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"identity.date_of_birth".to_string()),
        "{fields:?}"
    );

    // Oversized: past `vneid.max_body_bytes` (64 KiB) before any parsing.
    let huge = "a".repeat(70 * 1024);
    assert_eq!(
        refused(&app, huge).await,
        (413, "registration_too_large".into())
    );

    // None of these made anything.
    assert_eq!(count(&app.env, "SELECT COUNT(*) AS n FROM enrolments"), 0);

    // The good one passes, once: the same token again is a replay.
    let jws = hub().sign(&good).unwrap();
    let (status, answer) = register(&app, jws.clone()).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        refused(&app, jws).await,
        (409, "registration_replayed".into())
    );
    assert_eq!(count(&app.env, "SELECT COUNT(*) AS n FROM enrolments"), 1);
}

#[tokio::test]
async fn the_connector_is_off_without_a_trust_anchor() {
    let mut app = TestApp::spawn_with(common::TestEnv::new(), |c| {
        c.vneid.trust_anchor_file = Default::default();
    })
    .await;
    let key = enrol_key(&mut app).await;
    let body = application("vneid", &id_number(3));
    let (status, code) = refused(&app, registration(&app, &body, "txn-off")).await;
    assert_eq!((status, code.as_str()), (404, "vneid_not_configured"));
    let (status, answer) = hand_over(&app, &key, "vho_x").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (404, Some("vneid_not_configured"))
    );
}

/// A receiver trusting the provider's root in `env`.
async fn receiver_for(env: &common::TestEnv) -> CallbackReceiver {
    let root = std::fs::read(env.ca_root().join("root.pem")).unwrap();
    CallbackReceiver::start("127.0.0.1:0", openssl::x509::X509::from_pem(&root).unwrap())
        .await
        .unwrap()
}

/// Waits (up to 30 s) until the receiver holds `n` verified callbacks; returns its snapshot.
async fn callbacks(
    receiver: &CallbackReceiver,
    n: usize,
) -> (Vec<Option<String>>, Vec<Callback>, Vec<String>) {
    for _ in 0..300 {
        let snapshot = receiver.snapshot();
        if snapshot.1.len() >= n {
            return snapshot;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    receiver.snapshot()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hub_hears_of_an_active_certificate_in_a_callback_it_can_verify() {
    let env = common::TestEnv::new();
    let receiver = receiver_for(&env).await;
    let url = receiver.url();
    let mut app = TestApp::spawn_with(env, |c| {
        c.vneid.callback_url = url;
        c.outbox.poll_interval_ms = 100;
    })
    .await;
    let key = enrol_key(&mut app).await;
    let citizen = Citizen::new(5, ("Phường Cửa Nam", "Thành phố Hà Nội"));
    let (enrolment, serial) = active(&app, &key, &citizen).await;

    let (attempts, got, refused) = callbacks(&receiver, 1).await;
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(got.len(), 1, "{attempts:?}");
    let claims = &got[0].claims;
    assert_eq!(claims["status"], "active");
    assert_eq!(claims["enrolment_id"], json!(enrolment));
    assert_eq!(claims["certificate_serial"], json!(serial));
    assert_eq!(claims["iss"], "ca-enrol");
    assert_eq!(claims["jti"], json!(got[0].idempotency_key));
    let txn: String = app
        .state
        .store
        .read(move |tx| tx.vneid_registration_by_enrolment(&enrolment))
        .await
        .unwrap()
        .unwrap()
        .transaction_id;
    assert_eq!(claims["transaction_id"], json!(txn));

    // Delivery is audited (once the dispatcher has recorded the hub's answer), and the
    // acceptance that caused it names the message.
    let sent = format!(
        "SELECT COUNT(*) AS n FROM outbox_messages WHERE id = '{}' AND status = 'sent'",
        got[0].idempotency_key
    );
    for _ in 0..300 {
        if count(&app.env, &sent) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let events = app
        .state
        .store
        .read(|tx| tx.audit_events_after(0, 10_000))
        .await
        .unwrap();
    let accepted = events
        .iter()
        .find(|e| e.action == "certificate.accepted")
        .unwrap();
    assert!(accepted.details.contains(&got[0].idempotency_key));
    assert!(events
        .iter()
        .any(|e| e.action == "outbox.sent" && e.object_id == got[0].idempotency_key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_callback_survives_a_failing_hub_and_a_restart_and_arrives_once() {
    let env = common::TestEnv::new();
    let receiver = receiver_for(&env).await;
    receiver.fail_next(1);
    let url = receiver.url();
    let vars = [
        ("CA_ENROL_VNEID__CALLBACK_URL", url.as_str()),
        ("CA_ENROL_OUTBOX__POLL_INTERVAL_MS", "100"),
    ];
    let first = common::ServeProcess::start_with(&env, &vars);
    common::wait_ready(&first.base).await;
    let out = env
        .command(&["api-key", "create", "--name", "app", "--scopes", "enrol"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let http = reqwest::Client::new();

    // Registered by the hub, handed over, withdrawn: the hub's callback is queued.
    let claims = registration_claims(
        &application("vneid", &id_number(6)),
        "txn-restart",
        "ca-enrol",
        Utc::now().timestamp(),
    );
    let resp = http
        .post(format!("{}/api/v1/vneid/registrations", first.base))
        .header("Content-Type", "application/jose")
        .body(hub().sign(&claims).unwrap())
        .send()
        .await
        .unwrap();
    let (status, answer) = common::into_parts(resp).await;
    assert_eq!(status, 201, "{answer}");
    let id = answer["enrolment"]["id"].as_str().unwrap().to_string();
    for (path, body) in [
        (
            "/api/v1/vneid/handover".to_string(),
            json!({"token": answer["handover_token"]}),
        ),
        (format!("/api/v1/enrolments/{id}/withdraw"), json!({})),
    ] {
        let resp = http
            .post(format!("{}{path}", first.base))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, answer) = common::into_parts(resp).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }

    // The hub answers 500; once the retry is recorded (due 5 s later), the process stops.
    let retrying = "SELECT COUNT(*) AS n FROM outbox_messages WHERE channel = 'vneid_hub' \
                    AND status = 'pending' AND attempts = 1 AND claim_token IS NULL";
    for _ in 0..300 {
        if count(&env, retrying) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(first);
    assert_eq!(count(&env, retrying), 1);
    let (attempts, got, _) = receiver.snapshot();
    assert_eq!((attempts.len(), got.len()), (1, 0), "{attempts:?}");

    // The next process delivers it.
    let second = common::ServeProcess::start_with(&env, &vars);
    let (attempts, got, refused) = callbacks(&receiver, 1).await;
    // It records the hub's answer before it stops.
    let sent = "SELECT COUNT(*) AS n FROM outbox_messages WHERE channel = 'vneid_hub' \
                AND status = 'sent' AND attempts = 2";
    for _ in 0..300 {
        if count(&env, sent) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(second);
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(got.len(), 1, "{attempts:?}");
    assert_eq!(got[0].claims["status"], "withdrawn");
    assert_eq!(got[0].claims["enrolment_id"], json!(id));
    // Every POST carried the one key: the hub records the callback once.
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(attempts
        .iter()
        .all(|k| k.as_deref() == Some(got[0].idempotency_key.as_str())));
    assert_eq!(count(&env, sent), 1);
}

#[tokio::test]
async fn the_vneid_sim_command_makes_a_hub_whose_registrations_are_accepted() {
    let env = common::TestEnv::new();
    let hub_dir = env.dir.path().join("vneid-sim");
    let run = |args: &[&str]| {
        let out = env.command(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let printed = run(&["vneid-sim", "init", "--dir", hub_dir.to_str().unwrap()]);
    assert!(printed.contains("hub-ca.pem"), "{printed}");
    let citizen = env.dir.path().join("citizen.json");
    std::fs::write(&citizen, application("vneid", &id_number(8)).to_string()).unwrap();
    let jws = run(&[
        "vneid-sim",
        "sign",
        "--dir",
        hub_dir.to_str().unwrap(),
        "--application",
        citizen.to_str().unwrap(),
        "--transaction-id",
        "txn-cli",
    ]);
    let anchor = hub_dir.join("hub-ca.pem");
    let app = TestApp::spawn_with(env, |c| c.vneid.trust_anchor_file = anchor).await;
    let (status, answer) = register(&app, jws.trim().to_string()).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["enrolment"]["status"], "verified");
    // The tests' own hub is not this one.
    let (status, code) = refused(
        &app,
        registration(&app, &application("vneid", &id_number(9)), "t"),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "hub_certificate_untrusted"));
}
