//! The one refusal type below both front ends (Boulder's `probs/`, kanidm's `OperationError`):
//! an HTTP status, a stable `code` clients branch on, and the text from the catalogue
//! ([`crate::texts`], key `problem.<code>`). Domain errors become a [`Problem`]; the API
//! (`api::problem`) writes it as JSON (`code`, `message`, `message_vi`, field errors), the
//! pages show its text in the page's language, and `http` answers framework errors with it.
//!
//! Internal failures carry their detail for the log only; whoever answers with the problem
//! logs it once (with the request id) and sends the generic text.

use std::fmt::Display;

use poem::http::StatusCode;
use poem_openapi::Object;

use crate::texts::{Lang, Text};

/// One refused field: its dotted path, a stable code and the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub code: String,
    pub text: Text,
}

/// The `Retry-After` of `database_unavailable`: the pool retries connecting more often than
/// this, so the first retry after the database returns succeeds.
pub const DATABASE_RETRY_AFTER_SECONDS: u32 = 2;

#[derive(Clone, Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub text: Text,
    /// Per-field refusals (`validation_failed`).
    pub errors: Vec<FieldProblem>,
    /// For a refusal that lifts with time: the seconds to wait.
    pub retry_after_seconds: Option<u32>,
    /// For `otp_invalid`: wrong codes still allowed before the code locks.
    pub attempts_left: Option<u32>,
    /// What failed inside (internal errors only): logged, never sent.
    pub detail: Option<String>,
}

impl Problem {
    /// A refusal with the catalogue's text for `code`.
    pub fn new(status: StatusCode, code: &'static str) -> Self {
        Self::with_text(status, code, Text::of(&format!("problem.{code}")))
    }

    /// A refusal whose code is shared by two situations that need different words: the text
    /// is `problem.<code>.<context>`.
    pub fn in_context(status: StatusCode, code: &'static str, context: &str) -> Self {
        Self::with_text(status, code, Text::of(&format!("problem.{code}.{context}")))
    }

    fn with_text(status: StatusCode, code: &'static str, text: Text) -> Self {
        Self {
            status,
            code,
            text,
            errors: Vec::new(),
            retry_after_seconds: None,
            attempts_left: None,
            detail: None,
        }
    }

    /// Fills the text's parameter `{name}`.
    pub fn arg(mut self, name: &str, value: impl Display) -> Self {
        self.text = self.text.arg(name, value);
        self
    }

    /// A failure the caller cannot act on: answered as `internal_error` without detail.
    pub fn internal(detail: impl Display) -> Self {
        let mut p = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
        p.detail = Some(detail.to_string());
        p
    }

    /// The database cannot be reached: 503 `database_unavailable`, with `Retry-After`. Not an
    /// internal error: nothing failed in this request, and a retry in a moment succeeds once
    /// the database is back (the pool reconnects within half the acquire timeout).
    pub fn database_unavailable() -> Self {
        let mut p = Self::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
            .arg("seconds", DATABASE_RETRY_AFTER_SECONDS);
        p.retry_after_seconds = Some(DATABASE_RETRY_AFTER_SECONDS);
        p
    }

    /// The text in `lang`.
    pub fn message(&self, lang: Lang) -> &str {
        self.text.get(lang)
    }

    /// The wire form: English in `message`, Vietnamese in `message_vi`.
    pub fn into_body(self) -> ProblemBody {
        ProblemBody {
            code: self.code.to_string(),
            message: self.text.en.into_owned(),
            message_vi: self.text.vi.into_owned(),
            errors: (!self.errors.is_empty()).then(|| {
                self.errors
                    .into_iter()
                    .map(|f| FieldProblemBody {
                        field: f.field,
                        code: f.code,
                        message: f.text.en.into_owned(),
                        message_vi: f.text.vi.into_owned(),
                    })
                    .collect()
            }),
            retry_after_seconds: self.retry_after_seconds,
            attempts_left: self.attempts_left,
        }
    }

    /// Logs the detail of an internal failure; the one place that does, so each is logged once.
    pub fn log(&self) {
        if let Some(detail) = &self.detail {
            tracing::error!(error = %detail, code = self.code, "unexpected error");
        }
    }
}

/// The JSON problem on the wire (the API's schema `Problem`; `http` answers framework errors
/// with the same).
#[derive(Clone, Debug, Object)]
#[oai(rename = "FieldProblem")]
pub struct FieldProblemBody {
    /// Dotted path of the field, e.g. `identity.id_number`.
    pub field: String,
    pub code: String,
    pub message: String,
    pub message_vi: String,
}

#[derive(Clone, Debug, Object)]
#[oai(rename = "Problem")]
pub struct ProblemBody {
    /// Stable machine-readable code, e.g. `invalid_credentials`.
    pub code: String,
    /// English, for people.
    pub message: String,
    /// Vietnamese, for people.
    pub message_vi: String,
    #[oai(nullable, skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldProblemBody>>,
    /// For a refusal that lifts with time (`otp_resend_too_soon`, `otp_rate_limited`,
    /// `database_unavailable`, `issuance_interrupted`): the seconds to wait, as in
    /// `Retry-After`, for the app's countdown.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub retry_after_seconds: Option<u32>,
    /// For `otp_invalid`: wrong codes still allowed before the code locks.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub attempts_left: Option<u32>,
}
