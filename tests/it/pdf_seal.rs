//! The PAdES seal primitive (`pdf_seal::seal_pdf`) with the development CA's sealing key,
//! RSA-2048 and P-256; the same through SoftHSM2 is in `hsm.rs`.

use chrono::DateTime;

use crate::common::seal::{assert_seal_checks_out, pdfsig, sample_pdf};
use crate::common::TestEnv;
use ca_enrol::ca::SealingKey;
use ca_enrol::pdf_seal::{seal_pdf, SealError, SealParams};

/// A development CA of the given `[issuing] key` and its loaded sealing key.
fn sealing_key(env: &TestEnv, key: &str) -> std::sync::Arc<SealingKey> {
    let ceremony = env.ca_root().join("ceremony.toml");
    let text = std::fs::read_to_string(&ceremony).unwrap();
    std::fs::write(
        &ceremony,
        text.replace("key = \"rsa2048\"", &format!("key = \"{key}\"")),
    )
    .unwrap();
    ca_enrol::ca_files::load_ca(&env.config()).unwrap().sealing
}

fn params(widget: Option<(usize, [f32; 4])>) -> SealParams {
    SealParams {
        name: "Công ty Cổ phần Chứng thực Đắk Lắk".into(),
        reason: "Đóng dấu hợp đồng".into(),
        location: "Hà Nội".into(),
        time: DateTime::from_timestamp(1_796_000_000, 0).unwrap(),
        widget,
    }
}

#[test]
fn rsa_and_p256_seals_are_valid_for_pdfsig_pyhanko_and_qpdf() {
    for key in ["rsa2048", "p256"] {
        let env = TestEnv::bare();
        let sealing = sealing_key(&env, key);
        let ca = env.ca_root();
        let pdf = sample_pdf();
        let sealed = seal_pdf(
            &pdf,
            &sealing,
            &params(Some((1, [300.0, 100.0, 540.0, 160.0]))),
        )
        .unwrap();
        // An incremental update: the rendered bytes are untouched.
        assert_eq!(&sealed[..pdf.len()], &pdf[..]);
        let file = env.dir.path().join("sealed.pdf");
        std::fs::write(&file, &sealed).unwrap();
        assert_seal_checks_out(&file, &ca.join("root.pem"), &ca.join("issuing.pem"));
        let text = pdfsig(&file);
        assert!(text.contains("Total document signed"), "{text}");
        assert!(
            text.contains("CA-Enrol Development Document Seal"),
            "{text}"
        );

        // An invisible seal on top: a second field (`Seal2`), both valid.
        let twice = seal_pdf(&sealed, &sealing, &params(None)).unwrap();
        let file = env.dir.path().join("twice.pdf");
        std::fs::write(&file, &twice).unwrap();
        let text = pdfsig(&file);
        assert_eq!(
            text.matches("Signature Validation: Signature is Valid.")
                .count(),
            2,
            "{key}:\n{text}"
        );
        assert!(text.contains("Seal2"), "{text}");
    }
}

#[test]
fn a_changed_byte_breaks_the_seal() {
    let env = TestEnv::new();
    let sealing = ca_enrol::ca_files::load_ca(&env.config()).unwrap().sealing;
    let mut sealed = seal_pdf(&sample_pdf(), &sealing, &params(None)).unwrap();
    let at = sealed.windows(8).position(|w| w == b"Hop dong").unwrap();
    sealed[at] = b'h';
    let file = env.dir.path().join("changed.pdf");
    std::fs::write(&file, &sealed).unwrap();
    let text = pdfsig(&file);
    assert!(
        text.contains("Signature Validation") && !text.contains("Signature is Valid."),
        "{text}"
    );
}

#[test]
fn a_missing_page_and_a_non_pdf_are_refused() {
    let env = TestEnv::new();
    let sealing = ca_enrol::ca_files::load_ca(&env.config()).unwrap().sealing;
    let err = seal_pdf(&sample_pdf(), &sealing, &params(Some((2, [0.0; 4])))).unwrap_err();
    assert!(matches!(err, SealError::NoPage(2)), "{err}");
    let err = seal_pdf(b"not a pdf", &sealing, &params(None)).unwrap_err();
    assert!(matches!(err, SealError::Pdf(_)), "{err}");
}
