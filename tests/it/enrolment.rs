//! eKYC intake: validation, idempotency, one open enrolment per ID number, encrypted
//! documents and who may read them, routing, withdrawal.

use crate::common;

use chrono::{Datelike, Duration, Months};
use common::enrol::*;
use common::TestApp;
use serde_json::{json, Value};

fn codes_for(body: &Value, field: &str) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .filter(|e| e["field"] == field)
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn vneid_application_is_verified_by_the_level_2_account() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    // Only the hub's signed registrations are VNeID applications: the generic intake refuses
    // the source, whoever calls.
    let (status, refused) = submit(&app, &key, "k0", &application("vneid", &id_number(1))).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("vneid_hub_only"))
    );
    assert_eq!(count(&app.env, "SELECT COUNT(*) AS n FROM enrolments"), 0);

    let id = common::vneid::enrol(&app, &key, &application("vneid", &id_number(1))).await;
    let (status, view) = app
        .get(&format!("/api/v1/enrolments/{id}"), Some(&key))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "verified");
    assert_eq!(view["verified_by"], "vneid_level2");
    assert_eq!(view["next_step"], "sign_contract");
    assert!(view["next_step_message_vi"].is_string());

    let id = view["id"].as_str().unwrap();
    let (status, got) = app
        .get(&format!("/api/v1/enrolments/{id}"), Some(&key))
        .await;
    assert_eq!((status, &got["status"]), (200, &json!("verified")));
}

#[tokio::test]
async fn id_numbers_are_checked_against_province_sex_and_birth_year() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    // (ID number, sex, date of birth, expected refusal or None)
    let cases: [(&str, &str, &str, Option<&str>); 11] = [
        ("001090012345", "male", "1990-05-17", None),
        ("079190000001", "female", "1990-05-17", None),
        ("096203000002", "male", "2003-01-31", None),
        ("001303000003", "Nữ", "2003-01-31", None),
        ("12345", "male", "1990-05-17", Some("id_number_format")),
        (
            "00109001234a",
            "male",
            "1990-05-17",
            Some("id_number_format"),
        ),
        (
            "123456789",
            "male",
            "1990-05-17",
            Some("id_number_cmnd_not_accepted"),
        ),
        (
            "003090012345",
            "male",
            "1990-05-17",
            Some("id_number_province_unknown"),
        ),
        (
            "001190012345",
            "male",
            "1990-05-17",
            Some("id_number_sex_mismatch"),
        ),
        (
            "001290012345",
            "male",
            "1990-05-17",
            Some("id_number_century_mismatch"),
        ),
        (
            "001091012345",
            "male",
            "1990-05-17",
            Some("id_number_birth_year_mismatch"),
        ),
    ];
    for (i, (id, sex, dob, refusal)) in cases.into_iter().enumerate() {
        let mut body = application("app_ekyc", id);
        body["identity"]["sex"] = json!(sex);
        body["identity"]["date_of_birth"] = json!(dob);
        let (status, answer) = submit(&app, &key, &format!("id-{i}"), &body).await;
        match refusal {
            None => assert_eq!(status, 201, "{id}: {answer}"),
            Some(code) => {
                assert_eq!(status, 422, "{id}: {answer}");
                assert_eq!(answer["code"], "validation_failed");
                assert_eq!(codes_for(&answer, "identity.id_number"), [code], "{id}");
            }
        }
    }
}

#[tokio::test]
async fn applicant_must_be_eighteen_on_the_application_date_in_vietnam() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let today = vietnam_today(&app);
    let eighteen_today = today.checked_sub_months(Months::new(18 * 12)).unwrap();
    let cases = [
        (eighteen_today, true),
        (eighteen_today + Duration::days(1), false),
        (eighteen_today - Duration::days(1), true),
        (today.with_year(today.year() - 17).unwrap_or(today), false),
    ];
    for (i, (dob, adult)) in cases.into_iter().enumerate() {
        let mut body = application("app_ekyc", &id_for(dob, true, i as u32));
        body["identity"]["sex"] = json!("female");
        body["identity"]["date_of_birth"] = json!(dob.to_string());
        body["identity"]["id_issue_date"] = json!((dob + Duration::days(1)).to_string());
        let (status, answer) = submit(&app, &key, &format!("age-{i}"), &body).await;
        if adult {
            assert_eq!(status, 201, "{dob}: {answer}");
        } else {
            assert_eq!(status, 422, "{dob}: {answer}");
            assert_eq!(
                codes_for(&answer, "identity.date_of_birth"),
                ["underage"],
                "{dob}"
            );
        }
    }
}

#[tokio::test]
async fn phone_numbers_need_a_known_vietnamese_mobile_prefix() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let cases = [
        ("0912345678", None),
        ("+84 86 123 4567", None),
        ("0591234567", None),
        ("0701234567", None),
        ("0241234567", Some("phone_prefix_unknown")),
        ("0111234567", Some("phone_prefix_unknown")),
        ("091234567", Some("phone_format")),
        ("+855912345678", Some("phone_format")),
        ("0912-345-67x", Some("phone_format")),
    ];
    for (i, (phone, refusal)) in cases.into_iter().enumerate() {
        let mut body = application("app_ekyc", &id_number(100 + i as u32));
        body["contact"]["phone"] = json!(phone);
        let (status, answer) = submit(&app, &key, &format!("phone-{i}"), &body).await;
        match refusal {
            None => assert_eq!(status, 201, "{phone}: {answer}"),
            Some(code) => {
                assert_eq!(status, 422, "{phone}: {answer}");
                assert_eq!(codes_for(&answer, "contact.phone"), [code], "{phone}");
            }
        }
    }
}

#[tokio::test]
async fn names_take_vietnamese_letters_and_refuse_digits_and_symbols() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let cases = [
        ("Nguyễn Thị Minh Khai", None),
        ("Đặng Văn Ơn", None),
        // Decomposed (NFD) input is normalised, not refused.
        ("Nguye\u{302}\u{303}n Văn A", None),
        ("  Lê   Quý  Đôn ", None),
        ("Nguyen Van 2", Some("name_invalid_characters")),
        ("Trần <b>", Some("name_invalid_characters")),
        ("A", Some("name_length")),
        ("", Some("text_empty")),
    ];
    for (i, (name, refusal)) in cases.into_iter().enumerate() {
        let mut body = application("app_ekyc", &id_number(200 + i as u32));
        body["identity"]["full_name"] = json!(name);
        let (status, answer) = submit(&app, &key, &format!("name-{i}"), &body).await;
        match refusal {
            None => assert_eq!(status, 201, "{name}: {answer}"),
            Some(code) => {
                assert_eq!(status, 422, "{name}: {answer}");
                assert_eq!(codes_for(&answer, "identity.full_name"), [code], "{name}");
            }
        }
    }
}

#[tokio::test]
async fn every_failing_field_is_reported_at_once_and_nothing_is_stored() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let mut body = application("app_ekyc", "12345");
    body["identity"]["date_of_birth"] = json!("1990-02-30");
    body["identity"]["permanent_address"]["line"] = json!("x".repeat(600));
    body["identity"]["id_issue_place"] = json!("Hà Nội\u{0007}");
    body["contact"]["phone"] = json!("0211234567");
    body["contact"]["email"] = json!("not-an-email");
    body["consent"] = Value::Null;
    let (status, answer) = submit(&app, &key, "bad", &body).await;
    assert_eq!(status, 422, "{answer}");
    let mut fields: Vec<&str> = answer["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "consent",
            "contact.email",
            "contact.phone",
            "identity.date_of_birth",
            "identity.id_issue_place",
            "identity.id_number",
            "identity.permanent_address.line",
        ],
        "{answer}"
    );
    for e in answer["errors"].as_array().unwrap() {
        assert!(!e["message"].as_str().unwrap().is_empty(), "{e}");
        assert!(!e["message_vi"].as_str().unwrap().is_empty(), "{e}");
    }
    assert_eq!(codes_for(&answer, "consent"), ["consent_required"]);
    assert_eq!(
        codes_for(&answer, "identity.permanent_address.line"),
        ["text_too_long"]
    );
    assert_eq!(
        codes_for(&answer, "identity.date_of_birth"),
        ["date_invalid"]
    );
    assert_eq!(count(&app.env, "SELECT COUNT(*) AS n FROM enrolments"), 0);
    assert_eq!(
        count(&app.env, "SELECT COUNT(*) AS n FROM idempotency_keys"),
        0
    );

    // Dates out of order and an expired card.
    let mut body = application("app_ekyc", &id_number(1));
    body["identity"]["id_issue_date"] = json!("1989-01-01");
    body["identity"]["id_expiry_date"] = json!("2020-01-01");
    let (status, answer) = submit(&app, &key, "dates", &body).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(codes_for(&answer, "identity.id_issue_date"), ["date_order"]);
}

#[tokio::test]
async fn a_retry_with_the_same_key_and_body_gets_the_first_answer() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let body = application("app_ekyc", &id_number(1));
    let (s1, first) = submit(&app, &key, "retry-1", &body).await;
    assert_eq!(s1, 201, "{first}");
    // The enrolment moves on; the retry still gets the first answer.
    upload_all(&app, &key, first["id"].as_str().unwrap()).await;
    let (s2, second) = submit(&app, &key, "retry-1", &body).await;
    assert_eq!((s2, &second), (201, &first));
    assert_eq!(count(&app.env, "SELECT COUNT(*) AS n FROM enrolments"), 1);

    let mut other = body.clone();
    other["contact"]["phone"] = json!("0987654321");
    let (s3, answer) = submit(&app, &key, "retry-1", &other).await;
    assert_eq!(
        (s3, answer["code"].as_str()),
        (409, Some("idempotency_key_reused"))
    );

    // Concurrent retries of one request create one enrolment.
    let body = application("app_ekyc", &id_number(2));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (http, url, key, body) = (
            app.http.clone(),
            app.url("/api/v1/enrolments"),
            key.clone(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(key)
                .header("Idempotency-Key", "race")
                .json(&body)
                .send()
                .await
                .unwrap();
            common::into_parts(r).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let (status, view) = t.await.unwrap();
        assert_eq!(status, 201, "{view}");
        ids.push(view["id"].as_str().unwrap().to_string());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(count(&app.env, "SELECT COUNT(*) AS n FROM enrolments"), 2);
}

#[tokio::test]
async fn a_second_open_application_for_an_id_number_is_refused_naming_the_open_one() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let first = enrol(&app, &key, &application("app_ekyc", &id_number(7))).await;
    let (status, answer) =
        submit(&app, &key, "again", &application("app_ekyc", &id_number(7))).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["code"], "enrolment_already_open");
    assert!(answer["message"].as_str().unwrap().contains(&first));
    assert!(answer["message_vi"].as_str().unwrap().contains(&first));

    // Once it is withdrawn the citizen may apply again.
    let (status, _) = app
        .post(
            &format!("/api/v1/enrolments/{first}/withdraw"),
            Some(&key),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    enrol(&app, &key, &application("vneid", &id_number(7))).await;
}

#[tokio::test]
async fn the_database_allows_one_open_enrolment_per_id_number_even_under_races() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (http, url, key) = (app.http.clone(), app.url("/api/v1/enrolments"), key.clone());
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(key)
                .header("Idempotency-Key", format!("dup-{i}"))
                .json(&application("app_ekyc", &id_number(9)))
                .send()
                .await
                .unwrap();
            common::into_parts(r).await
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == 409 {
            assert_eq!(body["code"], "enrolment_already_open", "{body}");
        }
        statuses.push(status);
    }
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
}

#[tokio::test]
async fn counter_applications_need_an_operator_session_and_record_the_operator() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let op = staff(&mut app, "desk.one", "operator").await;
    let ra = staff(&mut app, "ra.one", "ra_officer").await;
    let mut body = application("counter", &id_number(1));
    body["consent"]["channel"] = json!("counter");

    let (status, _) = submit(&app, &key, "c1", &body).await;
    assert_eq!(status, 403);
    let (status, _) = submit(&app, &ra, "c2", &body).await;
    assert_eq!(status, 403);
    let (status, _) = submit(&app, &op, "c3", &application("vneid", &id_number(2))).await;
    assert_eq!(status, 403, "operators do not submit on VNeID's behalf");

    let (status, view) = submit(&app, &op, "c4", &body).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["status"], "verified");
    assert_eq!(view["verified_by"], "counter_operator");
    let submitted = audit_actions(&mut app, "enrolment.submitted").await;
    assert_eq!(submitted.len(), 1);
    assert_eq!(submitted[0]["actor"], "operator:desk.one");
    assert!(submitted[0]["details"]
        .as_str()
        .unwrap()
        .contains("\"enrolled_by\""));
    assert_eq!(
        count(
            &app.env,
            "SELECT COUNT(*) AS n FROM enrolments e JOIN operators o ON o.id = e.enrolled_by \
             WHERE o.username = 'desk.one'"
        ),
        1
    );
}

#[tokio::test]
async fn a_counter_dossier_takes_document_scans_until_its_contract_is_signed() {
    let mut app = TestApp::spawn().await;
    let op = staff(&mut app, "desk.one", "operator").await;
    let mut body = application("counter", &id_number(1));
    body["consent"]["channel"] = json!("counter");
    let id = enrol(&app, &op, &body).await;
    let (status, stored) = put_document(&app, &op, &id, "id_front", jpeg("f"), "image/jpeg").await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["enrolment"]["status"], "verified", "no re-routing");
    assert_eq!(stored["enrolment"]["documents"], json!(["id_front"]));
    assert_eq!(stored["enrolment"]["documents_missing"], json!([]));
    assert_eq!(
        audit_actions(&mut app, "enrolment.document_stored")
            .await
            .len(),
        1
    );

    // A counter dossier belongs to no integration: the operator continues it.
    let (status, contract) = app
        .post(
            &format!("/api/v1/enrolments/{id}/contract"),
            Some(&op),
            json!({"package_code": "PS0"}),
        )
        .await;
    assert_eq!(status, 201, "{contract}");
    common::contract::sign_with_sms_code(&app, &op, contract["id"].as_str().unwrap()).await;
    let (status, body) = put_document(&app, &op, &id, "portrait", jpeg("p"), "image/jpeg").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("documents_not_accepted"))
    );
}

#[tokio::test]
async fn documents_must_be_jpeg_or_png_by_content_and_within_the_size_limit() {
    let mut app = TestApp::spawn_with(common::TestEnv::new(), |c| {
        c.enrolment.max_document_bytes = 64 * 1024;
    })
    .await;
    let key = enrol_key(&mut app).await;
    let id = enrol(&app, &key, &application("app_ekyc", &id_number(1))).await;

    let (status, body) = put_document(
        &app,
        &key,
        &id,
        "id_front",
        jpeg("a"),
        "application/octet-stream",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["content_type"], "image/jpeg");
    assert_eq!(body["size_bytes"], stored(&jpeg("a")).len());
    let (status, body) = put_document(&app, &key, &id, "id_back", png("b"), "image/jpeg").await;
    assert_eq!((status, &body["content_type"]), (200, &json!("image/png")));

    // Declared as JPEG, but a GIF / a PDF by content.
    let (status, body) = put_document(
        &app,
        &key,
        &id,
        "portrait",
        b"GIF89a....".to_vec(),
        "image/jpeg",
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("document_type_unsupported"))
    );
    let (status, _) = put_document(
        &app,
        &key,
        &id,
        "portrait",
        b"%PDF-1.7".to_vec(),
        "image/png",
    )
    .await;
    assert_eq!(status, 415);

    let mut big = jpeg("big");
    big.resize(64 * 1024 + 1, 0);
    let (status, body) = put_document(&app, &key, &id, "portrait", big, "image/jpeg").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("document_too_large"))
    );
    let mut just_fits = jpeg("fits");
    just_fits.resize(64 * 1024, 0);
    let (status, _) = put_document(&app, &key, &id, "portrait", just_fits, "image/jpeg").await;
    assert_eq!(status, 200);

    let (status, body) = put_document(&app, &key, &id, "selfie", jpeg("x"), "image/jpeg").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("document_kind_unknown"))
    );
    let (status, _) = put_document(
        &app,
        &key,
        "no-such-id",
        "portrait",
        jpeg("x"),
        "image/jpeg",
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn documents_are_encrypted_at_rest_and_read_back_intact() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    // Not queued yet (one document): an RA officer may read it.
    let op = staff(&mut app, "ra.one", "ra_officer").await;
    let id = enrol(&app, &key, &application("app_ekyc", &id_number(1))).await;
    let uploaded = jpeg("secret-face");
    let (status, body) =
        put_document(&app, &key, &id, "portrait", uploaded.clone(), "image/jpeg").await;
    assert_eq!(status, 200, "{body}");

    let (sealed, sha256) = stored_document(&app, &id, "portrait").await;
    let plain = stored(&uploaded);
    assert_ne!(sealed, uploaded);
    assert!(!holds_part_of(&sealed, &plain));
    assert!(!sealed
        .windows(b"FACE-DATA".len())
        .any(|w| w == b"FACE-DATA"));
    assert!(!sealed.starts_with(&[0xFF, 0xD8, 0xFF]));
    let expected = hex::encode(openssl::sha::sha256(&plain));
    assert_eq!(sha256, expected);
    assert_eq!(body["sha256"], expected);

    let resp = app
        .http
        .get(app.url(&format!("/api/v1/enrolments/{id}/documents/portrait")))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), plain);
}

#[tokio::test]
async fn only_the_operator_on_the_call_and_ra_officers_after_it_read_documents_all_audited() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let op = staff(&mut app, "vc.one", "operator").await;
    let other = staff(&mut app, "vc.two", "operator").await;
    let ra = staff(&mut app, "ra.one", "ra_officer").await;
    let auditor = staff(&mut app, "audit.one", "auditor").await;
    let admin = app.admin_token().await;
    let id = enrol(&app, &key, &application("app_ekyc", &id_number(1))).await;
    upload_all(&app, &key, &id).await;
    let path = format!("/api/v1/enrolments/{id}/documents/id_front");
    let read = |token: &str| {
        let req = app.http.get(app.url(&path)).bearer_auth(token);
        async move { req.send().await.unwrap() }
    };

    for (who, token) in [("api key", &key), ("auditor", &auditor), ("admin", &admin)] {
        let (status, _) = app.get(&path, Some(token)).await;
        assert_eq!(status, 403, "{who}");
    }
    let (status, _) = app.get(&path, None).await;
    assert_eq!(status, 401);
    // Queued: nobody holds the call, so no operator or RA officer sees the images.
    for (who, token) in [("operator", &op), ("ra officer", &ra)] {
        let (status, body) = app.get(&path, Some(token)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("document_access_denied")),
            "{who}"
        );
    }
    // The operator holding the lease does; another operator and an RA officer still not.
    let (status, claimed) = app
        .post("/api/v1/verification/claim", Some(&op), json!({}))
        .await;
    assert_eq!(status, 200, "{claimed}");
    let call = claimed["verification_id"].as_str().unwrap().to_string();
    let resp = read(&op).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.bytes().await.unwrap().to_vec(),
        stored(&jpeg("id_front"))
    );
    for token in [&other, &ra] {
        assert_eq!(read(token).await.status(), 403);
    }
    let (status, body) = app
        .get(
            &format!("/api/v1/enrolments/{id}/documents/selfie"),
            Some(&op),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    // The call done: the RA officer reviews it; the operator's access ended with the lease.
    let (status, body) = app
        .post(
            &format!("/api/v1/verification/{call}/outcome"),
            Some(&op),
            approval(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(read(&ra).await.status(), 200);
    assert_eq!(read(&op).await.status(), 403);

    // A document never uploaded is 404 whoever asks.
    let lone = enrol(&app, &key, &application("app_ekyc", &id_number(2))).await;
    put_document(&app, &key, &lone, "id_front", jpeg("f"), "image/jpeg").await;
    let (status, body) = app
        .get(
            &format!("/api/v1/enrolments/{lone}/documents/portrait"),
            Some(&ra),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("document_not_found"))
    );

    let reads = audit_actions(&mut app, "enrolment.document_read").await;
    let actors: Vec<&str> = reads.iter().map(|e| e["actor"].as_str().unwrap()).collect();
    // Only the reads that were let through.
    assert_eq!(actors, ["operator:vc.one", "operator:ra.one"]);
    // The trail names the document, never its content.
    for e in reads.iter().chain(
        audit_actions(&mut app, "enrolment.document_stored")
            .await
            .iter(),
    ) {
        assert!(!e["details"].as_str().unwrap().contains("FACE-DATA"), "{e}");
    }
}

#[tokio::test]
async fn an_app_application_joins_the_queue_once_all_four_documents_are_present() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let id = enrol(&app, &key, &application("app_ekyc", &id_number(1))).await;
    let (status, body) = app
        .get(&format!("/api/v1/enrolments/{id}/video-call"), Some(&key))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_in_video_call_queue"))
    );

    for kind in ["id_front", "id_back", "portrait"] {
        let (_, body) = put_document(&app, &key, &id, kind, jpeg(kind), "image/jpeg").await;
        assert_eq!(body["enrolment"]["status"], "awaiting_documents");
    }
    let (_, view) = app
        .get(&format!("/api/v1/enrolments/{id}"), Some(&key))
        .await;
    assert_eq!(view["documents_missing"], json!(["liveness"]));
    assert_eq!(view["next_step"], "upload_documents");

    let (_, body) = put_document(&app, &key, &id, "liveness", png("l"), "image/png").await;
    assert_eq!(body["enrolment"]["status"], "awaiting_video_call");
    assert_eq!(body["enrolment"]["next_step"], "video_call");
    let (status, call) = app
        .get(&format!("/api/v1/enrolments/{id}/video-call"), Some(&key))
        .await;
    assert_eq!(status, 200, "{call}");
    assert_eq!(call["state"], "waiting");
    assert_eq!(call["position"], 1);
    assert!(call["estimated_wait_seconds"].as_i64().unwrap() > 0);

    // Documents are fixed once the application is queued.
    let (status, body) = put_document(&app, &key, &id, "portrait", jpeg("p2"), "image/jpeg").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("documents_not_accepted"))
    );
}

#[tokio::test]
async fn an_id_number_that_already_passed_a_video_call_skips_the_queue() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let op = staff(&mut app, "vc.one", "operator").await;
    let first = enrol(&app, &key, &application("app_ekyc", &id_number(1))).await;
    upload_all(&app, &key, &first).await;
    let (_, claimed) = app
        .post("/api/v1/verification/claim", Some(&op), json!({}))
        .await;
    let vid = claimed["verification_id"].as_str().unwrap();
    let (status, r) = app
        .post(
            &format!("/api/v1/verification/{vid}/outcome"),
            Some(&op),
            approval(),
        )
        .await;
    assert_eq!(
        (status, &r["enrolment_status"]),
        (200, &json!("verified")),
        "{r}"
    );
    // Issuance (a later step) closes the first enrolment.
    app.env.sql(&format!(
        "UPDATE enrolments SET status = 'certificate_issued' WHERE id = '{first}'"
    ));

    // Another name with the same ID number still needs a call.
    let mut renamed = application("app_ekyc", &id_number(1));
    renamed["identity"]["full_name"] = json!("Nguyễn Văn Bình");
    let other = enrol(&app, &key, &renamed).await;
    let last = upload_all(&app, &key, &other).await;
    assert_eq!(last["enrolment"]["status"], "awaiting_video_call");
    app.post(
        &format!("/api/v1/enrolments/{other}/withdraw"),
        Some(&key),
        json!({}),
    )
    .await;

    let again = enrol(&app, &key, &application("app_ekyc", &id_number(1))).await;
    let last = upload_all(&app, &key, &again).await;
    assert_eq!(last["enrolment"]["status"], "verified");
    assert_eq!(last["enrolment"]["verified_by"], "prior_video_call");
}

#[tokio::test]
async fn withdrawal_before_issuance_destroys_the_documents_and_after_issuance_is_refused() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let op = staff(&mut app, "vc.one", "operator").await;
    let id = enrol(&app, &key, &application("app_ekyc", &id_number(1))).await;
    upload_all(&app, &key, &id).await;
    let docs = format!("SELECT COUNT(*) AS n FROM enrolment_documents WHERE enrolment_id = '{id}'");
    assert_eq!(count(&app.env, &docs), 4);

    let (status, view) = app
        .post(
            &format!("/api/v1/enrolments/{id}/withdraw"),
            Some(&key),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "withdrawn");
    assert_eq!(view["next_step"], "none");
    assert_eq!(count(&app.env, &docs), 0);
    let (status, _) = app
        .get(
            &format!("/api/v1/enrolments/{id}/documents/portrait"),
            Some(&op),
        )
        .await;
    assert_eq!(status, 404);
    // It left the queue.
    let (status, _) = app
        .post("/api/v1/verification/claim", Some(&op), json!({}))
        .await;
    assert_eq!(status, 204);
    let events = audit_actions(&mut app, "enrolment.withdrawn").await;
    assert_eq!(events.len(), 1);
    assert!(events[0]["details"]
        .as_str()
        .unwrap()
        .contains("\"documents_destroyed\":4"));
    let (status, body) = app
        .post(
            &format!("/api/v1/enrolments/{id}/withdraw"),
            Some(&key),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("enrolment_closed"))
    );

    let issued = enrol(&app, &key, &application("vneid", &id_number(2))).await;
    app.env.sql(&format!(
        "UPDATE enrolments SET status = 'certificate_issued' WHERE id = '{issued}'"
    ));
    let (status, body) = app
        .post(
            &format!("/api/v1/enrolments/{issued}/withdraw"),
            Some(&key),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "withdrawal_refused_certificate_issued");
    assert!(body["message_vi"].is_string());
}

#[tokio::test]
async fn enrolment_by_id_gives_what_a_certificate_subject_needs() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let mut body = application("vneid", &id_number(4));
    body["identity"]["permanent_address"]["province"] = json!("Thành phố Hồ Chí Minh");
    body["identity"]["permanent_address"]["ward"] = json!("Phường Sài Gòn");
    body["identity"]["full_name"] = json!("Nguye\u{302}\u{303}n Văn An");
    let id = enrol(&app, &key, &body).await;

    let store = ca_enrol::app::open_store(&app.env.config()).unwrap();
    let row = store
        .read(move |tx| tx.enrolment_by_id(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.full_name, "Nguyễn Văn An", "stored in NFC");
    assert_eq!(row.id_number, id_number(4));
    // The province comes from the address, never from the ID number's 001 (Hà Nội).
    assert_eq!(row.permanent_province, "Thành phố Hồ Chí Minh");
    assert_eq!(row.permanent_ward, "Phường Sài Gòn");
    assert_eq!(row.email.as_deref(), Some("an.nguyen@example.vn"));
    assert_eq!(row.phone, "+84912345678");
    assert_eq!(row.status.as_str(), "verified");
}

#[tokio::test]
async fn provinces_and_wards_come_from_the_official_list_and_are_stored_by_their_official_names() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let mut body = application("app_ekyc", &id_number(5));
    body["identity"]["permanent_address"]["province"] = json!("Atlantis");
    body["identity"]["current_address"] = json!({
        "line": "Số 1", "ward": "Phường Sài Gòn", "province": "Thành phố Hà Nội"
    });
    let (status, answer) = submit(&app, &key, "atlantis", &body).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        codes_for(&answer, "identity.permanent_address.province"),
        ["province_unknown"]
    );
    // Phường Sài Gòn is in Hồ Chí Minh City, not in Hà Nội.
    assert_eq!(
        codes_for(&answer, "identity.current_address.ward"),
        ["ward_unknown"]
    );
    assert!(
        answer["errors"].to_string().contains("Thành phố Hà Nội"),
        "{answer}"
    );
    assert_eq!(count(&app.env, "SELECT COUNT(*) AS n FROM enrolments"), 0);

    // Without the unit type, in another case, without diacritics: stored as the list spells it.
    body["identity"]["permanent_address"]["province"] = json!("nghe an");
    body["identity"]["permanent_address"]["ward"] = json!("truong vinh");
    body["identity"]["current_address"]["province"] = json!("TP Hồ Chí Minh");
    let (status, answer) = submit(&app, &key, "nghe-an", &body).await;
    assert_eq!(status, 201, "{answer}");
    let id = answer["id"].as_str().unwrap().to_string();
    let store = ca_enrol::app::open_store(&app.env.config()).unwrap();
    let row = store
        .read(move |tx| tx.enrolment_by_id(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.permanent_province, "Tỉnh Nghệ An");
    assert_eq!(row.permanent_ward, "Phường Trường Vinh");
    assert_eq!(
        row.current_province.as_deref(),
        Some("Thành phố Hồ Chí Minh")
    );
    assert_eq!(row.current_ward.as_deref(), Some("Phường Sài Gòn"));
}

#[tokio::test]
async fn the_openapi_document_describes_the_enrolment_and_verification_endpoints() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/v1/enrolments",
        "/v1/enrolments/{id}",
        "/v1/enrolments/{id}/documents/{kind}",
        "/v1/enrolments/{id}/withdraw",
        "/v1/enrolments/{id}/video-call",
        "/v1/verification/claim",
        "/v1/verification/{id}/lease",
        "/v1/verification/{id}/outcome",
        "/v1/verification/stats",
    ] {
        assert!(paths.contains_key(p), "{p} missing: {:?}", paths.keys());
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["EnrolmentRequest"]["example"].is_object());
    assert!(schemas["OutcomeRequest"]["example"].is_object());
    let get_doc = &doc["paths"]["/v1/enrolments/{id}/documents/{kind}"]["get"];
    let content = get_doc["responses"]["200"]["content"].as_object().unwrap();
    assert!(
        content.contains_key("image/jpeg") && content.contains_key("image/png"),
        "{content:?}"
    );
}

#[tokio::test]
async fn a_jpeg_header_followed_by_html_is_refused_as_undecodable() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let op = staff(&mut app, "vc.one", "operator").await;
    let id = enrol(&app, &key, &application("app_ekyc", &id_number(1))).await;
    let mut fake = jpeg("x")[..20].to_vec();
    fake.extend_from_slice(b"<html><body><script>alert(document.cookie)</script></body></html>");
    let (status, body) = put_document(&app, &key, &id, "id_front", fake, "image/jpeg").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("document_undecodable")),
        "{body}"
    );
    let (status, body) = app
        .get(
            &format!("/api/v1/enrolments/{id}/documents/id_front"),
            Some(&op),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("document_not_found"))
    );
}

#[tokio::test]
async fn an_image_below_the_minimum_size_is_refused_naming_the_minimum() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let id = enrol(&app, &key, &application("app_ekyc", &id_number(1))).await;
    let encode = |w, h| {
        let mut out = Vec::new();
        picture_sized("small", w, h)
            .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
                &mut out, 90,
            ))
            .unwrap();
        out
    };
    for (kind, (w, h), minimum) in [
        ("id_front", (599, 400), "600×400"),
        ("id_back", (400, 399), "600×400"),
        ("portrait", (479, 360), "480×360"),
        ("liveness", (360, 300), "480×360"),
    ] {
        let (status, body) = put_document(&app, &key, &id, kind, encode(w, h), "image/jpeg").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("document_too_small")),
            "{kind}: {body}"
        );
        assert!(
            body["message"].as_str().unwrap().contains(minimum),
            "{body}"
        );
        assert!(
            body["message_vi"].as_str().unwrap().contains(minimum),
            "{body}"
        );
    }
    // Either orientation: an ID card photographed upright, a portrait in landscape.
    for (kind, (w, h)) in [("id_front", (400, 600)), ("portrait", (480, 360))] {
        let (status, body) = put_document(&app, &key, &id, kind, encode(w, h), "image/jpeg").await;
        assert_eq!(status, 200, "{kind}: {body}");
    }
}

#[tokio::test]
async fn exif_and_trailing_bytes_are_stripped_and_the_image_comes_back_at_its_size() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    // Nobody holds a call on this dossier, so an RA officer may read it.
    let op = staff(&mut app, "ra.one", "ra_officer").await;
    let id = enrol(&app, &key, &application("app_ekyc", &id_number(1))).await;
    // A phone photo's EXIF (camera, GPS position) and a payload after the image's end.
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    exif.extend_from_slice(b"GPS 21.0285N 105.8542E Camera Model X");
    let mut upload = with_segment(&jpeg("exif"), 0xE1, &exif);
    upload.extend_from_slice(b"<html>after the end</html>");
    let (status, stored_info) =
        put_document(&app, &key, &id, "portrait", upload.clone(), "image/jpeg").await;
    assert_eq!(status, 200, "{stored_info}");
    let (status, _) = put_document(&app, &key, &id, "liveness", png("png"), "image/png").await;
    assert_eq!(status, 200);

    let read = |kind: &'static str| {
        let req = app
            .http
            .get(app.url(&format!("/api/v1/enrolments/{id}/documents/{kind}")))
            .bearer_auth(&op);
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let ty = resp.headers()["content-type"].to_str().unwrap().to_string();
            (ty, resp.bytes().await.unwrap().to_vec())
        }
    };
    let (ty, served) = read("portrait").await;
    assert_eq!(ty, "image/jpeg");
    assert_eq!(
        stored_info["sha256"],
        ca_enrol::secrets::sha256_hex(&served)
    );
    assert_eq!(stored_info["size_bytes"], served.len());
    // No APP1 segment, no EXIF, no comment, nothing after EOI.
    assert!(!served.windows(2).any(|w| w == [0xFF, 0xE1]));
    assert!(!served.windows(4).any(|w| w == b"Exif"));
    assert!(!served.windows(3).any(|w| w == b"GPS"));
    assert!(!served.windows(9).any(|w| w == b"FACE-DATA"));
    assert!(!served.windows(6).any(|w| w == b"<html>"));
    assert!(served.ends_with(&[0xFF, 0xD9]));
    // The same picture: same size, pixels within JPEG's re-encoding error.
    let decoded = image::load_from_memory_with_format(&served, image::ImageFormat::Jpeg)
        .unwrap()
        .to_rgb8();
    let original = picture("exif").to_rgb8();
    assert_eq!(decoded.dimensions(), original.dimensions());
    let diff: u64 = decoded
        .as_raw()
        .iter()
        .zip(original.as_raw())
        .map(|(a, b)| u64::from(a.abs_diff(*b)))
        .sum();
    let mean = diff as f64 / original.as_raw().len() as f64;
    assert!(mean < 4.0, "mean difference {mean}");

    // A PNG stays a PNG, pixel for pixel.
    let (ty, served) = read("liveness").await;
    assert_eq!(ty, "image/png");
    let decoded = image::load_from_memory_with_format(&served, image::ImageFormat::Png).unwrap();
    assert_eq!(decoded.to_rgb8(), picture("png").to_rgb8());
}
