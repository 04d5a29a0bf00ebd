//! Subscriber certificates: TBS building, pre-issuance lint, signing.

use chrono::{DateTime, Datelike, Months, SubsecRound, Utc};
use const_oid::db::{rfc4519, rfc5280, rfc5912};
use const_oid::ObjectIdentifier;
use der::asn1::Any;
use der::{Decode, Encode, Tag, Tagged};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::certpolicy::{DisplayText, UserNotice};
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::time::Time;
use x509_cert::{Certificate, TbsCertificate};

use super::asn1::{self, oid};
use super::authority::to_chrono;
use super::{CaError, IssuingCa, PersonalProfile, Serial, SubjectInfo};

/// What the RA asks the CA to certify, after enrolment, contract and CSR checks.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    pub serial: Serial,
    pub subject: SubjectInfo,
    /// From [`super::CheckedCsr::spki_der`].
    pub spki_der: Vec<u8>,
    pub not_before: DateTime<Utc>,
    /// Inclusive (RFC 5280): the last second the certificate is valid.
    pub not_after: DateTime<Utc>,
    /// Named in the certificate policy user notice, e.g. "PS0".
    pub package_name: String,
}

/// Key identifier by RFC 7093 method 1: the leftmost 160 bits of the SHA-256
/// of the subjectPublicKey BIT STRING value. Used for SKI here and in the ceremony.
pub(super) fn key_identifier(spki_der: &[u8]) -> Result<Vec<u8>, CaError> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| CaError::Unexpected(format!("not a SubjectPublicKeyInfo: {e}")))?;
    Ok(crate::ca::sha256(spki.subject_public_key.raw_bytes())[..20].to_vec())
}

/// Validity with sub-seconds dropped, as encoded; checked against the profile
/// and the issuer. Over-long requests are refused, never shortened.
fn validity(
    ca: &IssuingCa,
    profile: &PersonalProfile,
    req: &IssueRequest,
) -> Result<(DateTime<Utc>, DateTime<Utc>), CaError> {
    let nb = req.not_before.trunc_subsecs(0);
    let na = req.not_after.trunc_subsecs(0);
    let refuse = |m: String| Err(CaError::ValidityInvalid(m));
    if nb >= na {
        return refuse("not_before must be before not_after".into());
    }
    let max = nb
        .checked_add_months(Months::new(profile.max_validity_months()))
        .ok_or_else(|| CaError::ValidityInvalid("not_before out of range".into()))?;
    if na > max {
        return refuse(format!(
            "not_after {na} is more than {} months after not_before",
            profile.max_validity_months()
        ));
    }
    if na > ca.not_after() {
        return refuse(format!(
            "not_after {na} is after the issuing CA expires ({})",
            ca.not_after()
        ));
    }
    if nb < ca.not_before() {
        return refuse(format!("not_before {nb} is before the issuing CA is valid"));
    }
    Ok((nb, na))
}

struct ExpectedValues {
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    notice: String,
    ski: Vec<u8>,
    uid: String,
    ocsp_url: String,
    ca_issuers_url: String,
    crl_url: String,
    eku: Vec<ObjectIdentifier>,
}

fn expected(
    ca: &IssuingCa,
    profile: &PersonalProfile,
    req: &IssueRequest,
) -> Result<ExpectedValues, CaError> {
    req.subject.check()?;
    let (not_before, not_after) = validity(ca, profile, req)?;
    let mut eku = vec![rfc5280::ID_KP_CLIENT_AUTH];
    if req.subject.email.is_some() {
        eku.push(rfc5280::ID_KP_EMAIL_PROTECTION);
    }
    eku.extend([oid::MS_DOCUMENT_SIGNING, oid::KP_DOCUMENT_SIGNING]);
    Ok(ExpectedValues {
        not_before,
        not_after,
        notice: profile.user_notice(&req.package_name)?,
        ski: key_identifier(&req.spki_der)?,
        uid: format!("CCCD:{}", req.subject.id_number),
        ocsp_url: profile.ocsp_url(),
        ca_issuers_url: profile.ca_issuers_url(ca.name()),
        crl_url: profile.crl_url(ca.name(), profile.crl_shard(&req.serial)),
        eku,
    })
}

/// Builds the TBSCertificate DER of a personal certificate (see domain.md §4).
pub fn build_tbs(
    ca: &IssuingCa,
    profile: &PersonalProfile,
    req: &IssueRequest,
) -> Result<Vec<u8>, CaError> {
    use asn1::{bytes, extension, sequence, tlv};
    let x = expected(ca, profile, req)?;
    let s = &req.subject;
    let mut out = Vec::with_capacity(1024 + req.spki_der.len());
    sequence(&mut out, |o| {
        // version [0] EXPLICIT v3; the serial's content octets are already
        // a minimal positive INTEGER.
        tlv(o, 0xA0, |o| bytes(o, asn1::TAG_INTEGER, &[2]));
        bytes(o, asn1::TAG_INTEGER, req.serial.as_bytes());
        o.extend_from_slice(ca.signer().algorithm().algorithm_identifier_der());
        o.extend_from_slice(ca.subject_der());
        sequence(o, |o| {
            asn1::time(o, &x.not_before);
            asn1::time(o, &x.not_after);
        });
        sequence(o, |o| {
            rdn(o, &rfc4519::COUNTRY_NAME, asn1::TAG_PRINTABLE_STRING, "VN");
            rdn(o, &rfc4519::ST, asn1::TAG_UTF8_STRING, &s.province);
            if let Some(l) = &s.locality {
                rdn(o, &rfc4519::LOCALITY_NAME, asn1::TAG_UTF8_STRING, l);
            }
            rdn(
                o,
                &rfc4519::COMMON_NAME,
                asn1::TAG_UTF8_STRING,
                &s.full_name,
            );
            rdn(o, &rfc4519::UID, asn1::TAG_UTF8_STRING, &x.uid);
        });
        o.extend_from_slice(&req.spki_der);
        tlv(o, 0xA3, |o| {
            sequence(o, |o| {
                // cA FALSE is the DEFAULT, so the value is an empty SEQUENCE.
                extension(o, &rfc5280::ID_CE_BASIC_CONSTRAINTS, true, |o| {
                    sequence(o, |_| {})
                });
                // digitalSignature(0) + nonRepudiation(1): 0b11000000, 6 unused bits.
                extension(o, &rfc5280::ID_CE_KEY_USAGE, true, |o| {
                    bytes(o, asn1::TAG_BIT_STRING, &[0x06, 0xC0])
                });
                extension(o, &rfc5280::ID_CE_EXT_KEY_USAGE, false, |o| {
                    sequence(o, |o| x.eku.iter().for_each(|k| asn1::oid(o, k)))
                });
                extension(o, &rfc5280::ID_CE_CERTIFICATE_POLICIES, false, |o| {
                    sequence(o, |o| {
                        sequence(o, |o| {
                            asn1::oid(o, &profile.policy_oid());
                            sequence(o, |o| {
                                sequence(o, |o| {
                                    asn1::oid(o, &rfc5280::ID_QT_UNOTICE);
                                    sequence(o, |o| {
                                        bytes(o, asn1::TAG_UTF8_STRING, x.notice.as_bytes())
                                    });
                                })
                            })
                        })
                    })
                });
                if let Some(email) = &s.email {
                    // rfc822Name [1] IMPLICIT IA5String.
                    extension(o, &rfc5280::ID_CE_SUBJECT_ALT_NAME, false, |o| {
                        sequence(o, |o| bytes(o, 0x81, email.as_bytes()))
                    });
                }
                // DistributionPoint { distributionPoint [0] { fullName [0] { URI [6] } } }
                extension(o, &rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS, false, |o| {
                    sequence(o, |o| {
                        sequence(o, |o| {
                            tlv(o, 0xA0, |o| {
                                tlv(o, 0xA0, |o| bytes(o, 0x86, x.crl_url.as_bytes()))
                            })
                        })
                    })
                });
                extension(o, &rfc5280::ID_PE_AUTHORITY_INFO_ACCESS, false, |o| {
                    sequence(o, |o| {
                        sequence(o, |o| {
                            asn1::oid(o, &rfc5280::ID_AD_OCSP);
                            bytes(o, 0x86, x.ocsp_url.as_bytes());
                        });
                        sequence(o, |o| {
                            asn1::oid(o, &rfc5280::ID_AD_CA_ISSUERS);
                            bytes(o, 0x86, x.ca_issuers_url.as_bytes());
                        });
                    })
                });
                extension(o, &rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER, false, |o| {
                    bytes(o, asn1::TAG_OCTET_STRING, &x.ski)
                });
                // keyIdentifier [0] IMPLICIT OCTET STRING
                extension(o, &rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER, false, |o| {
                    sequence(o, |o| bytes(o, 0x80, ca.ski()))
                });
            })
        });
    });
    Ok(out)
}

/// One single-valued RDN: `SET { SEQUENCE { type, value } }`.
fn rdn(out: &mut Vec<u8>, attr: &ObjectIdentifier, tag: u8, value: &str) {
    asn1::tlv(out, asn1::TAG_SET, |o| {
        asn1::sequence(o, |o| {
            asn1::oid(o, attr);
            asn1::bytes(o, tag, value.as_bytes());
        })
    });
}

/// A TBSCertificate that passed [`lint_tbs`] for one issuing CA: the only input
/// [`sign_certificate`] accepts (Boulder's `issuanceToken`). Its fields are
/// private, only the lint makes one, and signing consumes it and refuses another
/// CA, so an unlinted TBS cannot be signed and one lint signs at most once.
#[derive(Debug)]
pub struct LintedTbs {
    der: Vec<u8>,
    /// SHA-256 of the SubjectPublicKeyInfo of the CA the TBS was linted for.
    issuer_key_sha256: [u8; 32],
}

impl LintedTbs {
    /// The linted DER, e.g. to record it before signing.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    fn new(der: &[u8], ca: &IssuingCa) -> LintedTbs {
        LintedTbs {
            der: der.to_vec(),
            issuer_key_sha256: *ca.key_sha256(),
        }
    }

    /// Skips the lint, to test what [`sign_certificate`] does with bytes that are not a TBS.
    #[cfg(test)]
    pub(super) fn unlinted_for_test(der: &[u8], ca: &IssuingCa) -> LintedTbs {
        LintedTbs::new(der, ca)
    }
}

/// Pre-issuance checks on the TBS as it will be signed: decodes it with an
/// independent DER decoder (`x509-cert`) and checks every field against the
/// request, the profile and the issuer. Returns all findings at once, or the
/// [`LintedTbs`] that [`sign_certificate`] takes.
pub fn lint_tbs(
    tbs: &[u8],
    profile: &PersonalProfile,
    ca: &IssuingCa,
    req: &IssueRequest,
) -> Result<LintedTbs, CaError> {
    let x = expected(ca, profile, req)?;
    let parsed = TbsCertificate::from_der(tbs)
        .map_err(|e| CaError::LintFailed(vec![format!("TBS does not decode: {e}")]))?;
    let mut f = Findings(Vec::new());
    lint_fields(&parsed, &x, profile, ca, req, &mut f);
    lint_extensions(&parsed, &x, profile, ca, req, &mut f);
    if f.0.is_empty() {
        Ok(LintedTbs::new(tbs, ca))
    } else {
        Err(CaError::LintFailed(f.0))
    }
}

struct Findings(Vec<String>);

impl Findings {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }
}

fn der_of<T: Encode>(v: &T) -> Vec<u8> {
    v.to_der().unwrap_or_default()
}

fn lint_fields(
    t: &TbsCertificate,
    x: &ExpectedValues,
    profile: &PersonalProfile,
    ca: &IssuingCa,
    req: &IssueRequest,
    f: &mut Findings,
) {
    f.check(t.version() == Version::V3, || "version is not v3".into());
    let serial = t.serial_number().as_bytes();
    f.check(
        !serial.is_empty() && serial.len() <= 20 && serial[0] & 0x80 == 0,
        || "serial is not a positive integer of at most 20 octets".into(),
    );
    f.check(serial == req.serial.as_bytes(), || {
        "serial differs from the request".into()
    });
    f.check(
        der_of(t.signature()) == ca.signer().algorithm().algorithm_identifier_der(),
        || "signature algorithm does not match the issuer key".into(),
    );
    f.check(der_of(t.issuer()) == ca.subject_der(), || {
        "issuer differs from the CA subject".into()
    });

    let v = t.validity();
    for (name, time, want) in [
        ("notBefore", &v.not_before, x.not_before),
        ("notAfter", &v.not_after, x.not_after),
    ] {
        // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
        let right_type = match time {
            Time::UtcTime(_) => want.year() < 2050,
            Time::GeneralTime(_) => want.year() >= 2050,
        };
        f.check(right_type, || format!("{name} uses the wrong time type"));
        f.check(to_chrono(time).ok() == Some(want), || {
            format!("{name} differs from the request")
        });
    }
    let (nb, na) = (to_chrono(&v.not_before).ok(), to_chrono(&v.not_after).ok());
    if let (Some(nb), Some(na)) = (nb, na) {
        let max = nb.checked_add_months(Months::new(profile.max_validity_months()));
        f.check(nb < na && Some(na) <= max, || {
            "validity is empty or longer than the profile maximum".into()
        });
        f.check(na <= ca.not_after() && nb >= ca.not_before(), || {
            "validity exceeds the issuer's".into()
        });
    }

    let mut want_rdns = vec![
        (rfc4519::COUNTRY_NAME, Tag::PrintableString, "VN"),
        (rfc4519::ST, Tag::Utf8String, req.subject.province.as_str()),
    ];
    if let Some(l) = &req.subject.locality {
        want_rdns.push((rfc4519::LOCALITY_NAME, Tag::Utf8String, l.as_str()));
    }
    want_rdns.push((
        rfc4519::COMMON_NAME,
        Tag::Utf8String,
        req.subject.full_name.as_str(),
    ));
    want_rdns.push((rfc4519::UID, Tag::Utf8String, x.uid.as_str()));
    let got: Vec<_> = t.subject().iter_rdn().collect();
    let subject_ok = got.len() == want_rdns.len()
        && got.iter().zip(&want_rdns).all(|(rdn, (o, tag, value))| {
            let atvs: Vec<_> = rdn.iter().collect();
            atvs.len() == 1
                && atvs[0].oid == *o
                && atvs[0].value.tag() == *tag
                && atvs[0].value.value() == value.as_bytes()
        });
    f.check(subject_ok, || {
        "subject differs from C, ST, [L], CN, UID with the required string types".into()
    });
    let spki = der_of(t.subject_public_key_info());
    f.check(spki == req.spki_der, || {
        "subjectPublicKeyInfo differs from the CSR key".into()
    });
    let key_alg = t.subject_public_key_info().algorithm.oid;
    f.check(
        key_alg == rfc5912::RSA_ENCRYPTION || key_alg == rfc5912::ID_EC_PUBLIC_KEY,
        || "subject key is not RSA or EC".into(),
    );
    f.check(
        t.issuer_unique_id().is_none() && t.subject_unique_id().is_none(),
        || "unique identifiers must be absent".into(),
    );
}

fn lint_extensions(
    t: &TbsCertificate,
    x: &ExpectedValues,
    profile: &PersonalProfile,
    ca: &IssuingCa,
    req: &IssueRequest,
    f: &mut Findings,
) {
    let exts = t.extensions().map(|e| e.as_slice()).unwrap_or_default();
    let mut want = vec![
        rfc5280::ID_CE_BASIC_CONSTRAINTS,
        rfc5280::ID_CE_KEY_USAGE,
        rfc5280::ID_CE_EXT_KEY_USAGE,
        rfc5280::ID_CE_CERTIFICATE_POLICIES,
        rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS,
        rfc5280::ID_PE_AUTHORITY_INFO_ACCESS,
        rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
        rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
    ];
    if req.subject.email.is_some() {
        want.push(rfc5280::ID_CE_SUBJECT_ALT_NAME);
    }
    let mut got: Vec<_> = exts.iter().map(|e| e.extn_id).collect();
    got.sort();
    let before = got.len();
    got.dedup();
    f.check(before == got.len(), || "an extension appears twice".into());
    want.sort();
    f.check(got == want, || {
        format!("extension set differs: got {got:?}")
    });

    for e in exts {
        let critical_ok = e.critical
            == (e.extn_id == rfc5280::ID_CE_BASIC_CONSTRAINTS
                || e.extn_id == rfc5280::ID_CE_KEY_USAGE);
        f.check(critical_ok, || {
            format!("extension {} has the wrong criticality", e.extn_id)
        });
        let content_ok = extension_ok(e.extn_id, e.extn_value.as_bytes(), x, profile, ca, req);
        f.check(content_ok, || {
            format!("extension {} has the wrong content", e.extn_id)
        });
    }
}

/// Decodes one extension value and compares it with what the profile requires.
fn extension_ok(
    id: ObjectIdentifier,
    v: &[u8],
    x: &ExpectedValues,
    profile: &PersonalProfile,
    ca: &IssuingCa,
    req: &IssueRequest,
) -> bool {
    match id {
        _ if id == rfc5280::ID_CE_BASIC_CONSTRAINTS => {
            BasicConstraints::from_der(v).is_ok_and(|b| !b.ca && b.path_len_constraint.is_none())
        }
        _ if id == rfc5280::ID_CE_KEY_USAGE => KeyUsage::from_der(v)
            .is_ok_and(|k| k.0 == KeyUsages::DigitalSignature | KeyUsages::NonRepudiation),
        _ if id == rfc5280::ID_CE_EXT_KEY_USAGE => {
            ExtendedKeyUsage::from_der(v).is_ok_and(|k| k.0 == x.eku)
        }
        _ if id == rfc5280::ID_CE_CERTIFICATE_POLICIES => {
            CertificatePolicies::from_der(v).is_ok_and(|p| policies_ok(&p, profile, &x.notice))
        }
        _ if id == rfc5280::ID_CE_SUBJECT_ALT_NAME => SubjectAltName::from_der(v).is_ok_and(|s| {
            matches!(s.0.as_slice(), [GeneralName::Rfc822Name(m)]
                if Some(m.as_str()) == req.subject.email.as_deref())
        }),
        _ if id == rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS => CrlDistributionPoints::from_der(v)
            .is_ok_and(|d| match d.0.as_slice() {
                [dp] => {
                    dp.reasons.is_none()
                        && dp.crl_issuer.is_none()
                        && match &dp.distribution_point {
                            Some(DistributionPointName::FullName(names)) => {
                                uris(names) == [x.crl_url.as_str()]
                            }
                            _ => false,
                        }
                }
                _ => false,
            }),
        _ if id == rfc5280::ID_PE_AUTHORITY_INFO_ACCESS => AuthorityInfoAccessSyntax::from_der(v)
            .is_ok_and(|a| {
                let methods: Vec<_> = a.0.iter().map(|d| d.access_method).collect();
                let locations: Vec<_> = a.0.iter().map(|d| d.access_location.clone()).collect();
                methods == [rfc5280::ID_AD_OCSP, rfc5280::ID_AD_CA_ISSUERS]
                    && uris(&locations) == [x.ocsp_url.as_str(), x.ca_issuers_url.as_str()]
            }),
        _ if id == rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER => {
            SubjectKeyIdentifier::from_der(v).is_ok_and(|s| s.0.as_bytes() == x.ski)
        }
        _ if id == rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER => AuthorityKeyIdentifier::from_der(v)
            .is_ok_and(|a| {
                a.key_identifier.is_some_and(|k| k.as_bytes() == ca.ski())
                    && a.authority_cert_issuer.is_none()
                    && a.authority_cert_serial_number.is_none()
            }),
        // Unexpected extensions are already reported by the set comparison.
        _ => true,
    }
}

/// The URIs of a GeneralNames list; any other name type yields "" so the
/// comparison fails.
fn uris(names: &[GeneralName]) -> Vec<&str> {
    names
        .iter()
        .map(|n| match n {
            GeneralName::UniformResourceIdentifier(u) => u.as_str(),
            _ => "",
        })
        .collect()
}

fn policies_ok(p: &CertificatePolicies, profile: &PersonalProfile, notice: &str) -> bool {
    let [info] = p.0.as_slice() else { return false };
    let Some([q]) = info.policy_qualifiers.as_deref() else {
        return false;
    };
    let text = q
        .qualifier
        .as_ref()
        .and_then(|a: &Any| a.decode_as::<UserNotice>().ok())
        .and_then(|u| u.explicit_text);
    info.policy_identifier == profile.policy_oid()
        && q.policy_qualifier_id == rfc5280::ID_QT_UNOTICE
        && matches!(text, Some(DisplayText::Utf8String(t)) if t == notice)
}

/// Signs a linted TBS through the CA's [`super::Signer`] and returns the
/// Certificate DER. A TBS linted for another CA is refused. The result is
/// decoded again and must carry exactly the linted TBS and a matching
/// signature algorithm, else [`CaError::TbsMismatch`].
pub fn sign_certificate(ca: &IssuingCa, linted: LintedTbs) -> Result<Vec<u8>, CaError> {
    if &linted.issuer_key_sha256 != ca.key_sha256() {
        return Err(CaError::Unexpected(format!(
            "the TBS was linted for another issuing CA than {}",
            ca.name()
        )));
    }
    let tbs = linted.der.as_slice();
    let signature = ca.signer().sign(tbs)?;
    let algorithm = ca.signer().algorithm().algorithm_identifier_der();
    let mut cert = Vec::with_capacity(tbs.len() + algorithm.len() + signature.len() + 16);
    asn1::sequence(&mut cert, |o| {
        o.extend_from_slice(tbs);
        o.extend_from_slice(algorithm);
        asn1::bit_string(o, &signature);
    });
    let parsed = Certificate::from_der(&cert).map_err(|_| CaError::TbsMismatch)?;
    let parts = asn1::split_signed(&cert).ok_or(CaError::TbsMismatch)?;
    let alg_matches = der_of(parsed.signature_algorithm()) == algorithm
        && der_of(parsed.tbs_certificate().signature()) == algorithm;
    if parts.tbs != tbs || !alg_matches {
        return Err(CaError::TbsMismatch);
    }
    Ok(cert)
}

/// A certificate's subject and issuer names, as OpenSSL names for display.
pub struct CertificateNames {
    pub subject: openssl::x509::X509Name,
    pub issuer: openssl::x509::X509Name,
}

/// The subject and issuer names of a DER certificate. Decoded with x509-cert and only the two
/// names handed to OpenSSL: OpenSSL 3 decoding the whole certificate also decodes its public
/// key through the provider machinery, which was ~6 % of the server's CPU under HTTP issuance
/// for the acceptance record's issuer line alone.
pub fn certificate_names(cert_der: &[u8]) -> Result<CertificateNames, CaError> {
    let bad = |e: &dyn std::fmt::Display| CaError::CertLoad(e.to_string());
    let cert = Certificate::from_der(cert_der).map_err(|e| bad(&e))?;
    let name = |n: &x509_cert::name::Name| {
        let der = n.to_der().map_err(|e| bad(&e))?;
        openssl::x509::X509Name::from_der(&der).map_err(|e| bad(&e))
    };
    let tbs = cert.tbs_certificate();
    Ok(CertificateNames {
        subject: name(tbs.subject())?,
        issuer: name(tbs.issuer())?,
    })
}
