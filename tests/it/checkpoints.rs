//! Signed checkpoints of the audit chain (#14 point 12): a consistent rewrite of the whole
//! chain (every hash and the head recomputed) passes the chain check but contradicts a
//! checkpoint, which `ca-enrol audit verify` names.

use crate::common;

use ca_enrol::audit::{chain_hash, StoredEvent};
use common::TestApp;
use serde_json::Value;

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

async fn events(app: &TestApp) -> Vec<StoredEvent> {
    app.state
        .store
        .read(|tx| tx.audit_events_after(0, 100_000))
        .await
        .unwrap()
}

/// Rewrites event `seq`'s details and recomputes every hash after it and the head, as
/// someone with write access to the database (but not the sealing key) would.
async fn rewrite_consistently(app: &TestApp, seq: i64, details: &str) {
    let mut prev = None;
    for mut e in events(app).await {
        if e.seq < seq {
            prev = Some(e.hash);
            continue;
        }
        if e.seq == seq {
            e.details = details.to_string();
        }
        let prev_hash = prev.take().unwrap();
        let hash = chain_hash(
            &prev_hash,
            &e.at,
            &e.actor,
            &e.action,
            &e.object_type,
            &e.object_id,
            &e.details,
        );
        app.env.sql(&format!(
            "UPDATE audit_events SET details = {}, prev_hash = {}, hash = {} WHERE seq = {}",
            quoted(&e.details),
            quoted(&prev_hash),
            quoted(&hash),
            e.seq
        ));
        prev = Some(hash);
    }
    app.env.sql(&format!(
        "UPDATE audit_head SET hash = {} WHERE id = 1",
        quoted(&prev.unwrap())
    ));
}

fn audit_verify(app: &TestApp) -> (Option<i32>, String) {
    let out = app.env.command(&["audit", "verify"]).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn a_consistent_rewrite_of_the_chain_contradicts_a_signed_checkpoint() {
    let mut app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_operator(&admin, "officer.giang", "ra_officer")
        .await;
    app.state.checkpoints.make().await.unwrap();
    let checkpoint = app
        .state
        .store
        .read(|tx| tx.latest_audit_checkpoint())
        .await
        .unwrap()
        .unwrap();
    // Nothing new since: no second checkpoint of the same head.
    assert_eq!(app.state.checkpoints.make().await.unwrap(), None);
    // More history after the checkpoint.
    app.create_operator(&admin, "officer.hanh", "operator")
        .await;
    let (code, out) = audit_verify(&app);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("signed checkpoints: "), "{out}");
    let (status, report) = app.get("/api/v1/audit/verify", Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        report["checkpoints_checked"].as_u64().unwrap() >= 1,
        "{report}"
    );
    assert_eq!(report["checkpoint_fault"], Value::Null, "{report}");

    // The export carries what is needed to check the checkpoints without the database.
    let export = app
        .env
        .command(&["audit", "checkpoints", "--export", "-"])
        .output()
        .unwrap();
    assert_eq!(export.status.code(), Some(0));
    let exported: Value = serde_json::from_slice(&export.stdout).unwrap();
    assert!(exported["sealing_certificate"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    let last = exported["checkpoints"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["seq"], checkpoint.seq);
    let signature = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        last["signature"].as_str().unwrap(),
    )
    .unwrap();
    assert!(ca_enrol::ca::verify_signature(
        app.state.ca.sealing.cert_der(),
        last["signed"].as_str().unwrap().as_bytes(),
        &signature
    )
    .unwrap());

    // Make the officer an administrator after the fact, recomputing the whole chain.
    let created = events(&app)
        .await
        .into_iter()
        .find(|e| e.action == "operator.created" && e.details.contains("officer.giang"))
        .unwrap();
    assert!(created.seq <= checkpoint.seq);
    rewrite_consistently(
        &app,
        created.seq,
        &created.details.replace("ra_officer", "admin"),
    )
    .await;
    // The chain alone cannot tell; the checkpoint can, and is named: by the command...
    let (code, out) = audit_verify(&app);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("audit chain intact"), "{out}");
    let named = format!("the checkpoint of event {} made at", checkpoint.seq);
    assert!(out.contains(&named), "{out}");
    assert!(out.contains("contradicts the chain"), "{out}");
    // ...by the API, with the same function...
    let (status, report) = app.get("/api/v1/audit/verify", Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(
        report["fault"],
        Value::Null,
        "the chain itself is consistent: {report}"
    );
    assert_eq!(report["checkpoint_fault"], "chain_differs", "{report}");
    assert_eq!(report["checkpoint_seq"], checkpoint.seq, "{report}");
    assert!(report["checkpoint_at"].is_string(), "{report}");
    assert!(
        report["message"].as_str().unwrap().contains(&named),
        "{report}"
    );
    // ...and on the operator's audit page.
    let auditor = crate::common::web::web_sign_in(&mut app, "auditor").await;
    let page = auditor.get("/audit").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-ok=\"false\""), "{}", page.body);
    let status_line = page.text_of("chain-status").unwrap();
    assert!(
        status_line.contains(&format!("#{}", checkpoint.seq)),
        "{status_line}"
    );
}

#[tokio::test]
async fn an_altered_checkpoint_does_not_verify() {
    let mut app = TestApp::spawn().await;
    app.admin_token().await;
    app.state.checkpoints.make().await.unwrap();
    let checkpoint = app
        .state
        .store
        .read(|tx| tx.latest_audit_checkpoint())
        .await
        .unwrap()
        .unwrap();
    app.env.sql(&format!(
        "UPDATE audit_checkpoints SET hash = {} WHERE seq = {}",
        quoted(&"0".repeat(64)),
        checkpoint.seq
    ));
    let (code, out) = audit_verify(&app);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("has a signature that does not verify"),
        "{out}"
    );
}
