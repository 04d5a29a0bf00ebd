//! The provider's seal on its PDF documents: a PAdES baseline B-B signature (ETSI EN
//! 319 142-1) by the document-sealing key, added as an incremental update so the bytes
//! that were rendered (and hashed) stay the first bytes of the sealed file.
//!
//! The update adds a signature dictionary (`/SubFilter /ETSI.CAdES.detached`, `/ByteRange`,
//! `/Contents`, `/M`), a signature field merged with its widget (on the page the caller
//! names, or an invisible one on the first page), the widget in the page's `/Annots` and
//! the field in the catalogue's `/AcroForm` (`/SigFlags 3`). Then the byte range is
//! hashed, `ca::signed_data_detached` signs it, and the CMS goes into the `/Contents`
//! placeholder. The widget's appearance is an empty form: the renderer draws the seal's
//! words (name, time) in the page, where they are part of the signed content.
//!
//! A leaf below the document modules: it knows PDF objects and `ca`, nothing of HTTP or
//! the database.

use chrono::{DateTime, Utc};
use lopdf::{
    dictionary, Dictionary, Document, IncrementalDocument, Object, ObjectId, StringFormat,
};

use crate::ca::{self, CaError, SealingKey};

/// What the seal says, and where its widget goes.
#[derive(Clone, Debug)]
pub struct SealParams {
    /// The signer's name (`/Name`): the provider.
    pub name: String,
    pub reason: String,
    pub location: String,
    /// The claimed signing time (`/M`); PAdES B-B puts no signing-time in the CMS.
    pub time: DateTime<Utc>,
    /// A visible widget: the page (0-based) and its rectangle `[x1, y1, x2, y2]` in PDF
    /// points. `None`: an invisible field on the first page.
    pub widget: Option<(usize, [f32; 4])>,
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The input is not a PDF this module can update (unreadable, encrypted, no catalogue).
    #[error("cannot seal the PDF: {0}")]
    Pdf(String),
    #[error("cannot seal the PDF: it has no page {0} (0-based)")]
    NoPage(usize),
    #[error("sealing: {0}")]
    Sign(#[from] CaError),
}

fn pdf_error(e: impl std::fmt::Display) -> SealError {
    SealError::Pdf(e.to_string())
}

/// Wide enough for any offset of a file below 10 GB: the placeholder is patched in
/// place, so the real numbers must not be longer.
const BYTE_RANGE_PLACEHOLDER: i64 = 9_999_999_999;

/// Seals `pdf` with `key`; returns the sealed file (`pdf` followed by the update).
pub fn seal_pdf(pdf: &[u8], key: &SealingKey, params: &SealParams) -> Result<Vec<u8>, SealError> {
    let prev = Document::load_mem(pdf).map_err(pdf_error)?;
    if prev.is_encrypted() {
        return Err(SealError::Pdf("the PDF is encrypted".into()));
    }
    let root_id = prev
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(|_| SealError::Pdf("no /Root in the trailer".into()))?;
    let (page_index, rect) = params.widget.unwrap_or((0, [0.0; 4]));
    let page_id = *prev
        .get_pages()
        .values()
        .nth(page_index)
        .ok_or(SealError::NoPage(page_index))?;
    let mut doc = IncrementalDocument::create_from(pdf.to_vec(), prev);

    // The CMS: the certificates, the signature and a margin for the attributes and
    // the DER headers (about 400 bytes).
    let reserved = key.cert_der().len()
        + key.chain_der().iter().map(Vec::len).sum::<usize>()
        + key.signer().public_key_der().len()
        + 2048;
    let new = &mut doc.new_document;
    let sig_id = new.add_object(dictionary! {
        "Type" => "Sig",
        "Filter" => "Adobe.PPKLite",
        "SubFilter" => "ETSI.CAdES.detached",
        "ByteRange" => vec![
            Object::Integer(0),
            Object::Integer(BYTE_RANGE_PLACEHOLDER),
            Object::Integer(BYTE_RANGE_PLACEHOLDER),
            Object::Integer(BYTE_RANGE_PLACEHOLDER),
        ],
        "Contents" => Object::String(vec![0; reserved], StringFormat::Hexadecimal),
        "M" => Object::string_literal(params.time.format("D:%Y%m%d%H%M%SZ").to_string()),
        "Name" => text_string(&params.name),
        "Reason" => text_string(&params.reason),
        "Location" => text_string(&params.location),
    });
    let [x1, y1, x2, y2] = rect;
    let appearance = new.add_object(lopdf::Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Form",
            "BBox" => vec![0.into(), 0.into(), Object::Real((x2 - x1).abs()), Object::Real((y2 - y1).abs())],
            "Resources" => Dictionary::new(),
        },
        Vec::new(),
    ));

    let field_name = format!("Seal{}", existing_fields(&doc, root_id) + 1);
    let widget_id = doc.new_document.add_object(dictionary! {
        "Type" => "Annot",
        "Subtype" => "Widget",
        "FT" => "Sig",
        "T" => text_string(&field_name),
        "V" => sig_id,
        // Print + Locked: printed with the page, never moved or deleted in a viewer.
        "F" => 132,
        "Rect" => rect.iter().map(|v| Object::Real(*v)).collect::<Vec<_>>(),
        "P" => page_id,
        "AP" => dictionary! { "N" => appearance },
    });
    push_to_array(&mut doc, page_id, b"Annots", widget_id)?;
    add_field(&mut doc, root_id, widget_id)?;

    let mut out = Vec::with_capacity(pdf.len() + 2 * reserved + 4096);
    doc.save_to(&mut out).map_err(pdf_error)?;
    patch_and_sign(&mut out, pdf.len(), reserved, key)?;
    Ok(out)
}

/// The fields already in the catalogue's `/AcroForm`, so the new one gets a fresh name.
fn existing_fields(doc: &IncrementalDocument, root_id: ObjectId) -> usize {
    let prev = doc.get_prev_documents();
    let deref = |o: &Object| -> Option<Object> {
        match o {
            Object::Reference(id) => prev.get_object(*id).ok().cloned(),
            other => Some(other.clone()),
        }
    };
    prev.get_dictionary(root_id)
        .ok()
        .and_then(|c| c.get(b"AcroForm").ok())
        .and_then(deref)
        .and_then(|f| {
            f.as_dict()
                .ok()
                .and_then(|d| d.get(b"Fields").ok().cloned())
        })
        .and_then(|f| deref(&f))
        .and_then(|f| f.as_array().ok().map(Vec::len))
        .unwrap_or(0)
}

/// Appends `item` to the array under `key` of the dictionary `owner` (copied into the
/// update), following a reference to the array (copying that too) or creating it.
fn push_to_array(
    doc: &mut IncrementalDocument,
    owner: ObjectId,
    key: &[u8],
    item: ObjectId,
) -> Result<(), SealError> {
    doc.opt_clone_object_to_new_document(owner)
        .map_err(pdf_error)?;
    let dict = doc
        .new_document
        .get_dictionary_mut(owner)
        .map_err(pdf_error)?;
    match dict.get_mut(key) {
        Ok(Object::Array(items)) => items.push(Object::Reference(item)),
        Ok(Object::Reference(array_id)) => {
            let array_id = *array_id;
            doc.opt_clone_object_to_new_document(array_id)
                .map_err(pdf_error)?;
            match doc.new_document.get_object_mut(array_id) {
                Ok(Object::Array(items)) => items.push(Object::Reference(item)),
                _ => {
                    return Err(SealError::Pdf(format!(
                        "/{} is not an array",
                        String::from_utf8_lossy(key)
                    )))
                }
            }
        }
        Ok(_) => {
            return Err(SealError::Pdf(format!(
                "/{} is not an array",
                String::from_utf8_lossy(key)
            )))
        }
        Err(_) => dict.set(key.to_vec(), vec![Object::Reference(item)]),
    }
    Ok(())
}

/// Adds the field to the catalogue's `/AcroForm` (created when absent) and sets
/// `/SigFlags 3` (signatures exist; append only).
fn add_field(
    doc: &mut IncrementalDocument,
    root_id: ObjectId,
    field: ObjectId,
) -> Result<(), SealError> {
    doc.opt_clone_object_to_new_document(root_id)
        .map_err(pdf_error)?;
    let form = doc
        .new_document
        .get_dictionary(root_id)
        .map_err(pdf_error)?
        .get(b"AcroForm")
        .ok()
        .cloned();
    let form_id = match form {
        Some(Object::Reference(id)) => id,
        Some(Object::Dictionary(inline)) => {
            // Moved to an object of its own, so `push_to_array` can update it.
            let id = doc.new_document.add_object(inline);
            set_acroform(doc, root_id, id)?;
            id
        }
        Some(_) => return Err(SealError::Pdf("/AcroForm is not a dictionary".into())),
        None => {
            let id = doc.new_document.add_object(Dictionary::new());
            set_acroform(doc, root_id, id)?;
            id
        }
    };
    push_to_array(doc, form_id, b"Fields", field)?;
    doc.new_document
        .get_dictionary_mut(form_id)
        .map_err(pdf_error)?
        .set("SigFlags", 3);
    Ok(())
}

fn set_acroform(
    doc: &mut IncrementalDocument,
    root_id: ObjectId,
    form_id: ObjectId,
) -> Result<(), SealError> {
    doc.new_document
        .get_dictionary_mut(root_id)
        .map_err(pdf_error)?
        .set("AcroForm", form_id);
    Ok(())
}

/// A PDF text string: PDFDocEncoding when ASCII, else UTF-16BE with its byte-order mark
/// (Vietnamese names are not in PDFDocEncoding).
fn text_string(s: &str) -> Object {
    if s.is_ascii() {
        Object::string_literal(s)
    } else {
        let mut bytes = vec![0xFE, 0xFF];
        bytes.extend(s.encode_utf16().flat_map(u16::to_be_bytes));
        Object::String(bytes, StringFormat::Hexadecimal)
    }
}

/// Writes the real `/ByteRange` over its placeholder, hashes the two ranges, signs and
/// writes the CMS into the `/Contents` placeholder. Both placeholders are searched in
/// the update only (after `prev_len`), where the signature dictionary is the only
/// object holding them.
fn patch_and_sign(
    out: &mut [u8],
    prev_len: usize,
    reserved: usize,
    key: &SealingKey,
) -> Result<(), SealError> {
    let missing = |what: &str| SealError::Pdf(format!("the written update has no {what}"));
    let mut placeholder = Vec::with_capacity(2 * reserved + 2);
    placeholder.push(b'<');
    placeholder.resize(2 * reserved + 1, b'0');
    placeholder.push(b'>');
    let contents_start = prev_len
        + find(&out[prev_len..], &placeholder).ok_or_else(|| missing("/Contents placeholder"))?;
    let contents_end = contents_start + placeholder.len();

    let key_at =
        prev_len + find(&out[prev_len..], b"/ByteRange").ok_or_else(|| missing("/ByteRange"))?;
    let open = key_at + find(&out[key_at..], b"[").ok_or_else(|| missing("/ByteRange ["))?;
    let close = open + find(&out[open..], b"]").ok_or_else(|| missing("/ByteRange ]"))?;
    let range = format!(
        "0 {contents_start} {contents_end} {}",
        out.len() - contents_end
    );
    let slot = &mut out[open + 1..close];
    if range.len() > slot.len() {
        return Err(SealError::Pdf("the PDF is too large to seal".into()));
    }
    slot.fill(b' ');
    slot[..range.len()].copy_from_slice(range.as_bytes());

    let signer = key.signer();
    let digest = ca::content_digest(
        signer.algorithm(),
        &[&out[..contents_start], &out[contents_end..]],
    )?;
    let cms = ca::signed_data_detached(&digest, signer.as_ref(), key.cert_der(), key.chain_der())?;
    if cms.len() > reserved {
        return Err(SealError::Sign(CaError::Unexpected(format!(
            "the CMS ({} bytes) outgrew its {reserved}-byte placeholder",
            cms.len()
        ))));
    }
    let hex = hex::encode_upper(&cms);
    out[contents_start + 1..contents_start + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
