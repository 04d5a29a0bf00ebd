//! Helpers for the enrolment and verification tests: API keys, applications, documents,
//! operators, and raw reads of the database (to look at what is stored).

use chrono::{Datelike, Duration, NaiveDate};
use diesel::sql_types::{BigInt, Binary, Nullable, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl};
use serde_json::{json, Value};

use super::{into_parts, TestApp, TestEnv};

/// A valid personal ID number for a man born in 1990 (`001 0 90 RRRRRR`).
pub fn id_number(n: u32) -> String {
    format!("001090{n:06}")
}

/// A valid application from `source` for ID number `id`; a counter's carries the citizen's
/// consent drawn on the desk's pad.
pub fn application(source: &str, id: &str) -> Value {
    let mut body = json!({
        "source": source,
        "identity": {
            "id_number": id,
            "full_name": "Nguyễn Văn An",
            "date_of_birth": "1990-05-17",
            "sex": "male",
            "nationality": "Việt Nam",
            "permanent_address": {
                "line": "Số 12 phố Hàng Bài",
                "ward": "Phường Cửa Nam",
                "province": "Thành phố Hà Nội"
            },
            "id_issue_date": "2021-06-01",
            "id_issue_place": "Cục Cảnh sát quản lý hành chính về trật tự xã hội",
            "id_expiry_date": "2035-05-17"
        },
        "contact": {"phone": "0912345678", "email": "an.nguyen@example.vn"},
        "consent": {
            "version": "2025-07",
            "text_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "given_at": "2025-12-01T09:30:00+07:00",
            "channel": "app"
        }
    });
    if source == "counter" {
        body["consent"]["channel"] = json!("counter");
        body["consent"]["signature_image"] = json!(super::contract::signature());
    }
    body
}

/// Today's date in Vietnam by the app's clock.
pub fn vietnam_today(app: &TestApp) -> NaiveDate {
    use ca_enrol::clock::Clock;
    (app.clock.now() + Duration::hours(7)).date_naive()
}

/// The ID number digits `G YY` that agree with `sex` and `dob`.
pub fn id_for(dob: NaiveDate, female: bool, n: u32) -> String {
    let g = (dob.year() / 100 - 19) * 2 + i32::from(female);
    format!("001{g}{:02}{n:06}", dob.year() % 100)
}

/// The integration the tests' keys belong to unless they ask for another: the subscriber
/// app's backend, made at its first use.
pub async fn app_integration(app: &mut TestApp) -> String {
    const NAME: &str = "Subscriber app backend";
    let admin = app.admin_token().await;
    let (status, list) = app.get("/api/v1/integrations", Some(&admin)).await;
    assert_eq!(status, 200, "{list}");
    let found = list["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == NAME)
        .map(|i| i["id"].as_str().unwrap().to_string());
    if let Some(id) = found {
        return id;
    }
    let (status, created) = app
        .post("/api/v1/integrations", Some(&admin), json!({"name": NAME}))
        .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

/// Creates an API key with `scopes`, of `integration` (or of a new integration of its own);
/// the admin API's answer (`id`, `key`, `integration_id`, ...).
pub async fn api_key(
    app: &mut TestApp,
    name: &str,
    scopes: Value,
    integration: Option<&str>,
) -> Value {
    let admin = app.admin_token().await;
    let (status, key) = app
        .post(
            "/api/v1/api-keys",
            Some(&admin),
            json!({"name": name, "scopes": scopes, "integration_id": integration}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    key
}

/// Creates an API key of the subscriber app's integration with `scopes`.
pub async fn app_key_with(app: &mut TestApp, name: &str, scopes: &[&str]) -> String {
    let integration = app_integration(app).await;
    let key = api_key(app, name, json!(scopes), Some(&integration)).await;
    key["key"].as_str().unwrap().to_string()
}

/// Creates an API key with scope `enrol` (of the subscriber app's integration).
pub async fn enrol_key(app: &mut TestApp) -> String {
    app_key_with(app, "app backend", &["enrol"]).await
}

/// A signed-in operator (password already changed) with `role`.
pub async fn staff(app: &mut TestApp, username: &str, role: &str) -> String {
    let admin = app.admin_token().await;
    let mut creds = app.create_operator(&admin, username, role).await;
    app.session(&mut creds).await
}

pub async fn submit(app: &TestApp, token: &str, key: &str, body: &Value) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url("/api/v1/enrolments"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    into_parts(resp).await
}

/// Submits and expects 201; returns the enrolment id.
/// VNeID applications take the connector's path (`common::vneid::enrol`): the generic
/// intake refuses them.
pub async fn enrol(app: &TestApp, token: &str, body: &Value) -> String {
    if body["source"] == "vneid" {
        return super::vneid::enrol(app, token, body).await;
    }
    let key = uuid::Uuid::new_v4().to_string();
    let (status, view) = submit(app, token, &key, body).await;
    assert_eq!(status, 201, "{view}");
    view["id"].as_str().unwrap().to_string()
}

pub async fn put_document(
    app: &TestApp,
    token: &str,
    id: &str,
    kind: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> (u16, Value) {
    let resp = app
        .http
        .put(app.url(&format!("/api/v1/enrolments/{id}/documents/{kind}")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    into_parts(resp).await
}

/// A small "JPEG": the magic bytes and a recognisable payload.
/// A real 600×400 JPEG (the smallest ID-card side accepted) whose pixels depend on `tag`,
/// with a comment segment `FACE-DATA-<tag>` (metadata the server strips): a few KB.
pub fn jpeg(tag: &str) -> Vec<u8> {
    let mut out = Vec::new();
    picture(tag)
        .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut out, 90,
        ))
        .unwrap();
    with_segment(&out, 0xFE, format!("FACE-DATA-{tag}").as_bytes())
}

/// A real 600×400 PNG whose pixels depend on `tag`.
pub fn png(tag: &str) -> Vec<u8> {
    let mut out = Vec::new();
    picture(tag)
        .write_with_encoder(image::codecs::png::PngEncoder::new(&mut out))
        .unwrap();
    out
}

/// A flat colour from `tag` with a dark stripe at a row from `tag`.
pub fn picture(tag: &str) -> image::DynamicImage {
    picture_sized(tag, 600, 400)
}

pub fn picture_sized(tag: &str, width: u32, height: u32) -> image::DynamicImage {
    let h = openssl::sha::sha256(tag.as_bytes());
    let stripe = u32::from(h[3]) % (height - 20);
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |_, y| {
        if (stripe..stripe + 20).contains(&y) {
            image::Rgb([h[4] / 4, h[5] / 4, h[6] / 4])
        } else {
            image::Rgb([h[0], h[1], h[2]])
        }
    }))
}

/// `jpeg` with a marker segment (`FF <marker>`, length, `payload`) right after SOI.
pub fn with_segment(jpeg: &[u8], marker: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len() + 2).unwrap().to_be_bytes();
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, marker, len[0], len[1]]);
    out.extend_from_slice(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// What the server stores and serves for an upload of `uploaded`: the image decoded and
/// re-encoded (deterministic, so the same bytes).
pub fn stored(uploaded: &[u8]) -> Vec<u8> {
    use ca_enrol::enrolment::{normalise_image, DocumentKind};
    match normalise_image(DocumentKind::IdFront, uploaded) {
        Ok(image) => image.bytes,
        Err(refusal) => panic!("test image refused: {refusal:?}"),
    }
}

/// Whether `haystack` holds a 32-byte run from the middle of `plain` (ciphertext must not).
pub fn holds_part_of(haystack: &[u8], plain: &[u8]) -> bool {
    let mid = plain.len() / 2;
    let part = &plain[mid..mid + 32];
    haystack.windows(part.len()).any(|w| w == part)
}

/// Uploads all four documents; returns the last answer.
pub async fn upload_all(app: &TestApp, token: &str, id: &str) -> Value {
    let mut last = Value::Null;
    for kind in ["id_front", "id_back", "portrait", "liveness"] {
        let (status, body) =
            put_document(app, token, id, kind, jpeg(kind), "application/octet-stream").await;
        assert_eq!(status, 200, "{body}");
        last = body;
    }
    last
}

pub fn recording() -> Value {
    json!({
        "uri": "s3://vc-recordings/2026/01/05/call.webm",
        "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    })
}

pub fn approval() -> Value {
    json!({
        "outcome": "approved",
        "checklist": {
            "face_matches_portrait_and_id_photo": true,
            "id_document_genuine_and_unexpired": true,
            "data_confirmed_with_applicant": true,
            "applicant_alive_and_present": true,
            "applicant_wants_certificate": true
        },
        "recording": recording()
    })
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Sealed {
    #[diesel(sql_type = Nullable<Binary>)]
    sealed: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    object_key: Option<String>,
    #[diesel(sql_type = Text)]
    sha256: String,
}

/// `SELECT COUNT(*) AS n …` on the test's database.
pub fn count(env: &TestEnv, sql: &str) -> i64 {
    let rows: Vec<Count> = if env.database_url.is_empty() {
        let path = env.data_dir().join("ca-enrol.db");
        let mut c = diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        diesel::sql_query(sql).load(&mut c).unwrap()
    } else {
        let mut c = diesel::pg::PgConnection::establish(&env.database_url).unwrap();
        diesel::sql_query(sql).load(&mut c).unwrap()
    };
    rows[0].n
}

/// The stored (ciphertext, sha256) of one document: from its row, or from the object store
/// when the row points to an object.
pub async fn stored_document(app: &TestApp, enrolment: &str, kind: &str) -> (Vec<u8>, String) {
    let env = &app.env;
    let sql = format!(
        "SELECT sealed, object_key, sha256 FROM enrolment_documents \
         WHERE enrolment_id = '{enrolment}' AND kind = '{kind}'"
    );
    let rows: Vec<Sealed> = if env.database_url.is_empty() {
        let path = env.data_dir().join("ca-enrol.db");
        let mut c = diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        diesel::sql_query(sql).load(&mut c).unwrap()
    } else {
        let mut c = diesel::pg::PgConnection::establish(&env.database_url).unwrap();
        diesel::sql_query(sql).load(&mut c).unwrap()
    };
    let row = rows.into_iter().next().expect("document stored");
    let sealed = match (row.sealed, row.object_key) {
        (Some(sealed), None) => sealed,
        (None, Some(object)) => app.state.documents.fetch(&object).await.unwrap(),
        _ => panic!("a document is in its row or in an object, never both or neither"),
    };
    (sealed, row.sha256)
}

/// Audit events with `action`, as an admin sees them.
pub async fn audit_actions(app: &mut TestApp, action: &str) -> Vec<Value> {
    let admin = app.admin_token().await;
    let (status, page) = app
        .get("/api/v1/audit/events?limit=1000", Some(&admin))
        .await;
    assert_eq!(status, 200, "{page}");
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

/// The enrolment's status as the app reads it.
pub async fn enrolment_status(app: &TestApp, key: &str, id: &str) -> String {
    let (status, body) = app
        .get(&format!("/api/v1/enrolments/{id}"), Some(key))
        .await;
    assert_eq!(status, 200, "{body}");
    body["status"].as_str().unwrap().to_string()
}
