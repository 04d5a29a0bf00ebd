//! The personal-certificate profile (configuration) and the subject data.

use const_oid::ObjectIdentifier;
use serde::Deserialize;

use super::{CaError, Serial};

/// Vietnamese law caps subscriber certificates at 3 years.
const LEGAL_MAX_VALIDITY_MONTHS: u32 = 36;
/// RFC 5280 DisplayText is SIZE (1..200).
const MAX_NOTICE_CHARS: usize = 200;

/// The personal-certificate profile, read from `ca-root/profiles/personal.toml`.
///
/// Deserialisation validates it, so a `PersonalProfile` value is always usable.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "RawProfile")]
pub struct PersonalProfile {
    policy_oid: ObjectIdentifier,
    user_notice_template: String,
    max_validity_months: u32,
    base_url: String,
    crl_shards: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    policy_oid: String,
    user_notice_template: String,
    #[serde(default = "default_max_validity_months")]
    max_validity_months: u32,
    base_url: String,
    #[serde(default = "default_crl_shards")]
    crl_shards: u32,
}

fn default_max_validity_months() -> u32 {
    LEGAL_MAX_VALIDITY_MONTHS
}

fn default_crl_shards() -> u32 {
    1
}

impl TryFrom<RawProfile> for PersonalProfile {
    type Error = CaError;

    fn try_from(raw: RawProfile) -> Result<Self, CaError> {
        let bad = |m: String| Err(CaError::ConfigInvalid(m));
        let policy_oid: ObjectIdentifier = raw
            .policy_oid
            .parse()
            .map_err(|e| CaError::ConfigInvalid(format!("policy_oid {:?}: {e}", raw.policy_oid)))?;
        if !raw.user_notice_template.contains("{package}") {
            return bad("user_notice_template must contain {package}".into());
        }
        if !(1..=LEGAL_MAX_VALIDITY_MONTHS).contains(&raw.max_validity_months) {
            return bad(format!(
                "max_validity_months must be 1..={LEGAL_MAX_VALIDITY_MONTHS}"
            ));
        }
        // Plain HTTP on purpose: relying parties fetch CRLs and OCSP without TLS
        // (RFC 5280 4.2.1.13, RFC 6960) and an https URL can loop on itself.
        let base_url = raw.base_url.trim_end_matches('/').to_string();
        let host = base_url.strip_prefix("http://").unwrap_or_default();
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_graphic()) {
            return bad(format!(
                "base_url {:?} must be an http:// URL of printable ASCII",
                raw.base_url
            ));
        }
        if raw.crl_shards == 0 {
            return bad("crl_shards must be at least 1".into());
        }
        Ok(PersonalProfile {
            policy_oid,
            user_notice_template: raw.user_notice_template,
            max_validity_months: raw.max_validity_months,
            base_url,
            crl_shards: raw.crl_shards,
        })
    }
}

impl PersonalProfile {
    /// Reads the profile file; `base_url` (the service's public address, plain http://) is
    /// the base of the AIA and CRL distribution point URLs, so certificates point at the
    /// service that answers for them.
    pub fn from_toml(text: &str, base_url: &str) -> Result<PersonalProfile, CaError> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| CaError::ConfigInvalid(e.to_string()))?;
        table.insert("base_url".into(), toml::Value::String(base_url.to_string()));
        table
            .try_into()
            .map_err(|e: toml::de::Error| CaError::ConfigInvalid(e.message().to_string()))
    }

    pub fn policy_oid(&self) -> ObjectIdentifier {
        self.policy_oid
    }

    pub fn max_validity_months(&self) -> u32 {
        self.max_validity_months
    }

    /// How many CRL shards the certificates are partitioned into.
    pub fn crl_shards(&self) -> u32 {
        self.crl_shards
    }

    pub fn ocsp_url(&self) -> String {
        format!("{}/ocsp", self.base_url)
    }

    pub fn ca_issuers_url(&self, ca_name: &str) -> String {
        format!("{}/ca/{ca_name}.crt", self.base_url)
    }

    /// The CRL shard a serial belongs to, so CRL building partitions
    /// certificates the same way their CRLDP URLs do. Always 0 with one shard.
    pub fn crl_shard(&self, serial: &Serial) -> u32 {
        let b = serial.as_bytes();
        let tail = b[b.len().saturating_sub(4)..]
            .iter()
            .fold(0u32, |acc, x| (acc << 8) | u32::from(*x));
        tail % self.crl_shards
    }

    /// `{base}/crl/{name}.crl`, or `{base}/crl/{name}-{shard}.crl` when sharded.
    pub fn crl_url(&self, ca_name: &str, shard: u32) -> String {
        if self.crl_shards > 1 {
            format!("{}/crl/{ca_name}-{shard}.crl", self.base_url)
        } else {
            format!("{}/crl/{ca_name}.crl", self.base_url)
        }
    }

    /// The certificatePolicies user-notice text for a package.
    pub fn user_notice(&self, package_name: &str) -> Result<String, CaError> {
        if package_name.is_empty()
            || package_name.chars().count() > 64
            || package_name.chars().any(char::is_control)
        {
            return Err(CaError::SubjectInvalid(format!(
                "package name {package_name:?} must be 1 to 64 printable characters"
            )));
        }
        let text = self.user_notice_template.replace("{package}", package_name);
        if text.chars().count() > MAX_NOTICE_CHARS {
            return Err(CaError::SubjectInvalid(format!(
                "user notice is longer than {MAX_NOTICE_CHARS} characters"
            )));
        }
        Ok(text)
    }
}

/// The verified identity that goes into the subject. The caller passes names
/// as the applicant's verified data, in Unicode NFC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectInfo {
    pub full_name: String,
    /// 12-digit personal ID number (CCCD).
    pub id_number: String,
    pub province: String,
    pub locality: Option<String>,
    pub email: Option<String>,
}

impl SubjectInfo {
    /// Checks what the certificate encoding needs: RFC 5280 upper bounds
    /// (ub-common-name 64, ub-state-name and ub-locality-name 128), no control
    /// characters, 12 digits, and an ASCII mailbox for rfc822Name.
    pub(super) fn check(&self) -> Result<(), CaError> {
        check_text("full name", &self.full_name, 64)?;
        check_text("province", &self.province, 128)?;
        if let Some(l) = &self.locality {
            check_text("locality", l, 128)?;
        }
        if self.id_number.len() != 12 || !self.id_number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CaError::SubjectInvalid(
                "personal ID number must be 12 digits".into(),
            ));
        }
        if let Some(e) = &self.email {
            if !is_mailbox(e) {
                return Err(CaError::SubjectInvalid(format!(
                    "{e:?} is not an ASCII e-mail address"
                )));
            }
        }
        Ok(())
    }
}

fn check_text(what: &str, s: &str, max_chars: usize) -> Result<(), CaError> {
    let n = s.chars().count();
    if n == 0 || n > max_chars || s.trim() != s || s.chars().any(char::is_control) {
        return Err(CaError::SubjectInvalid(format!(
            "{what} must be 1 to {max_chars} characters, without control characters or surrounding spaces"
        )));
    }
    Ok(())
}

/// RFC 5321 Mailbox with a dot-atom local part and an LDH domain: what an
/// rfc822Name (IA5String) can carry and what certificate linters accept.
fn is_mailbox(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let local_ok = local.len() <= 64
        && local
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(atext));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn profile(extra: &str) -> Result<PersonalProfile, toml::de::Error> {
        toml::from_str(&format!(
            "policy_oid = \"1.3.6.1.4.1.32473.1.1\"\n\
             user_notice_template = \"Chứng thư số cá nhân, gói {{package}}\"\n\
             base_url = \"http://ca.example.vn/\"\n{extra}"
        ))
    }

    #[test]
    fn checked_in_profile_parses() {
        let text = include_str!("../../ca-root/profiles/personal.toml");
        let p = PersonalProfile::from_toml(text, "http://127.0.0.1:8080").unwrap();
        assert_eq!(p.max_validity_months(), 36);
        assert_eq!(p.ocsp_url(), "http://127.0.0.1:8080/ocsp");
        assert!(PersonalProfile::from_toml(text, "https://ca.example.vn").is_err());
    }

    #[test]
    fn urls_follow_the_profile_and_shards() {
        let p = profile("").unwrap();
        assert_eq!(p.ocsp_url(), "http://ca.example.vn/ocsp");
        assert_eq!(
            p.ca_issuers_url("dev-issuing"),
            "http://ca.example.vn/ca/dev-issuing.crt"
        );
        let serial = Serial::generate().unwrap();
        assert_eq!(p.crl_shard(&serial), 0);
        assert_eq!(
            p.crl_url("dev-issuing", 0),
            "http://ca.example.vn/crl/dev-issuing.crl"
        );
        let p = profile("crl_shards = 4").unwrap();
        let shard = p.crl_shard(&serial);
        assert!(shard < 4);
        assert_eq!(
            p.crl_url("dev-issuing", shard),
            format!("http://ca.example.vn/crl/dev-issuing-{shard}.crl")
        );
    }

    #[test]
    fn profile_with_bad_values_is_refused() {
        assert!(profile("crl_shards = 0").is_err());
        assert!(profile("max_validity_months = 37").is_err());
        assert!(profile("unknown = 1").is_err());
        let bad_oid = "policy_oid = \"not.an.oid\"\nuser_notice_template = \"{package}\"\nbase_url = \"http://x.vn\"";
        assert!(toml::from_str::<PersonalProfile>(bad_oid).is_err());
        let https = "policy_oid = \"1.2.3\"\nuser_notice_template = \"{package}\"\nbase_url = \"https://x.vn\"";
        assert!(toml::from_str::<PersonalProfile>(https).is_err());
    }

    #[test]
    fn user_notice_names_the_package_and_respects_200_characters() {
        let p = profile("").unwrap();
        assert_eq!(
            p.user_notice("PS0").unwrap(),
            "Chứng thư số cá nhân, gói PS0"
        );
        assert!(p.user_notice("").is_err());
        assert!(p.user_notice("a\nb").is_err());
    }

    fn subject() -> SubjectInfo {
        SubjectInfo {
            full_name: "Nguyễn Thị Ánh Tuyết".into(),
            id_number: "001301012345".into(),
            province: "Thành phố Hà Nội".into(),
            locality: Some("phường Cửa Nam".into()),
            email: Some("tuyet.nguyen@example.vn".into()),
        }
    }

    #[test]
    fn vietnamese_subject_with_diacritics_is_accepted() {
        subject().check().unwrap();
        // 64 characters of Vietnamese is more than 64 bytes; the bound is on characters.
        let s = SubjectInfo {
            full_name: "Ễ".repeat(64),
            ..subject()
        };
        s.check().unwrap();
    }

    #[test]
    fn subject_with_bad_fields_is_refused() {
        let cases = [
            SubjectInfo {
                full_name: "Ễ".repeat(65),
                ..subject()
            },
            SubjectInfo {
                full_name: " Tuyết".into(),
                ..subject()
            },
            SubjectInfo {
                full_name: "A\u{0}B".into(),
                ..subject()
            },
            SubjectInfo {
                id_number: "12345678901".into(),
                ..subject()
            },
            SubjectInfo {
                id_number: "00130101234x".into(),
                ..subject()
            },
            SubjectInfo {
                province: String::new(),
                ..subject()
            },
            SubjectInfo {
                locality: Some(String::new()),
                ..subject()
            },
            SubjectInfo {
                email: Some("tuyết@example.vn".into()),
                ..subject()
            },
            SubjectInfo {
                email: Some("a@b".into()),
                ..subject()
            },
            SubjectInfo {
                email: Some("a..b@example.vn".into()),
                ..subject()
            },
            SubjectInfo {
                email: Some("a b@example.vn".into()),
                ..subject()
            },
        ];
        for s in cases {
            assert_eq!(s.check().unwrap_err().code(), "subject_invalid", "{s:?}");
        }
    }
}
