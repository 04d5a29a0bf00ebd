//! The citizen's documents as PDF: typst markup from `templates/` laid out by typst as a
//! library and written as PDF/A-2b by typst-pdf, with the fonts of `templates/fonts/`.
//!
//! Data never enters the markup: each template reads `/data.json` (`json("/data.json")`), and
//! images (the drawn signature) are served as their own virtual files, so a citizen's name
//! cannot inject markup whatever it holds.
//!
//! The fonts, the standard library and the parsed templates are built once per process
//! ([`Engine`] behind a `LazyLock`); typst's own memoisation (comemo) then keeps layout work
//! shared between documents of one template, and forgets what recent renderings did not use.
//!
//! A leaf module: it knows typst and JSON, nothing else of the crate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Duration, Label, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::{LazyHash, PicoStr};
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, PdfStandard, PdfStandards, Timestamp};

/// The templates compiled in, by version. Add a new version beside the old; never edit one
/// that has been used (the stored documents name it).
const TEMPLATES: [(&str, &str); 4] = [
    (
        "contract-pdf-v1",
        include_str!("../../templates/contracts/contract-pdf-v1.typ"),
    ),
    (
        CONTRACT_TEMPLATE,
        include_str!("../../templates/contracts/contract-pdf-v2.typ"),
    ),
    (
        "acceptance-pdf-v1",
        include_str!("../../templates/acceptance/acceptance-pdf-v1.typ"),
    ),
    (
        ACCEPTANCE_TEMPLATE,
        include_str!("../../templates/acceptance/acceptance-pdf-v2.typ"),
    ),
];

/// The contract's template (draft and signed: the signed one adds the evidence section).
pub const CONTRACT_TEMPLATE: &str = "contract-pdf-v2";
/// The acceptance record's template (pending and accepted).
pub const ACCEPTANCE_TEMPLATE: &str = "acceptance-pdf-v2";

/// The compiled-in template named `stored` (a stored document's), else `current`: a document
/// signed or accepted later is made in its unsigned version's layout, plus the evidence, even
/// across a new template version.
pub fn template_of(stored: Option<&str>, current: &'static str) -> &'static str {
    stored
        .and_then(|name| TEMPLATES.iter().map(|(n, _)| *n).find(|n| *n == name))
        .unwrap_or(current)
}

/// Shared by every template (`#import "/common.typ": *`).
const COMMON: &str = include_str!("../../templates/documents/common.typ");

/// Noto Serif (OFL, `templates/fonts/OFL.txt`): covers every Vietnamese letter and tone mark.
const FONTS: [&[u8]; 3] = [
    include_bytes!("../../templates/fonts/NotoSerif-Regular.ttf"),
    include_bytes!("../../templates/fonts/NotoSerif-Bold.ttf"),
    include_bytes!("../../templates/fonts/NotoSerif-Italic.ttf"),
];

pub const PDF_CONTENT_TYPE: &str = "application/pdf";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no document template `{0}`")]
    UnknownTemplate(String),
    #[error("document data: {0}")]
    Data(String),
    #[error("document layout: {0}")]
    Layout(String),
    #[error("PDF export: {0}")]
    Export(String),
}

/// An image the template shows, served at `/<name>`.
pub struct Image<'a> {
    pub name: &'static str,
    pub bytes: &'a [u8],
}

/// What one document is made of.
pub struct Request<'a> {
    pub template: &'a str,
    /// Read by the template from `/data.json`.
    pub data: &'a serde_json::Value,
    pub images: &'a [Image<'a>],
    /// The document's creation time (PDF metadata), so the same input gives the same bytes.
    pub created: chrono::DateTime<chrono::Utc>,
    /// A stable identifier of the document (contract id, serial), hashed into the PDF's id.
    pub ident: &'a str,
}

/// A rendered document and where its seal box is: the page (0-based) and `[x1, y1, x2, y2]` in
/// PDF points (origin bottom left), when the template marks one with `<seal-box>`.
pub struct Rendered {
    pub pdf: Vec<u8>,
    pub seal_box: Option<(usize, [f32; 4])>,
}

/// Renders one document to PDF/A-2b bytes.
pub fn render(request: &Request<'_>) -> Result<Vec<u8>, RenderError> {
    render_located(request).map(|r| r.pdf)
}

/// The seal box's size, as `common.typ` draws it (7 cm × 2.6 cm, with a 4 pt inset in which
/// the `<seal-box>` marker sits).
const SEAL_BOX_PT: (f64, f64) = (7.0 * 72.0 / 2.54, 2.6 * 72.0 / 2.54);
const SEAL_BOX_INSET_PT: f64 = 4.0;

fn seal_box(document: &PagedDocument) -> Option<(usize, [f32; 4])> {
    let label = Label::new(PicoStr::intern("seal-box"))?;
    let introspector = document.introspector();
    let location = introspector
        .elements()
        .query_label(label)
        .ok()?
        .location()?;
    let at = introspector.position(location)?;
    let index = at.page.get() - 1;
    let height = document.pages().get(index)?.frame.height().to_pt();
    let x1 = at.point.x.to_pt() - SEAL_BOX_INSET_PT;
    let top = at.point.y.to_pt() - SEAL_BOX_INSET_PT;
    let (w, h) = SEAL_BOX_PT;
    // PDF points fit f32 (an A4 page is under 1000 pt).
    #[allow(clippy::cast_possible_truncation)]
    let rect = [
        x1 as f32,
        (height - top - h) as f32,
        (x1 + w) as f32,
        (height - top) as f32,
    ];
    Some((index, rect))
}

/// How many renderings a memoised result of typst may go unused before it is dropped (about:
/// the count is kept in steps of [`EVICT_EVERY`]).
const MEMO_KEPT_FOR: usize = 12;

/// Renderings between two evictions. An eviction walks every memoised result of every typst
/// cache, each under its cache's write lock (which concurrent renderings then wait for): after
/// every rendering it was ~4 % of the server's CPU in the flow benchmark (issue #18).
const EVICT_EVERY: usize = 4;

/// Renderings started since the process began, to evict after every [`EVICT_EVERY`]th.
static RENDERINGS: AtomicUsize = AtomicUsize::new(0);

/// Typst memoises every piece of layout it does (comemo) and forgets nothing by itself: a
/// service rendering a different document for each citizen grew by ~13 MB per document (4.5 GB
/// after ~2,000 issuances in the flow benchmark). After every [`EVICT_EVERY`]th rendering,
/// whatever the last [`MEMO_KEPT_FOR`] renderings did not use is dropped; what every document
/// shares (the library, the templates, the fonts) stays warm.
struct EvictStaleLayout;

impl Drop for EvictStaleLayout {
    fn drop(&mut self) {
        if RENDERINGS.fetch_add(1, Ordering::Relaxed) % EVICT_EVERY == EVICT_EVERY - 1 {
            // comemo counts an entry's age in evictions.
            typst::comemo::evict(MEMO_KEPT_FOR / EVICT_EVERY);
        }
    }
}

/// [`render`], also locating the seal box.
pub fn render_located(request: &Request<'_>) -> Result<Rendered, RenderError> {
    let _evict = EvictStaleLayout;
    let (engine, document) = lay_out(request)?;
    let created = timestamp(request.created)?;
    let options = PdfOptions {
        ident: Smart::Custom(request.ident.to_string()),
        creator: Smart::Custom(Some("ca-enrol".into())),
        timestamp: Some(created),
        standards: engine.standards.clone(),
        ..PdfOptions::default()
    };
    let pdf =
        typst_pdf::pdf(&document, &options).map_err(|e| RenderError::Export(diagnostics(&e)))?;
    Ok(Rendered {
        pdf,
        seal_box: seal_box(&document),
    })
}

/// The request's pages as typst lays them out.
fn lay_out(request: &Request<'_>) -> Result<(&'static Engine, PagedDocument), RenderError> {
    let engine = ENGINE
        .as_ref()
        .map_err(|e| RenderError::Layout(e.clone()))?;
    let main = engine
        .templates
        .iter()
        .find(|(version, _)| *version == request.template)
        .map(|(_, source)| source.clone())
        .ok_or_else(|| RenderError::UnknownTemplate(request.template.to_string()))?;
    let data = serde_json::to_vec(request.data).map_err(|e| RenderError::Data(e.to_string()))?;
    let world = DocumentWorld {
        engine,
        main,
        data: Bytes::new(data),
        images: request
            .images
            .iter()
            .map(|i| Ok((path_id(i.name)?, Bytes::new(i.bytes.to_vec()))))
            .collect::<Result<_, RenderError>>()?,
    };
    let document = typst::compile(&world)
        .output
        .map_err(|e| RenderError::Layout(diagnostics(&e)))?;
    Ok((engine, document))
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> Result<Timestamp, RenderError> {
    use chrono::{Datelike, Timelike};
    let small = |v: u32| u8::try_from(v).map_err(|e| RenderError::Data(e.to_string()));
    let datetime = Datetime::from_ymd_hms(
        at.year(),
        small(at.month())?,
        small(at.day())?,
        small(at.hour())?,
        small(at.minute())?,
        small(at.second())?,
    )
    .ok_or_else(|| RenderError::Data(format!("no PDF date for {at}")))?;
    Ok(Timestamp::new_utc(datetime))
}

fn diagnostics(errors: &[SourceDiagnostic]) -> String {
    errors
        .iter()
        .map(|d| d.message.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn path_id(path: &str) -> Result<FileId, RenderError> {
    let vpath = VirtualPath::new(path).map_err(|e| RenderError::Data(format!("{path}: {e}")))?;
    Ok(RootedPath::new(VirtualRoot::Project, vpath).intern())
}

/// The fonts, the library and the templates: made once per process.
struct Engine {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    templates: Vec<(&'static str, Source)>,
    common: Source,
    data_id: FileId,
    standards: PdfStandards,
}

/// Only a bug in the constants above makes it an error, reported by every render.
static ENGINE: LazyLock<Result<Engine, String>> = LazyLock::new(|| {
    let fonts: Vec<Font> = FONTS
        .iter()
        .flat_map(|data| Font::iter(Bytes::new(*data)))
        .collect();
    let templates = TEMPLATES
        .iter()
        .map(|(version, text)| {
            let id = path_id(&format!("/{version}.typ"))?;
            Ok((*version, Source::new(id, (*text).to_string())))
        })
        .collect::<Result<_, RenderError>>()
        .map_err(|e| e.to_string())?;
    Ok(Engine {
        library: LazyHash::new(Library::builder().build()),
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
        templates,
        common: Source::new(
            path_id("/common.typ").map_err(|e| e.to_string())?,
            COMMON.to_string(),
        ),
        data_id: path_id("/data.json").map_err(|e| e.to_string())?,
        // PDF/A-2b: the archival profile long-term evidence needs (fonts embedded, no
        // external content, XMP metadata), and what a PAdES seal is added to.
        standards: PdfStandards::new(&[PdfStandard::A_2b]).map_err(|e| format!("{e:?}"))?,
    })
});

struct DocumentWorld<'a> {
    engine: &'a Engine,
    main: Source,
    data: Bytes,
    images: Vec<(FileId, Bytes)>,
}

impl World for DocumentWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.engine.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.engine.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else if id == self.engine.common.id() {
            Ok(self.engine.common.clone())
        } else {
            Err(FileError::NotSource)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.engine.data_id {
            return Ok(self.data.clone());
        }
        if let Some((_, bytes)) = self.images.iter().find(|(image, _)| *image == id) {
            return Ok(bytes.clone());
        }
        if id == self.main.id() {
            return Ok(Bytes::from_string(self.main.clone()));
        }
        if id == self.engine.common.id() {
            return Ok(Bytes::from_string(self.engine.common.clone()));
        }
        Err(FileError::AccessDenied)
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.engine.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        // Documents carry their dates as data; `datetime.today()` is not for them.
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A 1×1 PNG.
    pub(crate) const DOT_PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60,
        0x60, 0x60, 0xf8, 0x0f, 0x00, 0x01, 0x04, 0x01, 0x00, 0x5f, 0xe5, 0xc3, 0x4b, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    fn provider() -> serde_json::Value {
        json!({
            "name": "Công ty Cổ phần Chứng thực số Thử nghiệm",
            "address": "Số 1 Tràng Tiền, Phường Hoàn Kiếm, Thành phố Hà Nội",
            "tax_code": "0109999999",
            "licence_number": "123/GP-BKHCN",
            "licence_date": "01/07/2025",
            "representative": "Nguyễn Văn An",
            "representative_title": "Tổng Giám đốc",
            "hotline": "1900 1234",
            "email": "hotro@example.vn",
            "website": "https://ca.example.vn",
            "cps_url": "https://ca.example.vn/cps",
        })
    }

    fn subscriber() -> serde_json::Value {
        json!({
            "name": "Nguyễn Thị Thuỷ Tiên", "date_of_birth": "01/02/1990", "sex": "Nữ",
            "nationality": "Việt Nam", "id_number": "001190012345", "id_issue_date": "01/01/2021",
            "id_issue_place": "Cục Cảnh sát quản lý hành chính về trật tự xã hội",
            "address": "12 Ngõ Huế, Phường Buôn Ma Thuột, Tỉnh Đắk Lắk", "phone": "0912 345 678",
            "email": "tien@example.vn",
        })
    }

    fn render_contract(evidence: serde_json::Value, images: &[Image<'_>]) -> Vec<u8> {
        let data = json!({
            "watermark": "BẢN THỬ NGHIỆM – KHÔNG CÓ GIÁ TRỊ PHÁP LÝ",
            "number": "HD-2026-000123",
            "dated": "Hà Nội, ngày 05 tháng 12 năm 2026",
            "provider": provider(),
            "subscriber": subscriber(),
            "package": {"name": "Gói cá nhân PS0 (Công dân)", "term_months": "12", "price": "0 đồng", "free": true},
            "evidence": evidence,
            "seal": null,
        });
        render(&Request {
            template: CONTRACT_TEMPLATE,
            data: &data,
            images,
            created: chrono::DateTime::UNIX_EPOCH,
            ident: "contract-1",
        })
        .unwrap()
    }

    #[test]
    fn the_contract_renders_as_pdf_the_same_bytes_for_the_same_input() {
        let draft = render_contract(serde_json::Value::Null, &[]);
        assert!(draft.starts_with(b"%PDF-"));
        assert_eq!(draft, render_contract(serde_json::Value::Null, &[]));
        let signed = render_contract(
            json!({
                "signed_at": "10:00:00 05/12/2026", "channel": "SMS", "destination": "091****678",
                "challenge_id": "c-1", "draft_sha256": "00".repeat(32),
                "signature_sha256": "11".repeat(32), "client_ip": "203.0.113.7",
                "user_agent": "Mozilla/5.0",
            }),
            &[Image {
                name: "/signature.png",
                bytes: DOT_PNG,
            }],
        );
        assert!(signed.starts_with(b"%PDF-"));
        assert_ne!(signed, draft);
    }

    /// Where the ink of every run of text ends on the right, in points from its page's left
    /// edge, with its text.
    fn text_right_ends(document: &PagedDocument) -> Vec<(f64, String)> {
        use typst::layout::{Frame, FrameItem, Point, Transform};
        fn walk(frame: &Frame, ts: Transform, ends: &mut Vec<(f64, String)>) {
            for (pos, item) in frame.items() {
                let here = ts.pre_concat(Transform::translate(pos.x, pos.y));
                match item {
                    FrameItem::Group(g) => walk(&g.frame, here.pre_concat(g.transform), ends),
                    FrameItem::Text(t) => {
                        // The ink's end: a justified line's trailing space has none.
                        let ink = t.bbox().max.x;
                        if ink.to_pt().is_finite() {
                            let end = Point::with_x(ink).transform(here).x.to_pt();
                            ends.push((end, t.text.to_string()));
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut ends = Vec::new();
        for page in document.pages() {
            walk(&page.frame, Transform::identity(), &mut ends);
        }
        ends
    }

    /// Lays out `template` without a watermark (it crosses the margins on purpose).
    fn right_margin_overruns(
        template: &'static str,
        data: serde_json::Value,
    ) -> Vec<(f64, String)> {
        let (_, document) = lay_out(&Request {
            template,
            data: &data,
            images: &[Image {
                name: "/signature.png",
                bytes: DOT_PNG,
            }],
            created: chrono::DateTime::UNIX_EPOCH,
            ident: "x",
        })
        .unwrap();
        // A4, 2 cm margins (common.typ); typst hangs a justified line's final punctuation
        // into the margin (overhang), by ~1.5 pt here.
        let limit = 595.28 - 2.0 * 72.0 / 2.54 + 3.0;
        text_right_ends(&document)
            .into_iter()
            .filter(|(end, _)| *end > limit)
            .collect()
    }

    #[test]
    fn the_widest_hashes_and_fingerprints_stay_inside_the_evidence_tables() {
        // b and d are the widest hex digits of Noto Serif, D the widest upper-case one.
        let widest = "bd".repeat(32);
        let contract = json!({
            "watermark": null, "number": "HD-2026-000123",
            "dated": "Hà Nội, ngày 05 tháng 12 năm 2026",
            "provider": provider(), "subscriber": subscriber(),
            "package": {"name": "Gói cá nhân PS0 (Công dân)", "term_months": "12", "price": "0 đồng", "free": true},
            "evidence": {
                "signed_at": "10:00:00 05/12/2026", "channel": "Tin nhắn SMS",
                "destination": "+84 9** *** 678", "challenge_id": "01a24f5d-4d4e-73be-aeda-9012712334f0",
                "draft_sha256": widest, "signature_sha256": widest,
                "client_ip": "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "user_agent": "SmartCA/5.2",
            },
            "seal": null,
        });
        assert_eq!(
            right_margin_overruns(CONTRACT_TEMPLATE, contract),
            Vec::<(f64, String)>::new()
        );
        let record = json!({
            "watermark": null, "dated": "Ngày 05 tháng 12 năm 2026",
            "contract_number": "HD-2026-000123", "package_name": "Gói cá nhân PS0 (Công dân)",
            "provider": provider(), "subscriber": subscriber(),
            "certificate": {
                "serial": "D".repeat(40), "holder_name": "Nguyễn Thị Thuỷ Tiên",
                "holder_id": "001190012345", "holder_province": "Tỉnh Đắk Lắk",
                "issuer": "CA-Enrol Development Issuing CA – CA-Enrol Development",
                "not_before": "10:00:00 05/12/2026", "not_after": "09:59:59 05/12/2027",
                "key": "ECDSA P-256", "fingerprint": vec!["DD"; 32].join(":"),
            },
            "evidence": {
                "accepted_at": "10:05:00 05/12/2026", "channel": "Tin nhắn SMS",
                "destination": "+84 9** *** 678", "challenge_id": "01a24f5d-4d4e-73be-aeda-9012712334f0",
                "record_sha256": widest,
                "client_ip": "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "user_agent": "SmartCA/5.2",
            },
            "seal": null,
        });
        assert_eq!(
            right_margin_overruns(ACCEPTANCE_TEMPLATE, record.clone()),
            Vec::<(f64, String)>::new()
        );
        // The check sees an overrun: version 1 showed these on one line, at 9 pt.
        assert!(!right_margin_overruns("acceptance-pdf-v1", record).is_empty());
    }

    #[test]
    fn a_stored_documents_template_is_used_while_compiled_in_else_the_current_one() {
        let stored = |name: &str| template_of(Some(name), ACCEPTANCE_TEMPLATE);
        assert_eq!(stored("acceptance-pdf-v1"), "acceptance-pdf-v1");
        assert_eq!(stored("acceptance-pdf-v9"), ACCEPTANCE_TEMPLATE);
        assert_eq!(template_of(None, CONTRACT_TEMPLATE), CONTRACT_TEMPLATE);
    }

    #[test]
    fn an_unknown_template_is_refused_by_name() {
        let err = render(&Request {
            template: "nope",
            data: &json!({}),
            images: &[],
            created: chrono::DateTime::UNIX_EPOCH,
            ident: "x",
        })
        .unwrap_err();
        assert!(err.to_string().contains("nope"));
    }
}
