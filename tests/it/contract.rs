//! Packages and service contracts: a verified enrolment picks a package, reads the contract
//! and signs it with a drawn signature and the code sent by SMS; numbering, the free-package
//! rule, immutability, OTP refusals and signature checks, all through HTTP.

use crate::common;

use ca_enrol::audit::Actor;
use ca_enrol::clock::Clock;
use ca_enrol::contract;
use ca_enrol::issuance::{abandon_issuance, begin_issuance, IssuanceError};
use chrono::Duration;
use common::contract::{b64, png, send_otp, sign, sign_with_sms_code, signature, PHONE};
use common::enrol::{
    application, audit_actions, count, enrol, enrol_key, enrolment_status, id_number,
};
use common::{into_parts, TestApp};
use serde_json::{json, Value};

/// An app with an `enrol` API key and a verified (VNeID) enrolment for ID number `n`.
async fn verified(app: &mut TestApp, n: u32) -> (String, String) {
    let key = enrol_key(app).await;
    let id = enrol(app, &key, &application("vneid", &id_number(n))).await;
    (key, id)
}

async fn create(app: &TestApp, key: &str, enrolment: &str, package: &str) -> (u16, Value) {
    app.post(
        &format!("/api/v1/enrolments/{enrolment}/contract"),
        Some(key),
        json!({"package_code": package}),
    )
    .await
}

async fn created(app: &TestApp, key: &str, enrolment: &str, package: &str) -> Value {
    let (status, body) = create(app, key, enrolment, package).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn document(
    app: &TestApp,
    key: &str,
    contract: &str,
) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let resp = app
        .http
        .get(app.url(&format!("/api/v1/contracts/{contract}/document")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    (headers, resp.bytes().await.unwrap().to_vec())
}

/// Raw SQL as someone with database access would run it; the error when refused.
pub(crate) fn try_sql(env: &common::TestEnv, sql: &str) -> Result<usize, String> {
    use diesel::{Connection, RunQueryDsl};
    if env.database_url.is_empty() {
        let path = env.data_dir().join("ca-enrol.db");
        let mut c = diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        diesel::sql_query(sql)
            .execute(&mut c)
            .map_err(|e| e.to_string())
    } else {
        let mut c = diesel::pg::PgConnection::establish(&env.database_url).unwrap();
        diesel::sql_query(sql)
            .execute(&mut c)
            .map_err(|e| e.to_string())
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    ca_enrol::secrets::sha256_hex(bytes)
}

#[tokio::test]
async fn the_package_catalogue_is_public_and_offers_a_free_12_month_ps0() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/v1/packages", None).await;
    assert_eq!(status, 200, "{body}");
    let packages = body["packages"].as_array().unwrap();
    let ps0 = &packages[0];
    assert_eq!(ps0["code"], "PS0");
    assert_eq!(ps0["name"], "Gói cá nhân PS0 (Công dân)");
    assert_eq!(ps0["price_vnd"], 0);
    assert_eq!(ps0["term_months"], 12);
    assert_eq!(ps0["free"], true);
    assert_eq!(ps0["certificate_profile"], "personal");
    let paid: Vec<_> = packages.iter().filter(|p| p["free"] == false).collect();
    assert!(paid.len() >= 3, "{body}");
    assert!(paid.iter().all(|p| p["price_vnd"].as_i64().unwrap() > 0));
    assert!(packages
        .iter()
        .all(|p| (1..=36).contains(&p["term_months"].as_i64().unwrap())));
}

#[tokio::test]
async fn a_verified_citizen_signs_a_ps0_contract_with_the_code_sent_by_sms() {
    let mut app = TestApp::spawn().await;
    let (key, enrolment) = verified(&mut app, 1).await;
    assert_eq!(enrolment_status(&app, &key, &enrolment).await, "verified");

    let contract = created(&app, &key, &enrolment, "PS0").await;
    let id = contract["id"].as_str().unwrap();
    let year = (app.clock.now() + Duration::hours(7))
        .format("%Y")
        .to_string();
    assert_eq!(contract["number"], format!("HD-{year}-000001"));
    assert_eq!(contract["status"], "draft");
    assert_eq!(contract["price_vnd"], 0);
    assert_eq!(contract["term_months"], 12);
    assert_eq!(contract["template_version"], "ps-personal-v1");

    // The document: Vietnamese, both parties, the package, price, term and data terms.
    let (headers, bytes) = document(&app, &key, id).await;
    let digest = sha256_hex(&bytes);
    assert_eq!(contract["document_sha256"], digest);
    assert_eq!(headers["etag"], format!("\"{digest}\"").as_str());
    assert!(headers["repr-digest"]
        .to_str()
        .unwrap()
        .starts_with("sha-256=:"));
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let text = String::from_utf8(bytes.clone()).unwrap();
    for needle in [
        "HỢP ĐỒNG CUNG CẤP VÀ SỬ DỤNG DỊCH VỤ CHỨNG THỰC CHỮ KÝ SỐ CÔNG CỘNG",
        contract["number"].as_str().unwrap(),
        "Nguyễn Văn An",
        &id_number(1),
        "Gói cá nhân PS0 (Công dân)",
        "0 đồng",
        "12 tháng",
        "13/2023/NĐ-CP",
        "môi trường phát triển",
    ] {
        assert!(text.contains(needle), "document lacks {needle}");
    }

    let (status, sent) = send_otp(&app, &key, id).await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["channel"], "sms");
    assert_eq!(sent["resend_after_seconds"], 90);
    assert!(!sent["masked_destination"]
        .as_str()
        .unwrap()
        .contains("912345678"));
    let code = app.last_otp(PHONE).await.expect("code by SMS");

    let image = png(600, 200);
    let (status, signed) = sign(
        &app,
        &key,
        id,
        json!({"agree": true, "signature_image": format!("data:image/png;base64,{}", b64(&image)),
               "otp_code": code}),
    )
    .await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["status"], "signed");
    assert_eq!(signed["signature_sha256"], sha256_hex(&image));
    assert_eq!(signed["otp_challenge_id"], sent["challenge_id"]);
    assert_eq!(signed["otp_masked_destination"], sent["masked_destination"]);
    assert!(signed["signed_at"].is_string());
    assert_eq!(
        enrolment_status(&app, &key, &enrolment).await,
        "contract_signed"
    );

    // The document is what it was; GET shows the same signed contract.
    assert_eq!(document(&app, &key, id).await.1, bytes);
    let (status, again) = app
        .get(&format!("/api/v1/contracts/{id}"), Some(&key))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again, signed);

    // One transaction, all audited.
    for action in [
        "contract.created",
        "otp.issued",
        "otp.verified",
        "contract.signed",
        "enrolment.contract_signed",
    ] {
        assert_eq!(audit_actions(&mut app, action).await.len(), 1, "{action}");
    }
}

#[tokio::test]
async fn twenty_concurrent_contracts_get_distinct_consecutive_numbers() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let mut enrolments = Vec::new();
    for n in 0..20 {
        enrolments.push(enrol(&app, &key, &application("vneid", &id_number(100 + n))).await);
    }
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = enrolments
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let (app, key) = (app.clone(), key.clone());
            let package = if i % 2 == 0 { "PS0" } else { "PS12" };
            tokio::spawn(async move { created(&app, &key, &e, package).await })
        })
        .collect();
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.unwrap()["number"].as_str().unwrap().to_string());
    }
    numbers.sort();
    let year = (app.clock.now() + Duration::hours(7))
        .format("%Y")
        .to_string();
    let expected: Vec<_> = (1..=20).map(|n| format!("HD-{year}-{n:06}")).collect();
    assert_eq!(numbers, expected);
}

#[tokio::test]
async fn only_a_verified_enrolment_gets_a_contract_for_a_package_on_offer() {
    let mut app = TestApp::spawn().await;
    let (key, verified_id) = verified(&mut app, 1).await;
    let waiting = enrol(&app, &key, &application("app_ekyc", &id_number(2))).await;

    let (status, body) = create(&app, &key, &waiting, "PS0").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("enrolment_not_verified"))
    );
    let (status, body) = create(&app, &key, &verified_id, "PS99").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("package_not_found"))
    );
    let (status, body) = create(&app, &key, "no-such-enrolment", "PS0").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("enrolment_not_found"))
    );
    let (status, _) = app
        .post(
            &format!("/api/v1/enrolments/{verified_id}/contract"),
            None,
            json!({"package_code": "PS0"}),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_new_choice_of_package_supersedes_the_unsigned_contract() {
    let mut app = TestApp::spawn().await;
    let (key, enrolment) = verified(&mut app, 1).await;
    let first = created(&app, &key, &enrolment, "PS12").await;
    let second = created(&app, &key, &enrolment, "PS0").await;
    let first_id = first["id"].as_str().unwrap();
    let (_, first_now) = app
        .get(&format!("/api/v1/contracts/{first_id}"), Some(&key))
        .await;
    assert_eq!(first_now["status"], "superseded");
    let (status, body) = send_otp(&app, &key, first_id).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("contract_superseded"))
    );
    let signed = sign_with_sms_code(&app, &key, second["id"].as_str().unwrap()).await;
    assert_eq!(signed["package_code"], "PS0");
    let superseded = audit_actions(&mut app, "contract.superseded").await;
    assert_eq!(superseded.len(), 1);
    assert_eq!(superseded[0]["object_id"], first["id"]);
}

#[tokio::test]
async fn the_free_package_is_used_once_per_id_number_unless_its_certificate_never_came() {
    let mut app = TestApp::spawn().await;
    let (key, first) = verified(&mut app, 7).await;
    let c1 = created(&app, &key, &first, "PS0").await;
    sign_with_sms_code(&app, &key, c1["id"].as_str().unwrap()).await;

    // Withdrawn before issuance: no certificate, so the right is still there.
    let (status, body) = app
        .post(
            &format!("/api/v1/enrolments/{first}/withdraw"),
            Some(&key),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let second = enrol(&app, &key, &application("vneid", &id_number(7))).await;
    let c2 = created(&app, &key, &second, "PS0").await;
    app.clock.advance(Duration::seconds(91));
    sign_with_sms_code(&app, &key, c2["id"].as_str().unwrap()).await;

    // Issued: the right is used.
    let id = second.clone();
    let now = app.clock.now();
    app.state
        .store
        .write(move |tx| begin_issuance(tx, &id, now, &Actor::System))
        .await
        .unwrap();
    let third = enrol(&app, &key, &application("vneid", &id_number(7))).await;
    let (status, body) = create(&app, &key, &third, "PS0").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("free_package_already_used")),
        "{body}"
    );
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains(c2["number"].as_str().unwrap()));
    created(&app, &key, &third, "PS12").await;

    // Rejected at acceptance: the acceptance step gives the right back.
    let contract_id = c2["id"].as_str().unwrap().to_string();
    let released = app
        .state
        .store
        .write(move |tx| {
            contract::release_free_package(
                tx,
                &contract_id,
                now,
                &Actor::System,
                "rejected_at_acceptance",
            )
        })
        .await
        .unwrap();
    assert!(released);
    created(&app, &key, &third, "PS0").await;
}

#[tokio::test]
async fn a_signed_contract_never_changes() {
    let mut app = TestApp::spawn().await;
    let (key, enrolment) = verified(&mut app, 1).await;
    let c = created(&app, &key, &enrolment, "PS0").await;
    let id = c["id"].as_str().unwrap();
    let (_, before) = document(&app, &key, id).await;
    let signed = sign_with_sms_code(&app, &key, id).await;

    // Signing twice is a conflict; the first signature stands.
    app.clock.advance(Duration::seconds(91));
    let (status, body) = send_otp(&app, &key, id).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("contract_already_signed"))
    );
    let (status, body) = sign(
        &app,
        &key,
        id,
        json!({"agree": true, "signature_image": b64(&png(300, 100)), "otp_code": "000000"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("contract_already_signed"))
    );
    let (status, body) = create(&app, &key, &enrolment, "PS12").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("enrolment_not_verified"))
    );
    let (_, now) = app
        .get(&format!("/api/v1/contracts/{id}"), Some(&key))
        .await;
    assert_eq!(now, signed);
    assert_eq!(document(&app, &key, id).await.1, before);

    // Not even someone with database access changes or deletes it unnoticed: triggers refuse.
    for sql in [
        format!("UPDATE contracts SET document_sha256 = 'x' WHERE id = '{id}'"),
        format!("UPDATE contracts SET status = 'draft' WHERE id = '{id}'"),
        format!("DELETE FROM contracts WHERE id = '{id}'"),
    ] {
        assert!(try_sql(&app.env, &sql).is_err(), "{sql} was allowed");
    }
    assert_eq!(
        count(
            &app.env,
            &format!("SELECT COUNT(*) AS n FROM contracts WHERE id = '{id}' AND status = 'signed'")
        ),
        1
    );
}

#[tokio::test]
async fn an_unsigned_contract_document_cannot_be_rewritten_either() {
    let mut app = TestApp::spawn().await;
    let (key, enrolment) = verified(&mut app, 1).await;
    let c = created(&app, &key, &enrolment, "PS0").await;
    let id = c["id"].as_str().unwrap();
    let same = format!("UPDATE contracts SET document = document WHERE id = '{id}'");
    assert_eq!(try_sql(&app.env, &same), Ok(1));
    let other = format!("UPDATE contracts SET document_sha256 = 'x' WHERE id = '{id}'");
    assert!(try_sql(&app.env, &other).is_err());
}

#[tokio::test]
async fn a_wrong_code_says_how_many_attempts_are_left_and_the_right_one_still_signs() {
    let mut app = TestApp::spawn().await;
    let (key, enrolment) = verified(&mut app, 1).await;
    let c = created(&app, &key, &enrolment, "PS0").await;
    let id = c["id"].as_str().unwrap();
    let (_, sent) = send_otp(&app, &key, id).await;
    let code = app.last_otp(PHONE).await.unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = sign(
        &app,
        &key,
        id,
        json!({"agree": true, "signature_image": signature(), "otp_code": wrong,
               "challenge_id": sent["challenge_id"]}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "otp_invalid");
    assert_eq!(body["attempts_left"], 4);
    assert!(body["message_vi"].as_str().unwrap().contains('4'));
    assert_eq!(enrolment_status(&app, &key, &enrolment).await, "verified");
    let (status, body) = sign(
        &app,
        &key,
        id,
        json!({"agree": true, "signature_image": signature(), "otp_code": code}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(audit_actions(&mut app, "otp.code_rejected").await.len(), 1);
}

#[tokio::test]
async fn an_expired_code_is_refused_and_a_new_one_can_be_sent_after_the_countdown() {
    let mut app = TestApp::spawn().await;
    let (key, enrolment) = verified(&mut app, 1).await;
    let c = created(&app, &key, &enrolment, "PS0").await;
    let id = c["id"].as_str().unwrap();
    send_otp(&app, &key, id).await;
    let code = app.last_otp(PHONE).await.unwrap();

    // Too soon for another: 429 with Retry-After and the countdown in the body.
    let resp = app
        .http
        .post(app.url(&format!("/api/v1/contracts/{id}/otp")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["retry-after"], "90");
    let (status, body) = into_parts(resp).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("otp_resend_too_soon"))
    );
    assert_eq!(body["retry_after_seconds"], 90);

    app.clock.advance(Duration::seconds(301));
    let (status, body) = sign(
        &app,
        &key,
        id,
        json!({"agree": true, "signature_image": signature(), "otp_code": code}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("otp_expired")),
        "{body}"
    );
    let signed = sign_with_sms_code(&app, &key, id).await;
    assert_eq!(signed["status"], "signed");
}

#[tokio::test]
async fn a_code_sent_for_another_contract_does_not_sign_this_one() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let mine = enrol(&app, &key, &application("vneid", &id_number(1))).await;
    let mut other_person = application("vneid", &id_number(2));
    other_person["contact"]["phone"] = json!("0987654321");
    let theirs = enrol(&app, &key, &other_person).await;
    let my_contract = created(&app, &key, &mine, "PS0").await;
    let their_contract = created(&app, &key, &theirs, "PS0").await;
    let (mine_id, theirs_id) = (
        my_contract["id"].as_str().unwrap(),
        their_contract["id"].as_str().unwrap(),
    );
    let (_, sent) = send_otp(&app, &key, theirs_id).await;
    let their_code = app.last_otp("+84987654321").await.unwrap();

    // Named by its challenge: it was issued for another document.
    let (status, body) = sign(
        &app,
        &key,
        mine_id,
        json!({"agree": true, "signature_image": signature(), "otp_code": their_code,
               "challenge_id": sent["challenge_id"]}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("otp_wrong_document")),
        "{body}"
    );
    // Without the challenge: this contract has no code at all.
    let (status, body) = sign(
        &app,
        &key,
        mine_id,
        json!({"agree": true, "signature_image": signature(), "otp_code": their_code}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("otp_not_found")),
        "{body}"
    );
    assert_eq!(enrolment_status(&app, &key, &mine).await, "verified");
    // Their code still signs their contract.
    let (status, body) = sign(
        &app,
        &key,
        theirs_id,
        json!({"agree": true, "signature_image": signature(), "otp_code": their_code}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_signature_must_be_an_agreed_png_within_limits_and_refusals_keep_the_code() {
    let mut app = TestApp::spawn().await;
    let (key, enrolment) = verified(&mut app, 1).await;
    let c = created(&app, &key, &enrolment, "PS0").await;
    let id = c["id"].as_str().unwrap();
    send_otp(&app, &key, id).await;
    let code = app.last_otp(PHONE).await.unwrap();

    let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10].repeat(20);
    let mut truncated = png(600, 200);
    truncated.truncate(truncated.len() - 4);
    let mut corrupt = png(600, 200);
    corrupt[18] ^= 0x40;
    let cases = [
        (json!(false), signature(), 422, "agreement_required"),
        (
            json!(true),
            "not base64!".to_string(),
            422,
            "signature_image_invalid",
        ),
        (json!(true), b64(&jpeg), 422, "signature_image_invalid"),
        (json!(true), b64(&truncated), 422, "signature_image_invalid"),
        (json!(true), b64(&corrupt), 422, "signature_image_invalid"),
        (
            json!(true),
            b64(&png(10, 10)),
            422,
            "signature_image_dimensions",
        ),
        (
            json!(true),
            b64(&png(9000, 200)),
            422,
            "signature_image_dimensions",
        ),
        (
            json!(true),
            b64(&vec![0u8; 600 * 1024]),
            413,
            "signature_image_too_large",
        ),
    ];
    for (agree, image, status, code_expected) in cases {
        let (s, body) = sign(
            &app,
            &key,
            id,
            json!({"agree": agree, "signature_image": image, "otp_code": code}),
        )
        .await;
        assert_eq!(
            (s, body["code"].as_str()),
            (status, Some(code_expected)),
            "{body}"
        );
    }
    // None of those touched the code: it still signs.
    let (status, body) = sign(
        &app,
        &key,
        id,
        json!({"agree": true, "signature_image": signature(), "otp_code": code}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn issuance_takes_the_signed_contract_once_and_can_give_it_back() {
    let mut app = TestApp::spawn().await;
    let (key, enrolment) = verified(&mut app, 1).await;
    let begin = |app: &TestApp, id: &str| {
        let (store, id, now) = (app.state.store.clone(), id.to_string(), app.clock.now());
        async move {
            store
                .write(move |tx| begin_issuance(tx, &id, now, &Actor::System))
                .await
        }
    };
    assert!(matches!(
        begin(&app, &enrolment).await,
        Err(IssuanceError::NotReady(_))
    ));

    let c = created(&app, &key, &enrolment, "PS0").await;
    sign_with_sms_code(&app, &key, c["id"].as_str().unwrap()).await;
    let signed = begin(&app, &enrolment).await.unwrap();
    assert_eq!(signed, c["id"].as_str().unwrap());
    assert_eq!(
        enrolment_status(&app, &key, &enrolment).await,
        "certificate_issued"
    );
    // One issuance per contract.
    assert!(matches!(
        begin(&app, &enrolment).await,
        Err(IssuanceError::NotReady(_))
    ));

    let (store, id, now) = (app.state.store.clone(), enrolment.clone(), app.clock.now());
    let back = store
        .write(move |tx| abandon_issuance(tx, &id, now, &Actor::System, "signing failed"))
        .await
        .unwrap();
    assert_eq!(back, signed);
    assert_eq!(
        enrolment_status(&app, &key, &enrolment).await,
        "contract_signed"
    );
    assert_eq!(begin(&app, &enrolment).await.unwrap(), signed);
    assert_eq!(
        audit_actions(&mut app, "enrolment.issuance_started")
            .await
            .len(),
        2
    );
    assert_eq!(
        audit_actions(&mut app, "enrolment.issuance_abandoned")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn the_openapi_document_describes_packages_and_contracts() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/v1/packages",
        "/v1/enrolments/{id}/contract",
        "/v1/contracts/{id}",
        "/v1/contracts/{id}/document",
        "/v1/contracts/{id}/otp",
        "/v1/contracts/{id}/sign",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    let packages = &doc["paths"]["/v1/packages"]["get"];
    assert!(packages["security"].is_null(), "{packages}");
    assert!(
        packages["description"]
            .as_str()
            .unwrap_or_default()
            .contains("Public")
            || packages["summary"]
                .as_str()
                .unwrap_or_default()
                .contains("Public")
    );
    assert!(doc["info"]["description"]
        .as_str()
        .unwrap()
        .contains("/api/v1/packages"));
    let sign = &doc["paths"]["/v1/contracts/{id}/sign"]["post"];
    assert!(
        sign["responses"]["429"]["headers"]["RETRY-AFTER"].is_object()
            || sign["responses"]["429"]["headers"]["Retry-After"].is_object(),
        "{}",
        sign["responses"]["429"]
    );
}
