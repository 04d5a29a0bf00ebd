//! The citizen's documents as PDF (issue #13), checked with tools we did not write: pdftotext
//! gives back every Vietnamese letter (NFC), pdffonts shows every font embedded, qpdf finds no
//! damage, pdfsig and pyHanko find the provider's seal valid and trusted against the
//! development root, pdftoppm draws a page that is not blank. The signed versions carry the
//! evidence of the code that signed them, and no stored byte can be changed.

use std::path::{Path, PathBuf};

use serde_json::json;
use unicode_normalization::UnicodeNormalization;

use crate::common::certificates::{accept, Citizen};
use crate::common::enrol::enrol_key;
use crate::common::seal::{assert_seal_checks_out, tool};
use crate::common::TestApp;
use crate::contract::try_sql;

const NAME: &str = "Nguyễn Thị Thuỷ Tiên";
const WARD: &str = "Phường Buôn Ma Thuột";
const PROVINCE: &str = "Tỉnh Đắk Lắk";

/// `<target>/documents/`: the PDFs and the page images, kept for people to look at.
fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap_or(Path::new(env!("CARGO_TARGET_TMPDIR")))
        .join("documents");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn get_pdf(
    app: &TestApp,
    key: &str,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(key)
        .header("Accept", "application/pdf")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn text_of(pdf: &Path) -> String {
    let (ok, text) = tool(
        "pdftotext",
        &[&pdf.to_string_lossy(), "-"],
        "apt-get install poppler-utils",
    );
    assert!(ok, "pdftotext failed: {text}");
    text
}

/// How many samples of a PNG (grey or colour channels) are darker than mid-grey.
fn dark_pixels(png: &Path) -> usize {
    let decoder = png::Decoder::new(std::io::Cursor::new(std::fs::read(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf[..info.buffer_size()]
        .iter()
        .filter(|&&v| v < 128)
        .count()
}

/// `target/document-screenshots/`: page 1 and the signature page of each signed document,
/// for people to look at.
fn screenshot_dir() -> PathBuf {
    let dir = out_dir()
        .parent()
        .unwrap_or(Path::new(env!("CARGO_TARGET_TMPDIR")))
        .join("document-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Draws page 1 and the signature page (the one with Bên A's block) of `pdf` with
/// `pdftoppm` as `<name>-page1.png` and `<name>-signature-page.png`; neither is blank.
fn screenshots(pdf: &Path, name: &str) {
    let file = pdf.to_string_lossy().to_string();
    let (ok, info) = tool("pdfinfo", &[&file], "poppler-utils");
    assert!(ok, "{info}");
    let pages: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("pdfinfo names the page count");
    let signature_page = (1..=pages)
        .find(|page| {
            let page = page.to_string();
            let (ok, text) = tool(
                "pdftotext",
                &["-f", &page, "-l", &page, &file, "-"],
                "poppler-utils",
            );
            ok && text.contains("ĐẠI DIỆN BÊN A")
        })
        .expect("a page with the signature blocks");
    for (page, suffix) in [(1, "page1"), (signature_page, "signature-page")] {
        let stem = screenshot_dir().join(format!("{name}-{suffix}"));
        let page = page.to_string();
        let (ok, out) = tool(
            "pdftoppm",
            &[
                "-r",
                "80",
                "-png",
                "-singlefile",
                "-f",
                &page,
                "-l",
                &page,
                &file,
                &stem.to_string_lossy(),
            ],
            "poppler-utils",
        );
        assert!(ok, "{out}");
        let png = stem.with_extension("png");
        let dark = dark_pixels(&png);
        assert!(dark > 500, "{}: blank ({dark} dark samples)", png.display());
    }
}

/// Every check a stored PDF passes; `name` names the files under `target/documents/`.
fn check_pdf(bytes: &[u8], name: &str) -> String {
    assert!(bytes.starts_with(b"%PDF-"), "{name} is not a PDF");
    let path = out_dir().join(format!("{name}.pdf"));
    std::fs::write(&path, bytes).unwrap();
    let text = text_of(&path);
    assert_eq!(text, text.nfc().collect::<String>(), "{name}: text not NFC");
    for needle in [NAME, WARD, "Đắk Lắk"] {
        assert!(text.contains(needle), "{name} lacks {needle}:\n{text}");
    }
    assert!(text.contains("Trang 1/"), "{name} has no page numbers");
    let (ok, fonts) = tool("pdffonts", &[&path.to_string_lossy()], "poppler-utils");
    assert!(ok, "{fonts}");
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "{name}: no fonts\n{fonts}");
    for row in &rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        // name, type…, encoding, emb, sub, uni, object, generation: emb is 5th from the end.
        assert_eq!(
            cols[cols.len() - 5],
            "yes",
            "{name}: font not embedded: {row}"
        );
    }
    let (ok, check) = tool("qpdf", &["--check", &path.to_string_lossy()], "qpdf");
    assert!(ok, "{name}: qpdf --check: {check}");
    // Page 1 as an image, not blank: some pixels are dark.
    let stem = out_dir().join(format!("{name}-page"));
    let (ok, out) = tool(
        "pdftoppm",
        &[
            "-r",
            "40",
            "-gray",
            "-png",
            &path.to_string_lossy(),
            &stem.to_string_lossy(),
        ],
        "poppler-utils",
    );
    assert!(ok, "{out}");
    let first = std::fs::read_dir(out_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let f = p.file_name().unwrap().to_string_lossy().to_string();
            f.starts_with(&format!("{name}-page-")) && f.ends_with("1.png")
        })
        .expect("pdftoppm wrote page 1");
    let dark = dark_pixels(&first);
    assert!(dark > 500, "{name}: page 1 is blank ({dark} dark pixels)");
    text
}

#[tokio::test]
async fn the_documents_are_pdfs_that_outside_tools_read_and_the_signed_ones_are_sealed() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let citizen = Citizen::new(7, (WARD, PROVINCE));
    let mut body = citizen.application();
    body["identity"]["full_name"] = json!(NAME);
    let enrolment = crate::common::enrol::enrol(&app, &key, &body).await;
    let (status, contract) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/contract"),
            Some(&key),
            json!({"package_code": "PS0"}),
        )
        .await;
    assert_eq!(status, 201, "{contract}");
    let id = contract["id"].as_str().unwrap().to_string();
    let number = contract["number"].as_str().unwrap().to_string();

    // The signed version does not exist before signing.
    let (status, _, body) = get_pdf(
        &app,
        &key,
        &format!("/api/v1/contracts/{id}/signed-document"),
    )
    .await;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("contract_not_signed"));

    // The draft, as PDF on request.
    let (status, headers, draft) =
        get_pdf(&app, &key, &format!("/api/v1/contracts/{id}/document")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        headers["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"{number}.pdf\"")
    );
    let draft_sha256 = ca_enrol::secrets::sha256_hex(&draft);
    assert_eq!(
        headers["etag"].to_str().unwrap(),
        format!("\"{draft_sha256}\"")
    );
    let text = check_pdf(&draft, "contract-draft");
    assert!(text.contains("HỢP ĐỒNG CUNG CẤP VÀ SỬ DỤNG DỊCH VỤ"));
    assert!(
        text.contains("0912 345 6"),
        "phone numbers in the national format"
    );
    for internal in [
        "ps-personal-v1",
        ca_enrol::documents::CONTRACT_TEMPLATE,
        &enrolment,
        "UID=",
        "CCCD:",
    ] {
        assert!(!text.contains(internal), "the draft shows {internal}");
    }

    // Signed with the SMS code, relayed IP and user agent.
    let phone = citizen.phone_e164();
    let (status, sent) = crate::common::contract::send_otp(&app, &key, &id).await;
    assert_eq!(status, 201, "{sent}");
    let code = app.nth_otp(&phone, 1).await;
    let (status, signed) = crate::common::contract::sign(
        &app,
        &key,
        &id,
        json!({"agree": true, "signature_image": crate::common::contract::signature(),
               "otp_code": code, "challenge_id": sent["challenge_id"],
               "client_ip": "203.0.113.7", "user_agent": "SmartCA/5.2 (Android 14)"}),
    )
    .await;
    assert_eq!(status, 200, "{signed}");
    let (status, headers, sealed) = get_pdf(
        &app,
        &key,
        &format!("/api/v1/contracts/{id}/signed-document"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/pdf");
    let text = check_pdf(&sealed, "contract-signed");
    let challenge = sent["challenge_id"].as_str().unwrap();
    let masked = sent["masked_destination"].as_str().unwrap();
    for evidence in [
        draft_sha256.as_str(),
        challenge,
        masked,
        "203.0.113.7",
        "SmartCA/5.2",
    ] {
        assert!(
            text.contains(evidence),
            "the signed contract lacks {evidence}:\n{text}"
        );
    }
    let path = out_dir().join("contract-signed.pdf");
    screenshots(&path, "contract");
    let ca = app.env.ca_root();
    assert_seal_checks_out(&path, &ca.join("root.pem"), &ca.join("issuing.pem"));

    // The acceptance record, then its accepted, sealed version.
    let (status, certificate) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/certificate"),
            Some(&key),
            json!({ "csr": crate::common::certificates::csr_pem() }),
        )
        .await;
    assert_eq!(status, 201, "{certificate}");
    let serial = certificate["serial"].as_str().unwrap().to_string();
    let record_path = format!("/api/v1/certificates/{serial}/acceptance-record");
    let (status, _, _) = get_pdf(&app, &key, &format!("{record_path}/signed")).await;
    assert_eq!(status, 409);
    let (status, headers, record) = get_pdf(&app, &key, &record_path).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-disposition"].to_str().unwrap(),
        format!(
            "attachment; filename=\"BBNT-{}.pdf\"",
            serial.to_ascii_uppercase()
        )
    );
    let text = check_pdf(&record, "acceptance-record");
    assert!(text.contains("BIÊN BẢN NGHIỆM THU VÀ BÀN GIAO CHỨNG THƯ SỐ"));
    assert!(!text.contains("CN="), "no raw distinguished name");
    accept(&app, &key, &citizen, &serial).await;
    let (status, _, accepted) = get_pdf(&app, &key, &format!("{record_path}/signed")).await;
    assert_eq!(status, 200);
    let text = check_pdf(&accepted, "acceptance-signed");
    assert!(text.contains(&ca_enrol::secrets::sha256_hex(&record)));
    let path = out_dir().join("acceptance-signed.pdf");
    screenshots(&path, "acceptance");
    assert_seal_checks_out(&path, &ca.join("root.pem"), &ca.join("issuing.pem"));

    // Stored once: not one byte changes, even by SQL.
    for (kind, subject) in [
        ("contract_draft", id.as_str()),
        ("contract_signed", id.as_str()),
        ("acceptance_record", serial.as_str()),
        ("acceptance_signed", serial.as_str()),
    ] {
        for sql in [
            format!(
                "UPDATE pdf_documents SET document_sha256 = 'x' \
                 WHERE kind = '{kind}' AND subject = '{subject}'"
            ),
            format!("DELETE FROM pdf_documents WHERE kind = '{kind}' AND subject = '{subject}'"),
        ] {
            assert!(try_sql(&app.env, &sql).is_err(), "{sql} was allowed");
        }
    }
    // On PostgreSQL all four are stored compressed, with lz4 (pglz left three of them as they
    // were, after trying).
    if !app.env.database_url.is_empty() {
        app.env.sql(
            "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pdf_documents \
             WHERE pg_column_compression(document) IS DISTINCT FROM 'lz4') \
             THEN RAISE EXCEPTION 'a PDF stored without lz4'; END IF; END $$",
        );
    }
    let (_, _, again) = get_pdf(
        &app,
        &key,
        &format!("/api/v1/contracts/{id}/signed-document"),
    )
    .await;
    assert_eq!(again, sealed);
}

#[test]
fn a_production_start_without_the_providers_identity_names_each_missing_field() {
    let env = crate::common::TestEnv::new();
    let out = env
        .command(&["serve"])
        .env("CA_ENROL_ENVIRONMENT", "production")
        .env(
            "CA_ENROL_CONTRACT__PROVIDER__NAME",
            "Công ty Cổ phần Chứng thực số Ví Dụ",
        )
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "contract.provider.address",
        "contract.provider.tax_code",
        "contract.provider.licence_number",
        "contract.provider.licence_date",
        "contract.provider.representative",
        "contract.provider.hotline",
        "contract.provider.cps_url",
    ] {
        assert!(err.contains(key), "{key} not named: {err}");
    }
    for set in ["contract.provider.name", "website"] {
        assert!(
            !err.contains(set),
            "{set} is set (the website defaults): {err}"
        );
    }
}

/// The draft contract of a new enrolment in an app whose environment is `environment`, as
/// `pdftotext -raw` reads it, without white space.
async fn draft_text(environment: ca_enrol::contract::Environment, name: &str) -> String {
    let mut app = TestApp::spawn_with(crate::common::TestEnv::new(), |c| {
        c.environment = environment;
        let p = &mut c.contract.provider;
        p.name = "Công ty Cổ phần Chứng thực số Ví Dụ".into();
        p.address = "Số 8 Phố Huế, Phường Hai Bà Trưng, Thành phố Hà Nội".into();
        p.tax_code = "0109999999".into();
        p.licence_number = "123/GP-BKHCN".into();
        p.licence_date = "15/03/2026".into();
        p.representative = "Trần Văn Bình".into();
        p.representative_title = "Tổng Giám đốc".into();
        p.hotline = "1900 6868".into();
        p.email = "hotro@vidu.vn".into();
        p.cps_url = "https://ca.vidu.vn/cps".into();
    })
    .await;
    let key = enrol_key(&mut app).await;
    let citizen = Citizen::new(8, (WARD, PROVINCE));
    let enrolment = crate::common::enrol::enrol(&app, &key, &citizen.application()).await;
    let (status, contract) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/contract"),
            Some(&key),
            json!({"package_code": "PS0"}),
        )
        .await;
    assert_eq!(status, 201, "{contract}");
    let id = contract["id"].as_str().unwrap();
    let (status, _, draft) = get_pdf(&app, &key, &format!("/api/v1/contracts/{id}/document")).await;
    assert_eq!(status, 200);
    let path = out_dir().join(format!("{name}.pdf"));
    std::fs::write(&path, &draft).unwrap();
    // In content-stream order (`-raw`): the diagonal watermark comes out one letter a line,
    // so the comparison drops all white space.
    let (ok, text) = tool(
        "pdftotext",
        &["-raw", &path.to_string_lossy(), "-"],
        "poppler-utils",
    );
    assert!(ok, "pdftotext failed: {text}");
    text.split_whitespace().collect()
}

#[tokio::test]
async fn development_documents_carry_the_watermark_and_production_ones_do_not() {
    use ca_enrol::contract::{Environment, WATERMARK};
    assert_eq!(WATERMARK, "BẢN THỬ NGHIỆM – KHÔNG CÓ GIÁ TRỊ PHÁP LÝ");
    let watermark: String = WATERMARK.split_whitespace().collect();
    let text = draft_text(Environment::Development, "watermark-development").await;
    // On every page (the draft has more than one).
    assert!(
        text.matches(&watermark).count() >= 2,
        "no watermark:\n{text}"
    );
    let text = draft_text(Environment::Production, "watermark-production").await;
    assert!(
        !text.contains(&watermark),
        "a production watermark:\n{text}"
    );
    assert!(text.contains("CôngtyCổphầnChứngthựcsốVíDụ"), "{text}");
}

/// A record whose PDF a previous release made, in a template since replaced, is accepted in
/// that template: the accepted PDF is the record the code was bound to plus the evidence,
/// not a new layout of it.
#[tokio::test]
async fn a_record_made_in_an_older_template_is_accepted_in_that_template() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let citizen = Citizen::new(8, (WARD, PROVINCE));
    let enrolment = crate::common::certificates::contract_signed(&app, &key, &citizen).await;
    let (status, cert) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/certificate"),
            Some(&key),
            json!({ "csr": crate::common::certificates::csr_pem() }),
        )
        .await;
    assert_eq!(status, 201, "{cert}");
    let serial = cert["serial"].as_str().unwrap();
    // The record's PDF as the previous release stored it, before anyone asked for it here
    // (these bytes stand in for it).
    let old = b"%PDF-1.7 acceptance record in acceptance-pdf-v1";
    let hex = hex::encode(old);
    let bytes = if app.env.database_url.is_empty() {
        format!("X'{hex}'")
    } else {
        format!("'\\x{hex}'::bytea")
    };
    app.env.sql(&format!(
        "INSERT INTO pdf_documents \
         (kind, subject, template_version, document, document_sha256, created_at) \
         VALUES ('acceptance_record', '{serial}', 'acceptance-pdf-v1', {bytes}, '{}', \
         CURRENT_TIMESTAMP)",
        ca_enrol::secrets::sha256_hex(old)
    ));
    accept(&app, &key, &citizen, serial).await;

    let record_path = format!("/api/v1/certificates/{serial}/acceptance-record");
    let (status, _, accepted) = get_pdf(&app, &key, &format!("{record_path}/signed")).await;
    assert_eq!(status, 200);
    let path = out_dir().join("acceptance-signed-v1.pdf");
    std::fs::write(&path, &accepted).unwrap();
    let text = text_of(&path);
    assert!(text.contains(&ca_enrol::secrets::sha256_hex(old)), "{text}");
    // Version 1 shows the fingerprint on one line (version 2 in two).
    let fingerprint =
        crate::common::certificates::fingerprint(cert["certificate_pem"].as_str().unwrap());
    assert!(text.contains(&fingerprint), "{text}");
}
