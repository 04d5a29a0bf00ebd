//! The citizen's documents are rendered and sealed before their write transactions (#18): the
//! draft contract, the signed contract and the accepted acceptance record. Each is taken in
//! its two steps (prepare, then commit) with a change made in between, as a concurrent
//! request would: what is stored is what the transaction's own rows give, never a stale
//! document, and a refused commit stores nothing and consumes no code.

use crate::common;

use ca_enrol::acceptance::{AcceptRequest, AcceptanceError, PDF_ACCEPTED};
use ca_enrol::audit::Actor;
use ca_enrol::contract::{ContractError, SignRequest, PDF_DRAFT, PDF_SIGNED};
use ca_enrol::otp::OtpError;
use common::certificates::csr_pem;
use common::contract::{png, send_otp, sign, signature, PHONE};
use common::enrol::{application, audit_actions, count, enrol, enrol_key, id_number};
use common::TestApp;
use serde_json::{json, Value};

fn actor() -> Actor {
    Actor::System
}

/// A verified (VNeID) enrolment for ID number `n`.
async fn verified(app: &TestApp, key: &str, n: u32) -> String {
    enrol(app, key, &application("vneid", &id_number(n))).await
}

/// A draft contract for a new verified enrolment, through the API; returns its id.
async fn draft(app: &TestApp, key: &str, n: u32, package: &str) -> String {
    let enrolment = verified(app, key, n).await;
    let (status, contract) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/contract"),
            Some(key),
            json!({ "package_code": package }),
        )
        .await;
    assert_eq!(status, 201, "{contract}");
    contract["id"].as_str().unwrap().to_string()
}

/// Sends the signing code; returns (challenge id, code).
async fn contract_code(app: &TestApp, key: &str, contract: &str) -> (String, String) {
    let before = app.messages_to(PHONE, 0).await.len();
    let (status, sent) = send_otp(app, key, contract).await;
    assert_eq!(status, 201, "{sent}");
    let code = app.nth_otp(PHONE, before + 1).await;
    (sent["challenge_id"].as_str().unwrap().to_string(), code)
}

fn sign_request(challenge: &str, code: &str) -> SignRequest {
    SignRequest {
        agree: true,
        signature_png: png(600, 200),
        otp_code: code.to_string(),
        challenge_id: Some(challenge.to_string()),
        client_ip: Some("203.0.113.7".into()),
        user_agent: Some("SmartCA/5.2".into()),
    }
}

/// The details of the one audit event `action` about `object_id`.
async fn event_about(app: &mut TestApp, action: &str, object_id: &str) -> Value {
    let events: Vec<Value> = audit_actions(app, action)
        .await
        .into_iter()
        .filter(|e| e["object_id"] == object_id)
        .collect();
    assert_eq!(events.len(), 1, "{action} about {object_id}: {events:?}");
    details(&events[0])
}

fn details(event: &Value) -> Value {
    serde_json::from_str(event["details"].as_str().unwrap()).unwrap()
}

fn rename_package(app: &TestApp, code: &str) {
    app.env.sql(&format!(
        "UPDATE packages SET name = 'Gói đổi tên trong lúc soạn' WHERE code = '{code}'"
    ));
}

#[tokio::test]
async fn a_draft_is_stored_as_rendered_rendered_again_if_it_changed_and_a_refusal_voids_its_number()
{
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let contracts = app.state.contracts.clone();

    // Unchanged: the bytes made before the transaction are the ones stored, with the number
    // reserved for them.
    let first = verified(&app, &key, 1).await;
    let prepared = contracts
        .prepare_draft(&actor(), &first, "PS0")
        .await
        .unwrap();
    let (number, made) = (prepared.number().to_string(), prepared.rendered_sha256());
    let contract = contracts.commit_draft(prepared).await.unwrap();
    assert_eq!(contract.number, number);
    assert_eq!(
        contracts.pdf(&contract.id, PDF_DRAFT).await.unwrap().sha256,
        made
    );
    let reserved = event_about(&mut app, "contract.number_reserved", &contract.id).await;
    assert_eq!(reserved["number"], number);

    // The package's name changed while the draft was rendered: rendered again in the
    // transaction, so the stored draft shows what the rows say.
    let second = verified(&app, &key, 2).await;
    let prepared = contracts
        .prepare_draft(&actor(), &second, "PS12")
        .await
        .unwrap();
    let made = prepared.rendered_sha256();
    rename_package(&app, "PS12");
    let contract = contracts.commit_draft(prepared).await.unwrap();
    let stored = contracts.pdf(&contract.id, PDF_DRAFT).await.unwrap();
    assert_ne!(stored.sha256, made, "a stale draft was stored");

    // The enrolment signed another contract meanwhile: refused, nothing stored, and the
    // reserved number is said to be unused.
    let third = verified(&app, &key, 4).await;
    let prepared = contracts
        .prepare_draft(&actor(), &third, "PS0")
        .await
        .unwrap();
    let voided = prepared.number().to_string();
    let (status, other) = app
        .post(
            &format!("/api/v1/enrolments/{third}/contract"),
            Some(&key),
            json!({"package_code": "PS12"}),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    let (challenge, code) = contract_code(&app, &key, other["id"].as_str().unwrap()).await;
    let (status, signed) = sign(
        &app,
        &key,
        other["id"].as_str().unwrap(),
        json!({"agree": true, "signature_image": signature(), "otp_code": code,
               "challenge_id": challenge}),
    )
    .await;
    assert_eq!(status, 200, "{signed}");
    let refused = contracts.commit_draft(prepared).await;
    assert!(
        matches!(refused, Err(ContractError::EnrolmentNotVerified { .. })),
        "{refused:?}"
    );
    assert_eq!(
        count(
            &app.env,
            &format!("SELECT COUNT(*) AS n FROM contracts WHERE number = '{voided}'")
        ),
        0
    );
    let events = audit_actions(&mut app, "contract.number_voided").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(details(&events[0])["number"], voided);
    // Every draft PDF belongs to a stored contract.
    assert_eq!(
        count(
            &app.env,
            "SELECT COUNT(*) AS n FROM pdf_documents WHERE kind = 'contract_draft' \
             AND subject NOT IN (SELECT id FROM contracts)"
        ),
        0
    );
}

#[tokio::test]
async fn a_signed_contract_is_stored_as_sealed_unless_it_changed_and_a_second_signing_stores_nothing(
) {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let contracts = app.state.contracts.clone();

    // Unchanged: the sealed bytes made before the transaction are stored and audited.
    let id = draft(&app, &key, 1, "PS0").await;
    let (challenge, code) = contract_code(&app, &key, &id).await;
    let prepared = contracts
        .prepare_signature(&actor(), &id, sign_request(&challenge, &code))
        .await
        .unwrap();
    let made = prepared
        .rendered_sha256()
        .expect("rendered before the transaction");
    let signed = contracts.commit_signature(prepared).await.unwrap();
    let stored = contracts.pdf(&id, PDF_SIGNED).await.unwrap().sha256;
    assert_eq!(stored, made);
    let event = event_about(&mut app, "contract.signed", &id).await;
    assert_eq!(event["signed_pdf_sha256"], stored);
    let signing = signed.signing.expect("signed");
    assert_eq!(signing.otp_challenge_id, challenge);

    // Signed meanwhile with the same code: the prepared signature is refused, one signed PDF
    // stays, and the code was consumed once.
    let id = draft(&app, &key, 2, "PS0").await;
    let (challenge, code) = contract_code(&app, &key, &id).await;
    let prepared = contracts
        .prepare_signature(&actor(), &id, sign_request(&challenge, &code))
        .await
        .unwrap();
    assert!(prepared.rendered_sha256().is_some());
    let (status, body) = sign(
        &app,
        &key,
        &id,
        json!({"agree": true, "signature_image": signature(), "otp_code": code,
               "challenge_id": challenge}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let refused = contracts.commit_signature(prepared).await;
    assert!(
        matches!(
            refused,
            Err(ContractError::Otp(OtpError::AlreadyUsed)) | Err(ContractError::AlreadySigned)
        ),
        "{refused:?}"
    );
    let stored = contracts.pdf(&id, PDF_SIGNED).await.unwrap().sha256;
    let event = event_about(&mut app, "contract.signed", &id).await;
    assert_eq!(event["signed_pdf_sha256"], stored);
    event_about(&mut app, "otp.verified", &challenge).await;
    assert_eq!(
        count(
            &app.env,
            &format!(
                "SELECT COUNT(*) AS n FROM pdf_documents \
                 WHERE kind = 'contract_signed' AND subject = '{id}'"
            )
        ),
        1
    );

    // The package's name changed between the render and the transaction: the signed
    // contract is rendered and sealed again from the transaction's rows.
    let id = draft(&app, &key, 3, "PS12").await;
    let (challenge, code) = contract_code(&app, &key, &id).await;
    let prepared = contracts
        .prepare_signature(&actor(), &id, sign_request(&challenge, &code))
        .await
        .unwrap();
    let made = prepared
        .rendered_sha256()
        .expect("rendered before the transaction");
    rename_package(&app, "PS12");
    contracts.commit_signature(prepared).await.unwrap();
    let stored = contracts.pdf(&id, PDF_SIGNED).await.unwrap().sha256;
    assert_ne!(stored, made, "a stale signed contract was stored");
    let event = event_about(&mut app, "contract.signed", &id).await;
    assert_eq!(event["signed_pdf_sha256"], stored);

    // A wrong code renders nothing and is counted as before.
    let id = draft(&app, &key, 4, "PS0").await;
    let (challenge, code) = contract_code(&app, &key, &id).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let prepared = contracts
        .prepare_signature(&actor(), &id, sign_request(&challenge, wrong))
        .await
        .unwrap();
    assert_eq!(prepared.rendered_sha256(), None);
    let refused = contracts.commit_signature(prepared).await;
    assert!(
        matches!(refused, Err(ContractError::Otp(OtpError::Invalid { .. }))),
        "{refused:?}"
    );
}

/// A certificate awaiting acceptance for a new contracted enrolment; returns its serial and
/// the acceptance code's (challenge id, code).
async fn awaiting(app: &TestApp, key: &str, n: u32, package: &str) -> (String, String, String) {
    let id = draft(app, key, n, package).await;
    let (challenge, code) = contract_code(app, key, &id).await;
    let (status, body) = sign(
        app,
        key,
        &id,
        json!({"agree": true, "signature_image": signature(), "otp_code": code,
               "challenge_id": challenge}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let enrolment = body["enrolment_id"].as_str().unwrap();
    let (status, cert) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/certificate"),
            Some(key),
            json!({ "csr": csr_pem() }),
        )
        .await;
    assert_eq!(status, 201, "{cert}");
    let serial = cert["serial"].as_str().unwrap().to_string();
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
    (
        serial,
        sent["challenge_id"].as_str().unwrap().to_string(),
        code,
    )
}

fn accept_request(challenge: &str, code: &str) -> AcceptRequest {
    AcceptRequest {
        agree: true,
        otp_code: code.to_string(),
        challenge_id: Some(challenge.to_string()),
        client_ip: Some("203.0.113.7".into()),
        user_agent: Some("SmartCA/5.2".into()),
    }
}

#[tokio::test]
async fn an_accepted_record_is_stored_as_sealed_unless_it_changed_and_a_second_acceptance_stores_nothing(
) {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let acceptance = app.state.acceptance.clone();

    // Unchanged: the sealed bytes made before the transaction are stored and audited.
    let (serial, challenge, code) = awaiting(&app, &key, 1, "PS0").await;
    let prepared = acceptance
        .prepare_acceptance(&actor(), &serial, accept_request(&challenge, &code))
        .await
        .unwrap();
    let made = prepared
        .rendered_sha256()
        .expect("rendered before the transaction");
    let record = acceptance.commit_acceptance(prepared).await.unwrap();
    assert_eq!(record.status, "accepted");
    let stored = acceptance.pdf(&serial, PDF_ACCEPTED).await.unwrap();
    assert_eq!(stored.document_sha256, made);
    let event = event_about(&mut app, "certificate.accepted", &serial).await;
    assert_eq!(event["accepted_pdf_sha256"], made);

    // Accepted meanwhile with the same code: the prepared acceptance answers the accepted
    // record as a retry does, one accepted PDF stays, and the code was consumed once.
    let (serial, challenge, code) = awaiting(&app, &key, 2, "PS12").await;
    let prepared = acceptance
        .prepare_acceptance(&actor(), &serial, accept_request(&challenge, &code))
        .await
        .unwrap();
    assert!(prepared.rendered_sha256().is_some());
    let (status, body) = app
        .post(
            &format!("/api/v1/certificates/{serial}/acceptance"),
            Some(&key),
            json!({"agree": true, "otp_code": code, "challenge_id": challenge}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let record = acceptance.commit_acceptance(prepared).await.unwrap();
    assert_eq!(record.status, "accepted");
    let stored = acceptance.pdf(&serial, PDF_ACCEPTED).await.unwrap();
    let event = event_about(&mut app, "certificate.accepted", &serial).await;
    assert_eq!(event["accepted_pdf_sha256"], stored.document_sha256);
    event_about(&mut app, "otp.verified", &challenge).await;
    assert_eq!(
        count(
            &app.env,
            &format!(
                "SELECT COUNT(*) AS n FROM pdf_documents \
                 WHERE kind = 'acceptance_signed' AND subject = '{serial}'"
            )
        ),
        1
    );

    // The package's name (shown in the record) changed between the render and the
    // transaction: the accepted record is rendered and sealed again from the rows.
    let (serial, challenge, code) = awaiting(&app, &key, 3, "PS12").await;
    let prepared = acceptance
        .prepare_acceptance(&actor(), &serial, accept_request(&challenge, &code))
        .await
        .unwrap();
    let made = prepared
        .rendered_sha256()
        .expect("rendered before the transaction");
    rename_package(&app, "PS12");
    acceptance.commit_acceptance(prepared).await.unwrap();
    let stored = acceptance.pdf(&serial, PDF_ACCEPTED).await.unwrap();
    assert_ne!(
        stored.document_sha256, made,
        "a stale accepted record was stored"
    );
    let event = event_about(&mut app, "certificate.accepted", &serial).await;
    assert_eq!(event["accepted_pdf_sha256"], stored.document_sha256);

    // Revoked meanwhile (rejected by the citizen): refused, nothing stored.
    let (serial, challenge, code) = awaiting(&app, &key, 4, "PS12").await;
    let prepared = acceptance
        .prepare_acceptance(&actor(), &serial, accept_request(&challenge, &code))
        .await
        .unwrap();
    acceptance
        .reject(&actor(), &serial, "Sai tên")
        .await
        .unwrap();
    let refused = acceptance.commit_acceptance(prepared).await;
    assert!(
        matches!(refused, Err(AcceptanceError::NotPending { .. })),
        "{refused:?}"
    );
    assert_eq!(
        count(
            &app.env,
            &format!(
                "SELECT COUNT(*) AS n FROM pdf_documents \
                 WHERE kind = 'acceptance_signed' AND subject = '{serial}'"
            )
        ),
        0
    );
    assert_eq!(
        count(
            &app.env,
            &format!(
                "SELECT COUNT(*) AS n FROM otp_challenges \
                 WHERE id = '{challenge}' AND status = 'consumed'"
            )
        ),
        0
    );
}
