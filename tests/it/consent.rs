//! The desk's consent is the citizen's act (issue #17): the citizen signs under the consent
//! text on the signature pad, the operator witnesses; a registration without that drawing is
//! refused and changes nothing, the API's counter intake included. With it, the enrolment keeps
//! the text's version and SHA-256, and `consent_evidence` the method, the witness and the
//! sealed drawing with its SHA-256, audited in the registration's event.

use diesel::sql_types::{Binary, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl};
use serde_json::{json, Value};

use crate::common;
use crate::web::{counter_fields, post_counter};
use common::enrol::{application, audit_actions, count, holds_part_of, id_number, submit};
use common::web::web_sign_in;
use common::{TestApp, TestEnv};

const CONSENT_TEXT: &str = include_str!("../../templates/web/consent_counter.txt");

#[derive(QueryableByName, Debug)]
struct Evidence {
    #[diesel(sql_type = Text)]
    method: String,
    #[diesel(sql_type = Text)]
    witness: String,
    #[diesel(sql_type = Text)]
    signature_sha256: String,
    #[diesel(sql_type = Binary)]
    signature_image: Vec<u8>,
    #[diesel(sql_type = Text)]
    consent_version: String,
    #[diesel(sql_type = Text)]
    consent_text_sha256: String,
    #[diesel(sql_type = Text)]
    consent_channel: String,
}

/// Every stored consent record, with its enrolment's consent columns and the witness's name.
fn evidence(env: &TestEnv) -> Vec<Evidence> {
    let sql = "SELECT c.method, o.username AS witness, c.signature_sha256, c.signature_image, \
               e.consent_version, e.consent_text_sha256, e.consent_channel \
               FROM consent_evidence c JOIN enrolments e ON e.id = c.enrolment_id \
               JOIN operators o ON o.id = c.witnessed_by";
    if env.database_url.is_empty() {
        let path = env.data_dir().join("ca-enrol.db");
        let mut c = diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        diesel::sql_query(sql).load(&mut c).unwrap()
    } else {
        let mut c = diesel::pg::PgConnection::establish(&env.database_url).unwrap();
        diesel::sql_query(sql).load(&mut c).unwrap()
    }
}

/// Runs `sql` on the test's database, as someone with SQL access would.
fn execute(env: &TestEnv, sql: &str) -> Result<usize, diesel::result::Error> {
    if env.database_url.is_empty() {
        let path = env.data_dir().join("ca-enrol.db");
        let mut c = diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        diesel::sql_query(sql).execute(&mut c)
    } else {
        let mut c = diesel::pg::PgConnection::establish(&env.database_url).unwrap();
        diesel::sql_query(sql).execute(&mut c)
    }
}

/// The drawing the tests sign with, as PNG bytes.
fn drawn_png() -> Vec<u8> {
    common::contract::png(600, 200)
}

fn nothing_registered(app: &TestApp) {
    assert_eq!(count(&app.env, "SELECT COUNT(*) AS n FROM enrolments"), 0);
    assert_eq!(
        count(&app.env, "SELECT COUNT(*) AS n FROM consent_evidence"),
        0
    );
}

fn field_codes(problem: &Value, field: &str) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["field"] == field)
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_desk_form_takes_the_citizens_signature_under_the_consent_text_not_a_tick_box() {
    let mut app = TestApp::spawn().await;
    let op = web_sign_in(&mut app, "operator").await;
    let form = op.get("/counter").await;
    assert_eq!(form.status, 200);
    assert!(
        !form.body.contains("type=\"checkbox\""),
        "no staff tick box"
    );
    assert_eq!(
        form.text_of("consent-version").as_deref(),
        Some("counter-2026-11")
    );
    assert!(form.body.contains("id=\"signature-pad\""));
    assert!(form
        .body
        .contains("<script src=\"/static/signature-pad.js\">"));
    let key = form.field("idempotency_key").unwrap();

    // No drawing: refused beside the pad, in the page's language; nothing stored or audited.
    let mut unsigned = counter_fields("001195000123", "07/03/1995");
    unsigned.retain(|(k, _)| k != "consent.signature_image");
    let refused = post_counter(&op, &key, &unsigned).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(
        refused.text_of("consent-signature-error").as_deref(),
        Some(
            "Công dân phải tự ký vào khung ký để đồng ý xử lý dữ liệu cá nhân; cán bộ không thể \
             đồng ý thay."
        )
    );
    assert_eq!(
        refused.field("identity.full_name").as_deref(),
        Some("Trần Thị Bình"),
        "what was typed is kept"
    );
    op.set_cookie("lang", "en");
    let refused = post_counter(&op, &key, &unsigned).await;
    assert_eq!(refused.status, 422);
    assert_eq!(
        refused.text_of("consent-signature-error").as_deref(),
        Some(
            "The citizen must sign on the pad to consent to the processing of personal data; \
             the officer cannot consent on their behalf."
        )
    );
    op.set_cookie("lang", "vi");

    // A blank pad (no ink) is no signature either.
    let mut blank = unsigned.clone();
    let empty = common::contract::b64(&common::contract::drawn(600, 200, false));
    blank.push((
        "consent.signature_image".into(),
        format!("data:image/png;base64,{empty}"),
    ));
    let refused = post_counter(&op, &key, &blank).await;
    assert_eq!(refused.status, 422);
    assert!(refused
        .text_of("consent-signature-error")
        .is_some_and(|t| t.starts_with("Chữ ký đồng ý không hợp lệ")));
    // The refused drawing comes back in the form (a PNG data URL), for the pad to show.
    assert!(refused
        .field("consent.signature_image")
        .is_some_and(|v| v.starts_with("data:image/png;base64,")));
    nothing_registered(&app);
    assert!(audit_actions(&mut app, "enrolment.submitted")
        .await
        .is_empty());

    // Signed: registered, the evidence stored sealed and audited in the same event.
    let signed = counter_fields("001195000123", "07/03/1995");
    let created = post_counter(&op, &key, &signed).await;
    assert_eq!(created.status, 303, "{}", created.body);
    let id = created
        .location
        .as_deref()
        .and_then(|l| l.strip_prefix("/counter/"))
        .and_then(|l| l.strip_suffix("?created=1"))
        .unwrap()
        .to_string();
    let page = op.get(&format!("/enrolments/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("counter-2026-11 · counter · ")
            && page.body.contains(" · công dân tự ký trên bảng ký"),
        "the enrolment page says how consent was given"
    );
    let rows = evidence(&app.env);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    let png = drawn_png();
    let sha = ca_enrol::secrets::sha256_hex(&png);
    assert_eq!(row.method, "signature_pad");
    assert!(row.witness.starts_with("web-operator-"), "{row:?}");
    assert_eq!(row.signature_sha256, sha);
    assert!(!holds_part_of(&row.signature_image, &png), "sealed at rest");
    assert_eq!(row.consent_version, "counter-2026-11");
    assert_eq!(
        row.consent_text_sha256,
        ca_enrol::secrets::sha256_hex(CONSENT_TEXT.as_bytes())
    );
    assert_eq!(row.consent_channel, "counter");
    let submitted = audit_actions(&mut app, "enrolment.submitted").await;
    assert_eq!(submitted.len(), 1);
    let details: Value = serde_json::from_str(submitted[0]["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["consent_method"], "signature_pad");
    assert_eq!(details["consent_signature_sha256"], sha.as_str());
    assert_eq!(details["consent_version"], "counter-2026-11");
    assert!(details["consent_witnessed_by"].is_string());
    assert_eq!(
        count(
            &app.env,
            "SELECT COUNT(*) AS n FROM data_keys d JOIN consent_evidence c \
             ON c.signature_key_id = d.id WHERE d.purpose = 'signature'"
        ),
        1,
        "the drawing has a data key of its own"
    );
    // What the citizen consented with never changes, even through SQL.
    assert!(execute(
        &app.env,
        "UPDATE consent_evidence SET signature_sha256 = 'x'"
    )
    .is_err());
    assert!(execute(&app.env, "DELETE FROM consent_evidence").is_err());
    assert_eq!(evidence(&app.env)[0].signature_sha256, sha);
}

#[tokio::test]
async fn the_apis_counter_intake_needs_the_citizens_drawing_too() {
    let mut app = TestApp::spawn().await;
    let mut desk = {
        let admin = app.admin_token().await;
        app.create_operator(&admin, "desk.api", "operator").await
    };
    let op = app.session(&mut desk).await;

    let mut unsigned = application("counter", &id_number(1));
    unsigned["consent"]
        .as_object_mut()
        .unwrap()
        .remove("signature_image");
    let (status, problem) = submit(&app, &op, "k1", &unsigned).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        field_codes(&problem, "consent.signature_image"),
        ["consent_signature_required"]
    );

    let mut blank = application("counter", &id_number(1));
    blank["consent"]["signature_image"] = json!(common::contract::b64(&common::contract::drawn(
        600, 200, false
    )));
    let (status, problem) = submit(&app, &op, "k2", &blank).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        field_codes(&problem, "consent.signature_image"),
        ["consent_signature_invalid"]
    );

    // The app's channel records the consent its own screen showed: no desk drawing.
    let key = common::enrol::enrol_key(&mut app).await;
    let mut app_body = application("app_ekyc", &id_number(2));
    app_body["consent"]["signature_image"] = json!(common::contract::signature());
    let (status, problem) = submit(&app, &key, "k3", &app_body).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        field_codes(&problem, "consent.signature_image"),
        ["consent_signature_unexpected"]
    );
    nothing_registered(&app);

    let (status, view) = submit(&app, &op, "k4", &application("counter", &id_number(1))).await;
    assert_eq!(status, 201, "{view}");
    let rows = evidence(&app.env);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].method.as_str(), rows[0].witness.as_str()),
        ("signature_pad", "desk.api")
    );
    assert_eq!(
        rows[0].signature_sha256,
        ca_enrol::secrets::sha256_hex(&drawn_png())
    );
    // Other channels store no desk evidence.
    let (status, view) = submit(&app, &key, "k5", &application("app_ekyc", &id_number(2))).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(evidence(&app.env).len(), 1);
}
