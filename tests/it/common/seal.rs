//! PDF seals checked by tools we did not write: pdfsig (poppler), pyHanko (PAdES, trust
//! against the ceremony's root), qpdf (file structure).

use std::path::Path;
use std::process::Command;

use lopdf::{dictionary, Dictionary, Document, Object, Stream};

/// A two-page PDF with some text, written by lopdf (any producer will do: the seal is an
/// incremental update over whatever bytes it gets).
pub fn sample_pdf() -> Vec<u8> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let mut kids = Vec::new();
    for text in ["Hop dong", "Trang 2"] {
        let content = format!("BT /F1 24 Tf 72 720 Td ({text}) Tj ET");
        let content = doc.add_object(Stream::new(Dictionary::new(), content.into_bytes()));
        let page = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            "Contents" => content,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
        });
        kids.push(Object::Reference(page));
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Count" => 2, "Kids" => kids }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

/// Runs a required tool; returns (success, stdout + stderr).
pub fn tool(program: &str, args: &[&str], hint: &str) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("required test tool `{program}` could not run ({e}); {hint}"));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// `pdfsig <pdf>`'s report.
pub fn pdfsig(pdf: &Path) -> String {
    tool(
        "pdfsig",
        &[&pdf.to_string_lossy()],
        "apt-get install poppler-utils",
    )
    .1
}

/// Every seal in `pdf` checks out. pdfsig: each signature is valid (it does not know our
/// root, so only the signature and its byte range are its to judge); pyHanko: intact, and
/// trusted from `root` with `issuing` as the intermediate; qpdf: no structural error.
pub fn assert_seal_checks_out(pdf: &Path, root: &Path, issuing: &Path) {
    let text = pdfsig(pdf);
    let seals = text.matches("Signature Validation:").count();
    assert!(seals > 0, "pdfsig found no signature:\n{text}");
    assert_eq!(
        text.matches("Signature Validation: Signature is Valid.")
            .count(),
        seals,
        "pdfsig:\n{text}"
    );
    assert!(text.contains("ETSI.CAdES.detached"), "pdfsig:\n{text}");
    let pdf = pdf.to_string_lossy();
    let (ok, text) = tool(
        "pyhanko",
        &[
            "sign",
            "validate",
            "--trust",
            &root.to_string_lossy(),
            "--trust-replace",
            "--other-certs",
            &issuing.to_string_lossy(),
            &pdf,
        ],
        "pip install pyhanko pyhanko-cli",
    );
    assert!(ok, "pyhanko:\n{text}");
    // One summary line per seal: `<field>:<signer>:INTACT:TRUSTED,...`.
    assert_eq!(
        text.matches(":INTACT:TRUSTED").count(),
        seals,
        "pyhanko:\n{text}"
    );
    let (ok, text) = tool("qpdf", &["--check", &pdf], "apt-get install qpdf");
    assert!(
        ok && text.contains("No syntax or stream encoding errors"),
        "qpdf:\n{text}"
    );
}
