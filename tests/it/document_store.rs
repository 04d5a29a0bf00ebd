//! Identity documents in S3-compatible object storage (#21), against a real single-node
//! Garage (`common::garage`): stored encrypted under random keys, read back and checked,
//! shredded (nothing recoverable in the row or the bucket), swept, migrated both ways, and an
//! outage that refuses uploads with 503 while the rest keeps working. Every test returns
//! early, saying so, when the `garage` binary is absent.

use std::sync::Arc;
use std::time::Duration;

use ca_enrol::document_store::{Backend, ObjectStorageSettings};
use diesel::sql_types::{Nullable, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use serde_json::json;

use crate::common::enrol::{
    application, count, enrol, enrol_key, holds_part_of, id_number, jpeg, put_document, staff,
    stored, upload_all,
};
use crate::common::garage::{self, Garage};
use crate::common::{TestApp, TestEnv};

/// The bucket as anyone holding its credentials sees it (no ca-enrol code in between).
fn raw_bucket(s: &ObjectStorageSettings) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(&s.endpoint)
            .with_region(&s.region)
            .with_bucket_name(&s.bucket)
            .with_access_key_id(&s.access_key_id)
            .with_secret_access_key(s.secret_access_key.expose())
            .with_allow_http(true)
            .build()
            .unwrap(),
    )
}

async fn objects_in(bucket: &Arc<dyn ObjectStore>) -> Vec<String> {
    use futures::TryStreamExt;
    let mut keys: Vec<String> = bucket
        .list(Some(&Path::from("documents")))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

#[derive(QueryableByName)]
struct Placement {
    #[diesel(sql_type = Nullable<Text>)]
    object_key: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    in_row: Option<String>,
}

/// Each document row of the enrolment: (object key, whether the ciphertext is in the row).
fn placements(env: &TestEnv, enrolment: &str) -> Vec<(Option<String>, bool)> {
    let sql = format!(
        "SELECT object_key, CASE WHEN sealed IS NULL THEN NULL ELSE 'y' END AS in_row \
         FROM enrolment_documents WHERE enrolment_id = '{enrolment}' ORDER BY kind"
    );
    let rows: Vec<Placement> = if env.database_url.is_empty() {
        let path = env.data_dir().join("ca-enrol.db");
        let mut c = diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        diesel::sql_query(sql).load(&mut c).unwrap()
    } else {
        let mut c = diesel::pg::PgConnection::establish(&env.database_url).unwrap();
        diesel::sql_query(sql).load(&mut c).unwrap()
    };
    rows.into_iter()
        .map(|r| (r.object_key, r.in_row.is_some()))
        .collect()
}

async fn read_document(app: &TestApp, token: &str, id: &str, kind: &str) -> (u16, Vec<u8>) {
    let resp = app
        .http
        .get(app.url(&format!("/api/v1/enrolments/{id}/documents/{kind}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap().to_vec())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn documents_live_encrypted_in_the_bucket_and_shredding_leaves_nothing_recoverable() {
    if garage::absent("documents_live_encrypted_in_the_bucket") {
        return;
    }
    let node = garage::shared().unwrap();
    let mut settings = None;
    let mut app = TestApp::spawn_with(TestEnv::new(), |c| {
        node.use_for(c);
        settings = Some(c.documents.object_storage.clone());
    })
    .await;
    let bucket = raw_bucket(&settings.unwrap());
    let key = enrol_key(&mut app).await;
    let op = staff(&mut app, "vc.one", "operator").await;
    let id = enrol(&app, &key, &application("app_ekyc", &id_number(1))).await;
    upload_all(&app, &key, &id).await;
    claim(&app, &op).await;

    // Rows point to objects and hold no ciphertext; the keys say nothing about the applicant.
    let placed = placements(&app.env, &id);
    assert_eq!(placed.len(), 4);
    let objects: Vec<String> = placed
        .iter()
        .map(|(object, in_row)| {
            assert!(!in_row);
            object.clone().unwrap()
        })
        .collect();
    let mut listed = objects.clone();
    listed.sort();
    assert_eq!(objects_in(&bucket).await, listed);
    let images: Vec<Vec<u8>> = ["id_front", "id_back", "portrait", "liveness"]
        .iter()
        .map(|kind| stored(&jpeg(kind)))
        .collect();
    for object in &objects {
        assert!(!object.contains(&id) && !object.contains(&id_number(1)));
        let raw = bucket.get(&Path::from(object.as_str())).await.unwrap();
        let raw = raw.bytes().await.unwrap();
        assert!(!contains(&raw, b"FACE-DATA"), "the object is ciphertext");
        assert!(images.iter().all(|image| !holds_part_of(&raw, image)));
    }
    // Read back through the API, checked against the row's SHA-256.
    let (status, bytes) = read_document(&app, &op, &id, "portrait").await;
    assert_eq!((status, bytes), (200, stored(&jpeg("portrait"))));

    // Withdrawal shreds: the key rows go with the rows, then the objects.
    let (status, view) = app
        .post(
            &format!("/api/v1/enrolments/{id}/withdraw"),
            Some(&key),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert!(placements(&app.env, &id).is_empty());
    assert_eq!(
        count(
            &app.env,
            "SELECT COUNT(*) AS n FROM data_keys WHERE purpose = 'document'"
        ),
        0
    );
    assert!(objects_in(&bucket).await.is_empty());
    for object in &objects {
        assert!(matches!(
            bucket.get(&Path::from(object.as_str())).await,
            Err(object_store::Error::NotFound { .. })
        ));
    }
    let (status, _) = read_document(&app, &op, &id, "portrait").await;
    assert_eq!(status, 404);
}

/// The operator takes the next call from the queue (the lease that lets them see its images).
async fn claim(app: &TestApp, op: &str) {
    let (status, claimed) = app
        .post("/api/v1/verification/claim", Some(op), json!({}))
        .await;
    assert_eq!(status, 200, "{claimed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_document_leaves_the_bucket_and_a_tampered_object_is_a_coded_error() {
    if garage::absent("a_replaced_document_leaves_the_bucket") {
        return;
    }
    let node = garage::shared().unwrap();
    let mut settings = None;
    let mut app = TestApp::spawn_with(TestEnv::new(), |c| {
        node.use_for(c);
        settings = Some(c.documents.object_storage.clone());
    })
    .await;
    let bucket = raw_bucket(&settings.unwrap());
    let key = enrol_key(&mut app).await;
    // Not queued (one document): an RA officer may read it.
    let op = staff(&mut app, "ra.one", "ra_officer").await;
    let id = enrol(&app, &key, &application("app_ekyc", &id_number(2))).await;
    let (status, body) = put_document(&app, &key, &id, "portrait", jpeg("a"), "image/jpeg").await;
    assert_eq!(status, 200, "{body}");
    let first = objects_in(&bucket).await;
    assert_eq!(first.len(), 1);
    let (status, body) = put_document(&app, &key, &id, "portrait", jpeg("b"), "image/jpeg").await;
    assert_eq!(status, 200, "{body}");
    let second = objects_in(&bucket).await;
    assert_eq!(second.len(), 1);
    assert_ne!(first, second);

    // Someone with the bucket's credentials overwrites the object: refused with a code.
    bucket
        .put(
            &Path::from(second[0].as_str()),
            PutPayload::from(b"not what was stored".to_vec()),
        )
        .await
        .unwrap();
    let (status, body) = app
        .get(
            &format!("/api/v1/enrolments/{id}/documents/portrait"),
            Some(&op),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("document_unreadable"))
    );
    // Gone altogether: the same.
    bucket
        .delete(&Path::from(second[0].as_str()))
        .await
        .unwrap();
    let (status, body) = app
        .get(
            &format!("/api/v1/enrolments/{id}/documents/portrait"),
            Some(&op),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("document_unreadable"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sweeper_deletes_only_objects_no_row_points_to() {
    if garage::absent("the_sweeper_deletes_only_objects_no_row_points_to") {
        return;
    }
    let node = garage::shared().unwrap();
    let mut settings = None;
    let mut app = TestApp::spawn_with(TestEnv::new(), |c| {
        node.use_for(c);
        settings = Some(c.documents.object_storage.clone());
    })
    .await;
    let bucket = raw_bucket(&settings.clone().unwrap());
    let key = enrol_key(&mut app).await;
    let id = enrol(&app, &key, &application("app_ekyc", &id_number(3))).await;
    let (status, body) =
        put_document(&app, &key, &id, "portrait", jpeg("kept"), "image/jpeg").await;
    assert_eq!(status, 200, "{body}");
    let kept = objects_in(&bucket).await;
    // An upload whose row never committed (a crash between the two).
    let orphan = app
        .state
        .documents
        .upload(b"orphan".to_vec())
        .await
        .unwrap();
    assert_eq!(objects_in(&bucket).await.len(), 2);

    // Within the grace period nothing goes.
    let swept = app
        .state
        .documents
        .sweep(&app.state.store, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(swept, 0);
    // Past it, the orphan goes and the referenced object stays.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let swept = app
        .state
        .documents
        .sweep(&app.state.store, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(swept, 1);
    assert_eq!(objects_in(&bucket).await, kept);
    assert!(!kept.contains(&orphan));
}

#[tokio::test(flavor = "multi_thread")]
async fn documents_migrate_to_object_storage_and_back_resumably_and_audited() {
    if garage::absent("documents_migrate_to_object_storage_and_back") {
        return;
    }
    let node = garage::shared().unwrap();
    let env = TestEnv::new();
    let bucket_name = node.bucket();
    let settings = node.settings(&bucket_name);
    let s = settings.clone();
    // Documents go to the database; the object store is configured (migration target).
    let mut app = TestApp::spawn_with(env, move |c| {
        c.documents.store = Backend::Database;
        c.documents.object_storage = s;
    })
    .await;
    let bucket = raw_bucket(&settings);
    let key = enrol_key(&mut app).await;
    let op = staff(&mut app, "vc.one", "operator").await;
    let id = enrol(&app, &key, &application("app_ekyc", &id_number(4))).await;
    upload_all(&app, &key, &id).await;
    claim(&app, &op).await;
    assert!(placements(&app.env, &id)
        .iter()
        .all(|(o, in_row)| o.is_none() && *in_row));

    let migrate = |to: &str, extra: &[&str]| {
        let mut cmd = app.env.command(&["documents", "migrate", "--to", to]);
        cmd.args(extra)
            .env(
                "CA_ENROL_DOCUMENTS__OBJECT_STORAGE__ENDPOINT",
                &settings.endpoint,
            )
            .env(
                "CA_ENROL_DOCUMENTS__OBJECT_STORAGE__BUCKET",
                &settings.bucket,
            )
            .env(
                "CA_ENROL_DOCUMENTS__OBJECT_STORAGE__ACCESS_KEY_ID",
                &settings.access_key_id,
            )
            .env(
                "CA_ENROL_DOCUMENTS__OBJECT_STORAGE__SECRET_ACCESS_KEY",
                settings.secret_access_key.expose(),
            );
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let bytes: i64 = ["id_front", "id_back", "portrait", "liveness"]
        .iter()
        .map(|k| i64::try_from(stored(&jpeg(k)).len()).unwrap())
        .sum();

    // Dry run: counts and bytes, nothing moves.
    let out = migrate("object-storage", &["--dry-run"]);
    assert!(
        out.contains(&format!("in the database: 4 document(s), {bytes} bytes")),
        "{out}"
    );
    assert!(objects_in(&bucket).await.is_empty());

    // Three at a time: two batches, each audited.
    let out = migrate("object-storage", &["--batch", "3"]);
    assert!(
        out.contains(&format!(
            "moved 4 document(s), {bytes} bytes, to object-storage in 2 batch(es)"
        )),
        "{out}"
    );
    let placed = placements(&app.env, &id);
    assert!(placed.iter().all(|(o, in_row)| o.is_some() && !in_row));
    assert_eq!(objects_in(&bucket).await.len(), 4);
    let (status, bytes_read) = read_document(&app, &op, &id, "id_back").await;
    assert_eq!((status, bytes_read), (200, stored(&jpeg("id_back"))));
    // Run again: nothing left to move.
    let out = migrate("object-storage", &[]);
    assert!(out.contains("moved 0 document(s)"), "{out}");

    let out = migrate("database", &[]);
    assert!(out.contains("moved 4 document(s)"), "{out}");
    assert!(placements(&app.env, &id)
        .iter()
        .all(|(o, in_row)| o.is_none() && *in_row));
    assert!(objects_in(&bucket).await.is_empty());
    let (status, bytes_read) = read_document(&app, &op, &id, "liveness").await;
    assert_eq!((status, bytes_read), (200, stored(&jpeg("liveness"))));

    let audit = crate::common::enrol::audit_actions(&mut app, "documents.migrated").await;
    assert_eq!(audit.len(), 3, "two batches there, one back");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_store_outage_refuses_uploads_with_503_and_the_rest_keeps_working() {
    if garage::absent("an_object_store_outage_refuses_uploads_with_503") {
        return;
    }
    let node = Garage::start();
    let mut app = TestApp::spawn_with(TestEnv::new(), |c| {
        node.use_for(c);
    })
    .await;
    let key = enrol_key(&mut app).await;
    // Not queued (two documents at most): an RA officer may read them.
    let op = staff(&mut app, "ra.one", "ra_officer").await;
    let id = enrol(&app, &key, &application("app_ekyc", &id_number(5))).await;
    let (status, body) = put_document(&app, &key, &id, "portrait", jpeg("p"), "image/jpeg").await;
    assert_eq!(status, 200, "{body}");
    let (status, ready) = app.get("/readyz", None).await;
    assert_eq!(
        (status, ready["document_store"].as_str()),
        (200, Some("ok"))
    );

    node.stop();
    let (status, body) = put_document(&app, &key, &id, "id_front", jpeg("f"), "image/jpeg").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("document_store_unavailable")),
        "{body}"
    );
    assert!(body["retry_after_seconds"].as_u64().is_some());
    let (status, body) = app
        .get(
            &format!("/api/v1/enrolments/{id}/documents/portrait"),
            Some(&op),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("document_store_unavailable"))
    );
    // Readiness reports it and stays 200: OCSP, issuance and the rest do not need it.
    let (status, ready) = app.get("/readyz", None).await;
    assert_eq!(
        (
            status,
            ready["document_store"].as_str(),
            ready["database"].as_str()
        ),
        (200, Some("unavailable"), Some("ok"))
    );
    let (status, view) = app
        .get(&format!("/api/v1/enrolments/{id}"), Some(&key))
        .await;
    assert_eq!(status, 200, "{view}");
    let other = enrol(&app, &key, &application("app_ekyc", &id_number(6))).await;
    assert!(!other.is_empty());

    node.restart();
    let (status, body) = put_document(&app, &key, &id, "id_front", jpeg("f"), "image/jpeg").await;
    assert_eq!(status, 200, "{body}");
    let (status, bytes) = read_document(&app, &op, &id, "portrait").await;
    assert_eq!((status, bytes), (200, stored(&jpeg("p"))));
    let (status, ready) = app.get("/readyz", None).await;
    assert_eq!(
        (status, ready["document_store"].as_str()),
        (200, Some("ok"))
    );
}
