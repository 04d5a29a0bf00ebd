//! Notices to the subscriber when their certificate changes status: issued (awaiting
//! acceptance), active, renewed, suspended, resumed, revoked. Each is enqueued with
//! [`Outbox::notify_certificate`] in the transaction that makes the change, so a notice exists
//! exactly when its change committed.
//!
//! Texts are in `templates/notices/`: the SMS without diacritics (GSM-7, one part of at most
//! 160 characters; a unit test renders each with the longest values), the e-mail in Vietnamese
//! with diacritics. The revocation reason's words come from the texts catalogue, folded for
//! the SMS, so a page and a message never name a reason differently.

use chrono::{DateTime, Utc};

use super::template::render;
use super::{NotifyError, Outbox, Sealed, SubscriberNotice};
use crate::enrolment::identity::{Email, PhoneNumber};
use crate::store::{CertificateRow, EnrolmentRow, Tx};
use crate::texts::Lang;

/// What happened to the certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateNotice<'a> {
    /// Signed and awaiting the subscriber's acceptance until `deadline`.
    Issued {
        deadline: DateTime<Utc>,
    },
    /// Accepted: in use from now.
    Active,
    /// Accepted as the replacement of `replaced` (renewal or rekey), revoked in the same
    /// transaction; one notice says both.
    Renewed {
        replaced: &'a str,
    },
    Suspended {
        by_subscriber: bool,
    },
    Resumed {
        by_subscriber: bool,
    },
    /// `reason` is the RFC 5280 name (`keyCompromise`, …).
    Revoked {
        reason: &'a str,
        by_subscriber: bool,
    },
}

/// The three texts of one notice.
struct Template {
    kind: &'static str,
    sms: &'static str,
    email_subject: &'static str,
    email_body: &'static str,
}

macro_rules! template {
    ($kind:literal, $name:literal) => {
        Template {
            kind: $kind,
            sms: include_str!(concat!("../../templates/notices/", $name, "_sms.txt")),
            email_subject: include_str!(concat!(
                "../../templates/notices/",
                $name,
                "_email_subject.txt"
            )),
            email_body: include_str!(concat!(
                "../../templates/notices/",
                $name,
                "_email_body.txt"
            )),
        }
    };
}

const ISSUED: Template = template!("certificate_issued", "issued");
const ACTIVE: Template = template!("certificate_active", "active");
const RENEWED: Template = template!("certificate_renewed", "renewed");
const SUSPENDED: Template = template!("certificate_suspended", "suspension");
const RESUMED: Template = template!("certificate_resumed", "resumed");
const REVOKED: Template = template!("certificate_revoked", "revoked");

/// Who made the change, as the notice says it.
fn by(by_subscriber: bool) -> &'static str {
    if by_subscriber {
        "theo yêu cầu của bạn"
    } else {
        "bởi nhà cung cấp"
    }
}

/// The values a notice's templates may name, in Vietnamese with diacritics.
struct Values<'a> {
    serial: &'a str,
    name: &'a str,
    package: &'a str,
    /// When the change happened.
    time: DateTime<Utc>,
    expires: DateTime<Utc>,
}

impl CertificateNotice<'_> {
    fn template(&self) -> &'static Template {
        match self {
            CertificateNotice::Issued { .. } => &ISSUED,
            CertificateNotice::Active => &ACTIVE,
            CertificateNotice::Renewed { .. } => &RENEWED,
            CertificateNotice::Suspended { .. } => &SUSPENDED,
            CertificateNotice::Resumed { .. } => &RESUMED,
            CertificateNotice::Revoked { .. } => &REVOKED,
        }
    }

    /// The placeholders and their values (with diacritics; the SMS folds them).
    fn vars(&self, v: &Values<'_>) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            ("serial", v.serial.to_string()),
            ("name", v.name.to_string()),
            ("package", v.package.to_string()),
            ("time", crate::vn::time_date(v.time)),
            ("expires", crate::vn::time_date(v.expires)),
        ];
        match *self {
            CertificateNotice::Issued { deadline } => {
                vars.push(("deadline", crate::vn::time_date(deadline)))
            }
            CertificateNotice::Active => {}
            CertificateNotice::Renewed { replaced } => vars.push(("replaced", replaced.into())),
            CertificateNotice::Suspended { by_subscriber }
            | CertificateNotice::Resumed { by_subscriber } => {
                vars.push(("by", by(by_subscriber).into()))
            }
            CertificateNotice::Revoked {
                reason,
                by_subscriber,
            } => {
                let label = Lang::Vi.t_or_code(&format!("reason.{reason}")).to_string();
                vars.push(("reason", label));
                vars.push(("by", by(by_subscriber).into()));
            }
        }
        vars
    }

    /// (SMS, e-mail subject, e-mail body).
    fn render(&self, v: &Values<'_>) -> (String, String, String) {
        let t = self.template();
        let vars = self.vars(v);
        let folded: Vec<(&str, String)> = vars
            .iter()
            .map(|(k, value)| (*k, crate::vn::without_diacritics(value)))
            .collect();
        let fill = |template: &str, vars: &[(&str, String)]| {
            let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
            render(template, &vars)
        };
        (
            fill(t.sms, &folded),
            fill(t.email_subject, &vars),
            fill(t.email_body, &vars),
        )
    }
}

impl Outbox {
    /// Enqueues `notice` about `serial` to its subscriber (SMS, and e-mail when they gave an
    /// address) in `tx`, the transaction of the change; `now` is the change's time.
    pub fn notify_certificate(
        &self,
        tx: &mut Tx<'_>,
        now: DateTime<Utc>,
        serial: &str,
        notice: CertificateNotice<'_>,
    ) -> Result<(), NotifyError> {
        let certificate = tx
            .certificate(serial)?
            .ok_or_else(|| NotifyError::Unexpected(format!("no certificate {serial}")))?;
        let enrolment = tx
            .enrolment_by_id(&certificate.enrolment_id)?
            .ok_or_else(|| {
                NotifyError::Unexpected(format!("certificate {serial} without its enrolment"))
            })?;
        let sealed = self.certificate_notice(now, &certificate, &enrolment, notice)?;
        self.add(tx, &sealed)
    }

    /// [`Outbox::notify_certificate`]'s messages about `certificate` (of `enrolment`),
    /// rendered and sealed now, outside any transaction, for [`Outbox::add`].
    pub fn certificate_notice(
        &self,
        now: DateTime<Utc>,
        certificate: &CertificateRow,
        enrolment: &EnrolmentRow,
        notice: CertificateNotice<'_>,
    ) -> Result<Sealed, NotifyError> {
        let serial = certificate.serial.as_str();
        // An address stored under older rules that no longer parses must not block the
        // change (a revocation above all): the notice is skipped, and the log says so.
        if PhoneNumber::parse("phone", &enrolment.phone).is_err()
            || enrolment
                .email
                .as_deref()
                .is_some_and(|e| Email::parse("email", e).is_err())
        {
            tracing::warn!(
                serial,
                kind = notice.template().kind,
                "subscriber's stored address no longer parses; notice not sent"
            );
            return Ok(Sealed::none());
        }
        let (sms, email_subject, email_body) = notice.render(&Values {
            serial,
            name: &enrolment.full_name,
            package: &certificate.package_code,
            time: now,
            expires: certificate.not_after.and_utc(),
        });
        self.seal_subscriber_notice(
            now,
            SubscriberNotice {
                kind: notice.template().kind,
                phone: &enrolment.phone,
                email: enrolment.email.as_deref(),
                sms,
                email_subject,
                email_body,
                // A status notice stays true after the fact: it is sent however late.
                not_after: None,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GSM 03.38's default alphabet (one septet each), as far as ASCII goes: no `[]{}\^~|`
    /// or backtick, which take two septets from the extension table.
    fn gsm7(c: char) -> bool {
        c.is_ascii_alphanumeric() || " \n\r!\"#%&'()*+,-./:;<=>?@_$".contains(c)
    }

    fn every_notice() -> Vec<CertificateNotice<'static>> {
        let mut all = vec![
            CertificateNotice::Issued {
                deadline: at("2026-12-31T16:59:00Z"),
            },
            CertificateNotice::Active,
            CertificateNotice::Renewed {
                replaced: "ffffffffffffffffffffffffffffffffffffffff",
            },
        ];
        for by_subscriber in [true, false] {
            all.push(CertificateNotice::Suspended { by_subscriber });
            all.push(CertificateNotice::Resumed { by_subscriber });
            for reason in [
                "unspecified",
                "keyCompromise",
                "affiliationChanged",
                "superseded",
                "cessationOfOperation",
                "privilegeWithdrawn",
            ] {
                all.push(CertificateNotice::Revoked {
                    reason,
                    by_subscriber,
                });
            }
        }
        all
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The longest values: a 20-octet serial in hex, a long name, a long package code.
    fn worst() -> Values<'static> {
        Values {
            serial: "7fffffffffffffffffffffffffffffffffffffff",
            name: "Nguyễn Huỳnh Thị Phương Khánh Ngọc Hoàng Trường Giang Tôn Nữ Thị Tường Vy",
            package: "PS36-DOANH-NGHIEP",
            time: at("2026-12-31T16:59:00Z"),
            expires: at("2029-12-31T16:59:00Z"),
        }
    }

    #[test]
    fn every_sms_is_one_gsm7_part_without_diacritics() {
        for notice in every_notice() {
            let (sms, _, _) = notice.render(&worst());
            assert!(sms.chars().all(gsm7), "not GSM-7: {sms}");
            assert!(sms.chars().count() <= 160, "{} chars: {sms}", sms.len());
            assert!(!sms.contains("{{"), "{sms}");
            assert!(sms.contains(worst().serial), "{sms}");
        }
    }

    #[test]
    fn every_e_mail_is_vietnamese_and_fills_every_placeholder() {
        for notice in every_notice() {
            let (_, subject, body) = notice.render(&worst());
            assert!(subject.contains("Chứng thư số"), "{subject}");
            assert!(body.contains(worst().name), "{body}");
            assert!(!subject.contains("{{") && !body.contains("{{"), "{body}");
        }
    }

    #[test]
    fn a_revocation_says_why_and_by_whom() {
        let by_subscriber = CertificateNotice::Revoked {
            reason: "keyCompromise",
            by_subscriber: true,
        };
        let (sms, _, body) = by_subscriber.render(&worst());
        assert!(sms.contains("Lo khoa bi mat"), "{sms}");
        assert!(sms.contains("theo yeu cau cua ban"), "{sms}");
        assert!(body.contains("Lộ khoá bí mật"), "{body}");
        assert!(body.contains("theo yêu cầu của bạn"), "{body}");
        let by_provider = CertificateNotice::Revoked {
            reason: "cessationOfOperation",
            by_subscriber: false,
        };
        let (sms, _, body) = by_provider.render(&worst());
        assert!(sms.contains("boi nha cung cap"), "{sms}");
        assert!(body.contains("bởi nhà cung cấp"), "{body}");
        let (sms, _, _) = CertificateNotice::Issued {
            deadline: at("2026-12-31T16:59:00Z"),
        }
        .render(&worst());
        assert!(sms.contains("23:59 31/12/2026"), "Vietnam time: {sms}");
    }
}
