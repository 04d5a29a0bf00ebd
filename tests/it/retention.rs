//! Data minimisation (#14 point 11): identity documents destroyed with their data keys after
//! the retention period, OTP challenges, delivered messages and idempotency records purged,
//! each destruction audited, and the audit chain still verifying; per-document data keys
//! (deleting a key destroys its document) and signature images sealed at rest.

use chrono::Duration;
use serde_json::{json, Value};

use crate::common::certificates::{accept, csr_pem, Citizen};
use crate::common::contract::sign_with_sms_code_to;
use crate::common::enrol::{audit_actions, count, enrol, enrol_key, jpeg, stored, upload_all};
use crate::common::{Credentials, TestApp, TestEnv};
use ca_enrol::enrolment::Route;

/// An app whose eKYC applications are verified by their documents (no video call), so a
/// test reaches acceptance with the four documents stored.
async fn spawn() -> TestApp {
    TestApp::spawn_with(TestEnv::new(), |c| {
        c.enrolment.routing.app_ekyc = Route::Verified;
    })
    .await
}

fn ekyc(citizen: &Citizen) -> Value {
    let mut body = citizen.application();
    body["source"] = json!("app_ekyc");
    body
}

/// Intake with the four documents, PS0 contract signed, certificate issued and accepted.
/// Returns (enrolment id, contract id).
async fn accepted_with_documents(app: &TestApp, key: &str, citizen: &Citizen) -> (String, String) {
    let enrolment = enrol(app, key, &ekyc(citizen)).await;
    let view = upload_all(app, key, &enrolment).await;
    assert_eq!(view["enrolment"]["status"], "verified", "{view}");
    let (status, contract) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/contract"),
            Some(key),
            json!({"package_code": "PS0"}),
        )
        .await;
    assert_eq!(status, 201, "{contract}");
    let contract = contract["id"].as_str().unwrap().to_string();
    sign_with_sms_code_to(app, key, &contract, &citizen.phone_e164()).await;
    let (status, cert) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/certificate"),
            Some(key),
            json!({ "csr": csr_pem() }),
        )
        .await;
    assert_eq!(status, 201, "{cert}");
    accept(app, key, citizen, cert["serial"].as_str().unwrap()).await;
    (enrolment, contract)
}

/// (status, body) of an operator's read of one document.
async fn read(app: &TestApp, op: &mut Credentials, enrolment: &str, kind: &str) -> (u16, Vec<u8>) {
    let token = app.session(op).await;
    let resp = app
        .http
        .get(app.url(&format!("/api/v1/enrolments/{enrolment}/documents/{kind}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

fn code_of(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body).unwrap()["code"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Waits until the dispatcher has delivered every queued message, so each `sent_at` is
/// before the clock moves on.
async fn outbox_delivered(app: &TestApp) {
    let pending = "SELECT COUNT(*) AS n FROM outbox_messages WHERE status <> 'sent'";
    for _ in 0..500 {
        if count(&app.env, pending) == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the outbox was not delivered");
}

fn documents_of(enrolment: &str) -> String {
    format!("SELECT COUNT(*) AS n FROM enrolment_documents WHERE enrolment_id = '{enrolment}'")
}

fn document_keys_of(enrolment: &str) -> String {
    format!(
        "SELECT COUNT(*) AS n FROM data_keys k JOIN enrolment_documents d ON d.key_id = k.id \
         WHERE d.enrolment_id = '{enrolment}' AND k.purpose = 'document'"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn past_retention_documents_keys_and_old_rows_are_gone_audited_and_the_chain_verifies() {
    let mut app = spawn().await;
    let key = enrol_key(&mut app).await;
    let admin = app.admin_token().await;
    // No video call (see `spawn`): an RA officer reviews the dossier.
    let mut op = app.create_operator(&admin, "ra.one", "ra_officer").await;
    let citizen = Citizen::new(1, ("Phường Cửa Nam", "Thành phố Hà Nội"));
    let (done, contract) = accepted_with_documents(&app, &key, &citizen).await;
    // Another applicant's documents, not yet decided: kept whatever their age.
    let waiting = enrol(
        &app,
        &key,
        &ekyc(&Citizen::new(2, ("Phường Cửa Nam", "Thành phố Hà Nội"))),
    )
    .await;
    upload_all(&app, &key, &waiting).await;
    outbox_delivered(&app).await;

    assert_eq!(count(&app.env, &documents_of(&done)), 4);
    assert_eq!(count(&app.env, &document_keys_of(&done)), 4, "one key each");
    let (status, body) = read(&app, &mut op, &done, "portrait").await;
    assert_eq!((status, body), (200, stored(&jpeg("portrait"))));
    for table in ["otp_challenges", "idempotency_keys"] {
        let n = count(&app.env, &format!("SELECT COUNT(*) AS n FROM {table}"));
        assert!(n > 0, "{table}");
    }
    let sent = "SELECT COUNT(*) AS n FROM outbox_messages WHERE status = 'sent'";
    assert!(count(&app.env, sent) > 0);

    // Day 29 after the acceptance: the documents are kept (30 days); delivered messages
    // and idempotency records (7 days) go, OTP challenges (30 days) stay.
    app.clock.advance(Duration::days(29));
    let run = app.state.retention.run().await.unwrap();
    assert!(run.documents_destroyed.is_empty(), "{run:?}");
    assert_eq!(run.otp_challenges, 0);
    assert!(
        run.outbox_messages > 0 && run.idempotency_records > 0,
        "{run:?}"
    );
    assert_eq!(count(&app.env, sent), 0);
    assert_eq!(
        count(&app.env, "SELECT COUNT(*) AS n FROM idempotency_keys"),
        0
    );
    assert_eq!(count(&app.env, &documents_of(&done)), 4);

    // Day 31: the decided enrolment's documents and their keys are destroyed.
    app.clock.advance(Duration::days(2));
    let run = app.state.retention.run().await.unwrap();
    assert_eq!(run.documents_destroyed, vec![done.clone()]);
    assert!(run.otp_challenges > 0, "{run:?}");
    assert_eq!(count(&app.env, &documents_of(&done)), 0);
    assert_eq!(
        count(
            &app.env,
            "SELECT COUNT(*) AS n FROM data_keys WHERE purpose = 'document'"
        ),
        4,
        "only the waiting applicant's keys are left"
    );
    assert_eq!(count(&app.env, &document_keys_of(&waiting)), 4);
    assert_eq!(
        count(&app.env, "SELECT COUNT(*) AS n FROM otp_challenges"),
        0
    );
    // A read says what happened, never a 500; the waiting applicant's documents still open.
    let (status, body) = read(&app, &mut op, &done, "portrait").await;
    assert_eq!(
        (status, code_of(&body).as_str()),
        (404, "document_destroyed")
    );
    let (status, body) = read(&app, &mut op, &waiting, "id_front").await;
    assert_eq!((status, body), (200, stored(&jpeg("id_front"))));
    // The contract keeps its signature image (sealed, under its own key).
    let png = app
        .state
        .contracts
        .signature_png(&contract)
        .await
        .unwrap()
        .expect("signed");
    assert!(png.starts_with(b"\x89PNG"));
    // Stored as nonce, ciphertext and tag under a key of its own, not as the PNG.
    let sealed = format!(
        "SELECT COUNT(*) AS n FROM contracts c JOIN data_keys k ON k.id = c.signature_key_id \
         WHERE c.id = '{contract}' AND k.purpose = 'signature' \
         AND length(c.signature_image) = {}",
        png.len() + 28
    );
    assert_eq!(count(&app.env, &sealed), 1);

    // One event per enrolment, naming each document by kind and digest, never its content.
    let events = audit_actions(&mut app, "enrolment.documents_destroyed").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["object_id"], done.as_str());
    assert_eq!(events[0]["actor"], "system");
    let details: Value = serde_json::from_str(events[0]["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["reason"], "retention");
    assert_eq!(details["data_keys_destroyed"], 4);
    let kinds: Vec<&str> = details["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["id_back", "id_front", "liveness", "portrait"]);
    let portrait_sha = ca_enrol::secrets::sha256_hex(&stored(&jpeg("portrait")));
    assert!(details["documents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["sha256"] == portrait_sha.as_str()));
    assert!(!events[0]["details"].as_str().unwrap().contains("FACE-DATA"));
    let purged: Vec<String> = audit_actions(&mut app, "retention.purged")
        .await
        .iter()
        .map(|e| e["object_id"].as_str().unwrap().to_string())
        .collect();
    for table in ["otp_challenges", "outbox_messages", "idempotency_keys"] {
        assert!(purged.iter().any(|t| t == table), "{table}: {purged:?}");
    }

    // Nothing left to do; the chain still verifies.
    let again = app.state.retention.run().await.unwrap();
    assert!(again.documents_destroyed.is_empty(), "{again:?}");
    let out = app.env.command(&["audit", "verify"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn deleting_a_documents_data_key_destroys_it_and_withdrawal_destroys_keys_too() {
    let mut app = spawn().await;
    let key = enrol_key(&mut app).await;
    let admin = app.admin_token().await;
    // No video call (see `spawn`): an RA officer reviews the dossier.
    let mut op = app.create_operator(&admin, "ra.one", "ra_officer").await;
    let id = enrol(
        &app,
        &key,
        &ekyc(&Citizen::new(3, ("Phường Cửa Nam", "Thành phố Hà Nội"))),
    )
    .await;
    // Replacing a document destroys the replaced one's key: four documents, four keys.
    let (status, body) = crate::common::enrol::put_document(
        &app,
        &key,
        &id,
        "id_front",
        jpeg("replaced"),
        "image/jpeg",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    upload_all(&app, &key, &id).await;
    assert_eq!(count(&app.env, "SELECT COUNT(*) AS n FROM data_keys"), 4);

    // The ciphertext stays, its key goes: the document is unreadable for good.
    app.env.sql(&format!(
        "DELETE FROM data_keys WHERE id = (SELECT key_id FROM enrolment_documents \
         WHERE enrolment_id = '{id}' AND kind = 'portrait')"
    ));
    assert_eq!(count(&app.env, &documents_of(&id)), 4);
    let (status, body) = read(&app, &mut op, &id, "portrait").await;
    assert_eq!(
        (status, code_of(&body).as_str()),
        (404, "document_destroyed")
    );
    let (status, body) = read(&app, &mut op, &id, "liveness").await;
    assert_eq!((status, body), (200, stored(&jpeg("liveness"))));

    let (status, view) = app
        .post(
            &format!("/api/v1/enrolments/{id}/withdraw"),
            Some(&key),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(count(&app.env, &documents_of(&id)), 0);
    assert_eq!(
        count(&app.env, "SELECT COUNT(*) AS n FROM data_keys"),
        0,
        "every document key destroyed with its document"
    );
    assert_eq!(
        count(
            &app.env,
            &format!(
                "SELECT COUNT(*) AS n FROM destroyed_documents \
                 WHERE enrolment_id = '{id}' AND reason = 'withdrawn'"
            )
        ),
        1
    );
    let (status, body) = read(&app, &mut op, &id, "id_front").await;
    assert_eq!(
        (status, code_of(&body).as_str()),
        (404, "document_destroyed")
    );
}

#[tokio::test]
async fn a_document_sealed_before_per_document_keys_still_opens() {
    let mut app = spawn().await;
    let key = enrol_key(&mut app).await;
    let admin = app.admin_token().await;
    // No video call (see `spawn`): an RA officer reviews the dossier.
    let mut op = app.create_operator(&admin, "ra.one", "ra_officer").await;
    let id = enrol(
        &app,
        &key,
        &ekyc(&Citizen::new(4, ("Phường Cửa Nam", "Thành phố Hà Nội"))),
    )
    .await;
    upload_all(&app, &key, &id).await;
    // What an earlier release stored: sealed under the master key's document sub-key, bound
    // to enrolment and kind, no key of its own.
    let master = ca_enrol::secrets::MasterKey::load(&app.env.data_dir().join("master.key"))
        .unwrap()
        .unwrap();
    let old = master
        .seal(
            "documents",
            format!("{id}/portrait").as_bytes(),
            &jpeg("before-keys"),
        )
        .unwrap();
    let literal = if app.env.database_url.is_empty() {
        format!("X'{}'", hex::encode(&old))
    } else {
        format!("'\\x{}'::bytea", hex::encode(&old))
    };
    // Its row named the image's SHA-256, as every row did.
    let sha256 = ca_enrol::secrets::sha256_hex(&jpeg("before-keys"));
    app.env.sql(&format!(
        "UPDATE enrolment_documents \
         SET sealed = {literal}, key_id = NULL, object_key = NULL, sha256 = '{sha256}' \
         WHERE enrolment_id = '{id}' AND kind = 'portrait'"
    ));
    let (status, body) = read(&app, &mut op, &id, "portrait").await;
    assert_eq!((status, body), (200, jpeg("before-keys")));
}

/// Throughput of the purge on a large table, printed rather than asserted (README,
/// "Retention and crypto-shredding"): `RETENTION_ROWS` (default 200,000) OTP challenges a
/// year old, removed in batches of 500.
/// `cargo test --test it retention::purge_throughput -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread")]
#[ignore = "measurement, run by hand"]
async fn purge_throughput() {
    let rows: u64 = std::env::var("RETENTION_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let app = spawn().await;
    let select = "SELECT 'c-' || i, 'contract_signing', 's', 'd', 'sms', 'r', '09******78', \
                  'h', 'consumed', 0, TIMESTAMP '2025-01-01 00:00:00', \
                  TIMESTAMP '2025-01-01 00:05:00', NULL, 'm', ''";
    let columns = "(id, purpose, subject, document_digest, channel, recipient_key, \
                   masked_destination, code_hmac, status, failed_attempts, created_at, \
                   expires_at, consumed_at, outbox_message_id, initiator)";
    if app.env.database_url.is_empty() {
        let select = select.replace("TIMESTAMP ", "");
        app.env.sql(&format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows}) \
             INSERT INTO otp_challenges {columns} {select} FROM s"
        ));
    } else {
        app.env.sql(&format!(
            "INSERT INTO otp_challenges {columns} {select} FROM generate_series(1, {rows}) i"
        ));
    }
    let started = std::time::Instant::now();
    let run = app.state.retention.run().await.unwrap();
    let took = started.elapsed();
    assert_eq!(run.otp_challenges as u64, rows);
    println!(
        "{}: purged {rows} OTP challenges in {:.1} s ({:.0} rows/s, {} transactions)",
        if app.env.database_url.is_empty() {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        took.as_secs_f64(),
        rows as f64 / took.as_secs_f64(),
        rows.div_ceil(500)
    );
}

#[tokio::test]
async fn vneid_jtis_are_purged_once_their_token_can_no_longer_be_replayed() {
    use crate::common::enrol::{application, id_number};
    use crate::common::vneid::{register, registration};
    let mut app = TestApp::spawn().await;
    let jws = registration(&app, &application("vneid", &id_number(1)), "txn-jti");
    let (status, answer) = register(&app, jws.clone()).await;
    assert_eq!(status, 201, "{answer}");
    let jtis = "SELECT COUNT(*) AS n FROM vneid_jtis";
    assert_eq!(count(&app.env, jtis), 1);

    // The token expires 5 minutes after signing; its jti is kept an hour past that.
    app.clock.advance(Duration::minutes(64));
    let run = app.state.retention.run().await.unwrap();
    assert_eq!((run.vneid_jtis, count(&app.env, jtis)), (0, 1));
    app.clock.advance(Duration::minutes(2));
    let run = app.state.retention.run().await.unwrap();
    assert_eq!((run.vneid_jtis, count(&app.env, jtis)), (1, 0));
    let purged: Vec<Value> = audit_actions(&mut app, "retention.purged")
        .await
        .into_iter()
        .filter(|e| e["object_id"] == "vneid_jtis")
        .collect();
    assert_eq!(purged.len(), 1, "{purged:?}");
    let details: Value = serde_json::from_str(purged[0]["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["rows"], 1);
    assert_eq!(details["kept_after_expiry_seconds"], 3600);

    // Without its jti the token is still refused: it expired.
    let (status, answer) = register(&app, jws).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("registration_stale"))
    );
    let out = app.env.command(&["audit", "verify"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn recording_webhook_nonces_are_purged_once_their_age_refuses_a_replay() {
    use ca_enrol::clock::Clock;
    let mut app = TestApp::spawn().await;
    let received = app.clock.now().naive_utc().format("%Y-%m-%d %H:%M:%S");
    app.env.sql(&format!(
        "INSERT INTO recording_webhook_nonces (nonce, received_at) VALUES ('n-1', '{received}')"
    ));
    let nonces = "SELECT COUNT(*) AS n FROM recording_webhook_nonces";
    // A delivery is accepted within 5 minutes of its timestamp; the nonce is kept an hour.
    app.clock.advance(Duration::minutes(59));
    let run = app.state.retention.run().await.unwrap();
    assert_eq!((run.recording_nonces, count(&app.env, nonces)), (0, 1));
    app.clock.advance(Duration::minutes(2));
    // The app's own retention job also runs once at start, on a worker of its own: on a slow
    // machine that run can come after this advance and purge the nonce first. Either way the
    // nonce is gone and its purge is audited exactly once.
    let run = app.state.retention.run().await.unwrap();
    assert!(run.recording_nonces <= 1, "{run:?}");
    assert_eq!(count(&app.env, nonces), 0);
    let purged: Vec<Value> = audit_actions(&mut app, "retention.purged")
        .await
        .into_iter()
        .filter(|e| e["object_id"] == "recording_webhook_nonces")
        .collect();
    assert_eq!(purged.len(), 1, "{purged:?}");
    let details: Value = serde_json::from_str(purged[0]["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["rows"], 1);
    assert_eq!(details["kept_after_receipt_seconds"], 3600);
}
