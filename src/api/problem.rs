//! The JSON problem every API error answers with: a [`Problem`] written as a stable `code` the
//! app branches on, an English `message` and a Vietnamese `message_vi` a person can read, and
//! per-field errors for validation failures. Internal detail is logged once (with the request
//! id), never sent. The texts come from the catalogue ([`crate::texts`]), never from here.

use poem_openapi::payload::Json;
use poem_openapi::ApiResponse;

use poem::http::StatusCode;

use crate::operators::OperatorsError;
use crate::otp::OtpError;
use crate::problem::{Problem, ProblemBody};
use crate::store::StoreError;

#[derive(Debug, ApiResponse)]
pub enum ApiError {
    #[oai(status = 400)]
    BadRequest(Json<ProblemBody>),
    #[oai(status = 401)]
    Unauthorized(Json<ProblemBody>),
    #[oai(status = 403)]
    Forbidden(Json<ProblemBody>),
    #[oai(status = 404)]
    NotFound(Json<ProblemBody>),
    #[oai(status = 409)]
    Conflict(Json<ProblemBody>),
    #[oai(status = 413)]
    PayloadTooLarge(Json<ProblemBody>),
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ProblemBody>),
    #[oai(status = 422)]
    Unprocessable(Json<ProblemBody>),
    #[oai(status = 429)]
    TooManyRequests(
        Json<ProblemBody>,
        /// Seconds to wait before trying again, when known.
        #[oai(header = "Retry-After")]
        Option<u32>,
    ),
    #[oai(status = 500)]
    Internal(Json<ProblemBody>),
    #[oai(status = 503)]
    Unavailable(
        Json<ProblemBody>,
        /// Seconds to wait before trying again (`database_unavailable`, `issuance_interrupted`).
        #[oai(header = "Retry-After")]
        Option<u32>,
    ),
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        p.log();
        let status = p.status;
        let retry_after = p.retry_after_seconds;
        let body = Json(p.into_body());
        match status {
            StatusCode::BAD_REQUEST => ApiError::BadRequest(body),
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized(body),
            StatusCode::FORBIDDEN => ApiError::Forbidden(body),
            StatusCode::NOT_FOUND => ApiError::NotFound(body),
            StatusCode::CONFLICT => ApiError::Conflict(body),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(body),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(body),
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable(body),
            StatusCode::TOO_MANY_REQUESTS => ApiError::TooManyRequests(body, retry_after),
            StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(body, retry_after),
            s if s.is_client_error() => ApiError::BadRequest(body),
            _ => ApiError::Internal(body),
        }
    }
}

impl ApiError {
    /// For failures the caller cannot act on: logged here, answered without detail.
    pub fn unexpected(context: impl std::fmt::Display) -> Self {
        Problem::internal(context).into()
    }
}

/// `?` on a domain error in a handler: through its [`Problem`], so API and pages say the same.
macro_rules! via_problem {
    ($($error:ty),* $(,)?) => {
        $(impl From<$error> for ApiError {
            fn from(e: $error) -> Self {
                Problem::from(e).into()
            }
        })*
    };
}

via_problem!(
    StoreError,
    OperatorsError,
    OtpError,
    crate::contract::ContractError,
    crate::acceptance::AcceptanceError,
    crate::renewal::RenewalError,
    crate::issuance::IssuanceError,
    crate::status::StatusError,
    crate::reports::ReportsError,
    crate::verification::VerificationError,
    crate::enrolment::EnrolmentError,
    crate::vneid::VneidError,
);

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Problem::database_unavailable(),
            e => Problem::internal(e),
        }
    }
}

impl From<OperatorsError> for Problem {
    fn from(e: OperatorsError) -> Self {
        use OperatorsError as E;
        use StatusCode as S;
        match e {
            E::InvalidUsername => Problem::new(S::UNPROCESSABLE_ENTITY, "invalid_username"),
            E::InvalidRole(role) => {
                Problem::new(S::UNPROCESSABLE_ENTITY, "invalid_role").arg("role", role)
            }
            E::InvalidScope(scope) => {
                Problem::new(S::UNPROCESSABLE_ENTITY, "invalid_scope").arg("scope", scope)
            }
            E::InvalidName => Problem::new(S::UNPROCESSABLE_ENTITY, "invalid_name"),
            E::WeakPassword(reason) => {
                Problem::new(S::UNPROCESSABLE_ENTITY, "weak_password").arg("reason", reason)
            }
            E::UsernameTaken => Problem::new(S::CONFLICT, "username_taken"),
            E::InvalidCredentials => Problem::new(S::UNAUTHORIZED, "invalid_credentials"),
            E::Locked { until } => Problem::new(S::TOO_MANY_REQUESTS, "account_locked")
                .arg("until", until.to_rfc3339()),
            E::Unauthenticated => Problem::new(S::UNAUTHORIZED, "unauthenticated"),
            E::SessionExpired => Problem::new(S::UNAUTHORIZED, "session_expired"),
            E::Forbidden { needed } => {
                Problem::new(S::FORBIDDEN, "forbidden").arg("needed", needed)
            }
            E::PasswordChangeRequired => Problem::new(S::FORBIDDEN, "password_change_required"),
            E::TotpEnrolmentCodeInvalid => {
                Problem::new(S::UNPROCESSABLE_ENTITY, "totp_enrolment_code_invalid")
            }
            E::FirstSignInDone => Problem::new(S::CONFLICT, "first_sign_in_done"),
            E::NotFound => Problem::new(S::NOT_FOUND, "not_found"),
            E::IntegrationNotFound => {
                Problem::new(S::UNPROCESSABLE_ENTITY, "integration_not_found")
            }
            E::Crypto(e) => Problem::internal(format!("credential cryptography: {e}")),
            E::Unexpected(e) => e.into(),
        }
    }
}

/// OTP refusals, shared by every step confirmed with a code. Those that lift with time answer
/// 429 with `Retry-After` and the seconds in the body; a wrong code says how many attempts are
/// left; the others need a new code (409).
impl From<OtpError> for Problem {
    fn from(e: OtpError) -> Self {
        use OtpError as E;
        let code = e.code();
        match e {
            E::Invalid { attempts_left } => {
                let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code)
                    .arg("attempts_left", attempts_left);
                p.attempts_left = Some(attempts_left);
                p
            }
            E::CodeTooLong { max_chars } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code).arg("max_chars", max_chars)
            }
            E::ResendTooSoon {
                retry_after_seconds,
            }
            | E::RateLimited {
                retry_after_seconds,
            } => {
                // u32 keeps `ApiError` small; no countdown comes near its limit.
                let seconds = u32::try_from(retry_after_seconds.max(0)).unwrap_or(u32::MAX);
                let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS, code)
                    .arg("seconds", retry_after_seconds);
                p.retry_after_seconds = Some(seconds);
                p
            }
            E::Locked
            | E::Expired
            | E::AlreadyUsed
            | E::WrongPurpose
            | E::WrongDocument
            | E::NotFound => Problem::new(StatusCode::CONFLICT, code),
            E::Unavailable => Problem::database_unavailable(),
            E::BadRequest(_) | E::Unexpected(_) => Problem::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::CaError;
    use crate::issuance::IssuanceError;
    use crate::texts::lookup;

    /// Every source file's text before its unit tests (which build values to look at).
    fn sources() -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![root];
        let mut files = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
                    files.push((path.display().to_string(), text.to_string()));
                }
            }
        }
        files
    }

    /// The arguments of every call to `call` (up to the first `)`).
    fn calls<'a>(text: &'a str, call: &str) -> Vec<&'a str> {
        text.match_indices(call)
            .map(|(i, _)| {
                let args = &text[i + call.len()..];
                &args[..args.find(')').unwrap_or(args.len())]
            })
            .collect()
    }

    fn literals(args: &str) -> Vec<&str> {
        args.split('"').skip(1).step_by(2).collect()
    }

    /// The catalogue keys the sources name: `Problem::new(status, "code")` →
    /// `problem.code`, `Problem::in_context(status, "code", "context")`,
    /// `FieldError::new(field, codes::NAME)` → `field.<value of NAME>`, `Text::of("key")`.
    /// Codes chosen at run time (`e.code()`) are checked variant by variant below.
    fn keys_named_in_sources() -> Vec<(String, String)> {
        let files = sources();
        let mut consts: Vec<(String, String)> = Vec::new();
        for (_, text) in &files {
            for line in text.lines() {
                let line = line.trim();
                if let Some(rest) = line.strip_prefix("pub const ") {
                    if let Some((name, value)) = rest.split_once(": &str = \"") {
                        let value = value.trim_end_matches("\";");
                        consts.push((name.to_string(), value.to_string()));
                    }
                }
            }
        }
        let mut keys = Vec::new();
        for (file, text) in &files {
            for args in calls(text, "Problem::new(") {
                if let Some(code) = literals(args).first() {
                    keys.push((file.clone(), format!("problem.{code}")));
                }
            }
            for args in calls(text, "Problem::in_context(") {
                if let [code, context, ..] = literals(args)[..] {
                    keys.push((file.clone(), format!("problem.{code}.{context}")));
                }
            }
            for args in calls(text, "Text::of(") {
                if let Some(key) = literals(args).first() {
                    keys.push((file.clone(), key.to_string()));
                }
            }
            for (call, with_context) in [
                ("FieldError::new(", false),
                ("FieldError::in_context(", true),
            ] {
                for args in calls(text, call) {
                    let Some(name) = args.split("codes::").nth(1) else {
                        continue;
                    };
                    let name: String = name
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    let context = literals(args).last().copied().filter(|_| with_context);
                    // Two modules may name different codes alike; one of them must fit.
                    let candidates: Vec<String> = consts
                        .iter()
                        .filter(|(n, _)| *n == name)
                        .map(|(_, v)| match context {
                            Some(c) => format!("field.{v}.{c}"),
                            None => format!("field.{v}"),
                        })
                        .collect();
                    let key = candidates
                        .iter()
                        .find(|k| lookup(k).is_some())
                        .cloned()
                        .unwrap_or_else(|| format!("field.{name} (codes::{name})"));
                    keys.push((file.clone(), key));
                }
            }
        }
        keys
    }

    /// Every code the API can answer, every field refusal and every text the sources name has
    /// its text in both languages in the catalogue.
    #[test]
    fn every_problem_code_has_a_catalogue_text() {
        let keys = keys_named_in_sources();
        assert!(
            keys.len() > 100,
            "the scan found almost no keys; is it broken?"
        );
        let mut missing = Vec::new();
        for (file, key) in keys {
            // A key made at run time (`format!("problem.{code}")`) is the constructor itself.
            if key.contains('{') {
                continue;
            }
            match lookup(&key) {
                Some((vi, en)) if !vi.is_empty() && !en.is_empty() => {}
                _ => missing.push(format!("{file}: {key}")),
            }
        }
        assert!(missing.is_empty(), "texts missing: {missing:#?}");

        // Codes chosen at run time.
        let otp = [
            OtpError::Invalid { attempts_left: 1 },
            OtpError::CodeTooLong { max_chars: 16 },
            OtpError::Locked,
            OtpError::Expired,
            OtpError::AlreadyUsed,
            OtpError::WrongPurpose,
            OtpError::WrongDocument,
            OtpError::NotFound,
            OtpError::ResendTooSoon {
                retry_after_seconds: 5,
            },
            OtpError::RateLimited {
                retry_after_seconds: 5,
            },
            OtpError::BadRequest("x"),
        ];
        let ca = [
            CaError::CsrTooLarge { max: 1 },
            CaError::CsrMalformed("x".into()),
            CaError::CsrSignatureInvalid,
            CaError::CsrKeyTooSmall { bits: 1024 },
            CaError::CsrRsaExponent,
            CaError::CsrKeyUnsupported("x".into()),
            CaError::CsrSignatureAlgorithm("x".into()),
            CaError::SubjectInvalid("x".into()),
            CaError::ValidityInvalid("x".into()),
        ];
        use crate::enrolment::NextStep as N;
        for step in [
            N::UploadDocuments,
            N::VideoCall,
            N::SignContract,
            N::AwaitCertificate,
            N::AcceptCertificate,
            N::RetryIssuanceLater,
            N::RetryIssuance,
            N::ApplyAgain,
            N::None,
        ] {
            let key = format!("next_step.{}", step.as_str());
            assert!(lookup(&key).is_some(), "{key}: no catalogue text");
        }
        let problems = otp.into_iter().map(Problem::from).chain(
            ca.into_iter()
                .map(|e| Problem::from(IssuanceError::Rejected(e))),
        );
        for p in problems {
            let key = format!("problem.{}", p.code);
            assert!(lookup(&key).is_some(), "{key}: no catalogue text");
            assert!(
                !p.text.en.contains('{') && !p.text.vi.contains('{'),
                "{}: unfilled",
                p.code
            );
        }
    }

    #[test]
    fn the_wire_shape_is_code_message_and_message_vi() {
        let p = Problem::from(OtpError::Invalid { attempts_left: 2 });
        let ApiError::Unprocessable(body) = ApiError::from(p) else {
            panic!("otp_invalid is a 422");
        };
        assert_eq!(body.0.code, "otp_invalid");
        assert_eq!(body.0.message, "wrong code; 2 attempt(s) left");
        assert_eq!(body.0.message_vi, "Mã xác thực không đúng; còn 2 lần thử.");
        assert_eq!(body.0.attempts_left, Some(2));
    }
}
