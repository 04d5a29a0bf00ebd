//! The acceptance record document: a versioned HTML template from `templates/acceptance/`,
//! filled once. The bytes are stored and never re-rendered.

use chrono::NaiveDate;
use openssl::x509::X509NameRef;

use crate::contract::Provider;
use crate::store::{CertificateRow, EnrolmentRow, PackageRow};
use crate::vn;

/// The version new records are rendered from.
pub const CURRENT: &str = "acceptance-personal-v1";

/// The templates compiled in, by version. Add a new version beside the old; never edit one
/// that has been used (the stored records name it).
const TEMPLATES: [(&str, &str); 1] = [(
    "acceptance-personal-v1",
    include_str!("../../templates/acceptance/personal-v1.html"),
)];

pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

pub struct Contents<'a> {
    /// The day the record was made, in Vietnam.
    pub date: NaiveDate,
    pub provider: &'a Provider,
    pub subscriber: &'a EnrolmentRow,
    pub contract_number: &'a str,
    pub package: &'a PackageRow,
    pub certificate: &'a CertificateRow,
    /// The signed certificate: issuer DN and fingerprint come from the bytes themselves.
    pub cert_der: &'a [u8],
}

fn template(version: &str) -> Option<&'static str> {
    TEMPLATES
        .iter()
        .find(|(v, _)| *v == version)
        .map(|(_, text)| *text)
}

/// `CN=…, O=…, C=VN` in the certificate's order, UTF-8.
fn dn(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?").to_string();
            // The raw content: UTF8String and PrintableString values are UTF-8 already.
            let value = String::from_utf8_lossy(e.data().as_slice());
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `AB:CD:…`, as certificate viewers show fingerprints.
fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn render(c: &Contents<'_>) -> Result<Vec<u8>, String> {
    let text = template(CURRENT).ok_or_else(|| format!("no template `{CURRENT}`"))?;
    let names = crate::ca::certificate_names(c.cert_der).map_err(|e| e.to_string())?;
    let fingerprint = crate::ca::sha256(c.cert_der);
    let s = c.subscriber;
    let pv = c.provider;
    let vars: Vec<(&str, String)> = vec![
        ("date", c.date.format("%d/%m/%Y").to_string()),
        ("template_version", CURRENT.to_string()),
        ("contract_number", c.contract_number.to_string()),
        ("provider_name", pv.name.clone()),
        ("provider_address", pv.address.clone()),
        ("provider_tax_code", pv.tax_code.clone()),
        ("provider_phone", vn::phone(&pv.hotline)),
        ("provider_email", pv.email.clone()),
        ("provider_website", pv.website.clone()),
        ("subscriber_name", s.full_name.clone()),
        (
            "subscriber_date_of_birth",
            s.date_of_birth.format("%d/%m/%Y").to_string(),
        ),
        ("subscriber_id_number", s.id_number.clone()),
        (
            "subscriber_id_issue_date",
            s.id_issue_date.format("%d/%m/%Y").to_string(),
        ),
        ("subscriber_id_issue_place", s.id_issue_place.clone()),
        ("subscriber_phone", vn::phone(&s.phone)),
        (
            "subscriber_email",
            s.email.clone().unwrap_or_else(|| "không có".into()),
        ),
        ("package_name", c.package.name.clone()),
        ("package_code", c.package.code.clone()),
        ("term_months", c.package.term_months.to_string()),
        ("serial", c.certificate.serial.clone()),
        ("subject_dn", c.certificate.subject_dn.clone()),
        ("issuer_dn", dn(&names.issuer)),
        (
            "not_before",
            vn::time_date_seconds(c.certificate.not_before.and_utc()),
        ),
        (
            "not_after",
            vn::time_date_seconds(c.certificate.not_after.and_utc()),
        ),
        ("key", c.certificate.key_description.clone()),
        ("fingerprint_sha256", colon_hex(&fingerprint)),
    ];
    Ok(crate::notify::template::render_html(text, vars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_has_the_title_and_every_field_the_record_must_show() {
        for (version, text) in TEMPLATES {
            assert!(
                text.contains("BIÊN BẢN NGHIỆM THU VÀ BÀN GIAO CHỨNG THƯ SỐ"),
                "{version}"
            );
            for var in [
                "provider_name",
                "subscriber_name",
                "subscriber_id_number",
                "contract_number",
                "package_name",
                "serial",
                "subject_dn",
                "issuer_dn",
                "not_before",
                "not_after",
                "key",
                "fingerprint_sha256",
            ] {
                assert!(text.contains(&format!("{{{{{var}}}}}")), "{version}: {var}");
            }
        }
    }

    #[test]
    fn fingerprints_are_upper_case_hex_pairs_joined_by_colons() {
        assert_eq!(colon_hex(&[0x0a, 0xff, 0x10]), "0A:FF:10");
    }
}
