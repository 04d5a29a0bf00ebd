//! The message carrying a code, from `templates/otp/`.
//!
//! The SMS is written without diacritics on purpose: GSM-7 fits 160 characters in one SMS,
//! while any Vietnamese diacritic forces UCS-2 and 70 characters per part. It holds only the
//! code, its purpose and its expiry (no name, no ID number). The e-mail is in full Vietnamese.

use super::Purpose;
use crate::notify::template::render;
use crate::notify::{OutgoingMessage, Recipient};

const SMS: &str = include_str!("../../templates/otp/sms.txt");
const EMAIL_SUBJECT: &str = include_str!("../../templates/otp/email_subject.txt");
const EMAIL_BODY: &str = include_str!("../../templates/otp/email_body.txt");

impl Purpose {
    /// "to …" phrase, with diacritics (e-mail).
    fn label_vi(self) -> &'static str {
        match self {
            Purpose::ContractSigning => "ký hợp đồng dịch vụ chứng thư số",
            Purpose::CertificateAcceptance => "xác nhận biên bản nghiệm thu chứng thư số",
            Purpose::Revocation => "thu hồi chứng thư số",
            Purpose::Suspension => "tạm dừng chứng thư số",
            Purpose::Resumption => "khôi phục chứng thư số",
            Purpose::Signature => "ký số từ xa",
        }
    }

    /// The same without diacritics (SMS, GSM-7).
    fn label_sms(self) -> &'static str {
        match self {
            Purpose::ContractSigning => "ky hop dong dich vu chung thu so",
            Purpose::CertificateAcceptance => "xac nhan nghiem thu chung thu so",
            Purpose::Revocation => "thu hoi chung thu so",
            Purpose::Suspension => "tam dung chung thu so",
            Purpose::Resumption => "khoi phuc chung thu so",
            Purpose::Signature => "ky so tu xa",
        }
    }
}

/// The message for `code`; the caller sets `not_after`.
pub(super) fn message(
    purpose: Purpose,
    code: &str,
    minutes: u32,
    to: Recipient,
) -> OutgoingMessage {
    let minutes = minutes.to_string();
    let (subject, text) = match to {
        Recipient::Phone(_) => (
            String::new(),
            render(
                SMS,
                &[
                    ("code", code),
                    ("purpose", purpose.label_sms()),
                    ("minutes", &minutes),
                ],
            ),
        ),
        Recipient::Email(_) => {
            let vars = [
                ("code", code),
                ("purpose", purpose.label_vi()),
                ("minutes", minutes.as_str()),
            ];
            (render(EMAIL_SUBJECT, &vars), render(EMAIL_BODY, &vars))
        }
    };
    OutgoingMessage {
        kind: "otp",
        to,
        subject,
        text,
        not_after: None,
        attachment: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrolment::identity::{Email, PhoneNumber};

    #[test]
    fn every_sms_fits_one_gsm7_part_and_names_code_purpose_and_expiry() {
        let phone = Recipient::Phone(PhoneNumber::parse("to", "0912345678").unwrap());
        for purpose in Purpose::ALL {
            let m = message(purpose, "042917", 5, phone.clone());
            assert!(m.text.is_ascii(), "{}", m.text);
            assert!(m.text.chars().count() <= 160, "{} chars", m.text.len());
            assert!(m.text.contains("042917"), "{}", m.text);
            assert!(m.text.contains(purpose.label_sms()), "{}", m.text);
            assert!(m.text.contains("5 phut"), "{}", m.text);
            assert!(!m.text.contains("{{"), "{}", m.text);
        }
    }

    #[test]
    fn e_mail_is_vietnamese_with_code_purpose_and_expiry() {
        let email = Recipient::Email(Email::parse("to", "a@example.vn").unwrap());
        let m = message(Purpose::CertificateAcceptance, "042917", 5, email);
        assert!(m.subject.contains("nghiệm thu"), "{}", m.subject);
        assert!(m.text.contains("042917"));
        assert!(m.text.contains("5 phút"));
        assert!(!m.subject.contains("{{") && !m.text.contains("{{"));
    }
}
