//! The JSON problem every API error answers with: a stable `code` the app branches on, an
//! English `message` and a Vietnamese `message_vi` a person can read, and per-field errors
//! for validation failures. Internal detail is logged once (with the request id), never sent.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use crate::operators::OperatorsError;
use crate::otp::OtpError;
use crate::store::StoreError;

#[derive(Clone, Debug, Object)]
pub struct FieldProblem {
    /// Dotted path of the field, e.g. `identity.id_number`.
    pub field: String,
    pub code: String,
    pub message: String,
    pub message_vi: String,
}

#[derive(Clone, Debug, Object)]
pub struct Problem {
    /// Stable machine-readable code, e.g. `invalid_credentials`.
    pub code: String,
    /// English, for people.
    pub message: String,
    /// Vietnamese, for people.
    pub message_vi: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldProblem>>,
    /// For a refusal that lifts with time (`otp_resend_too_soon`, `otp_rate_limited`): the
    /// seconds to wait, as in `Retry-After`, for the app's countdown.
    #[oai(skip_serializing_if_is_none)]
    pub retry_after_seconds: Option<u32>,
    /// For `otp_invalid`: wrong codes still allowed before the code locks.
    #[oai(skip_serializing_if_is_none)]
    pub attempts_left: Option<u32>,
}

#[derive(Debug, ApiResponse)]
pub enum ApiError {
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    #[oai(status = 409)]
    Conflict(Json<Problem>),
    #[oai(status = 413)]
    PayloadTooLarge(Json<Problem>),
    #[oai(status = 415)]
    UnsupportedMediaType(Json<Problem>),
    #[oai(status = 422)]
    Unprocessable(Json<Problem>),
    #[oai(status = 429)]
    TooManyRequests(
        Json<Problem>,
        /// Seconds to wait before trying again, when known.
        #[oai(header = "Retry-After")]
        Option<u32>,
    ),
    #[oai(status = 500)]
    Internal(Json<Problem>),
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

pub fn problem(
    code: &str,
    message: impl Into<String>,
    message_vi: impl Into<String>,
) -> Json<Problem> {
    Json(Problem {
        code: code.to_string(),
        message: message.into(),
        message_vi: message_vi.into(),
        errors: None,
        retry_after_seconds: None,
        attempts_left: None,
    })
}

impl ApiError {
    /// The HTTP status and the problem, for the web pages that show the same messages.
    pub fn into_parts(self) -> (u16, Problem) {
        match self {
            ApiError::BadRequest(p) => (400, p.0),
            ApiError::Unauthorized(p) => (401, p.0),
            ApiError::Forbidden(p) => (403, p.0),
            ApiError::NotFound(p) => (404, p.0),
            ApiError::Conflict(p) => (409, p.0),
            ApiError::PayloadTooLarge(p) => (413, p.0),
            ApiError::UnsupportedMediaType(p) => (415, p.0),
            ApiError::Unprocessable(p) => (422, p.0),
            ApiError::TooManyRequests(p, _) => (429, p.0),
            ApiError::Internal(p) => (500, p.0),
            ApiError::Unavailable(p) => (503, p.0),
        }
    }

    /// For failures the caller cannot act on: logged here, answered without detail.
    pub fn unexpected(context: impl std::fmt::Display) -> Self {
        tracing::error!(error = %context, "unexpected error");
        ApiError::Internal(problem(
            "internal_error",
            "Something went wrong on our side; the request id identifies it.",
            "Đã xảy ra lỗi phía máy chủ; mã yêu cầu (request id) giúp tra cứu.",
        ))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::unexpected(e)
    }
}

impl From<OperatorsError> for ApiError {
    fn from(e: OperatorsError) -> Self {
        use OperatorsError as E;
        let en = e.to_string();
        match e {
            E::InvalidUsername => ApiError::Unprocessable(problem(
                "invalid_username",
                en,
                "Tên đăng nhập dài 3-32 ký tự: chữ thường, chữ số, '.', '_', '-', bắt đầu bằng chữ.",
            )),
            E::InvalidRole(_) => ApiError::Unprocessable(problem(
                "invalid_role",
                en,
                "Vai trò không hợp lệ; cho phép: operator, ra_officer, admin, auditor.",
            )),
            E::InvalidScope(_) => ApiError::Unprocessable(problem(
                "invalid_scope",
                en,
                "Phạm vi không hợp lệ; cho phép: enrol, lifecycle, reports.",
            )),
            E::InvalidName => ApiError::Unprocessable(problem(
                "invalid_name",
                en,
                "Tên khóa API phải dài 1-100 ký tự.",
            )),
            E::WeakPassword(_) => ApiError::Unprocessable(problem(
                "weak_password",
                en,
                "Mật khẩu mới phải dài 12-128 ký tự và khác mật khẩu hiện tại.",
            )),
            E::UsernameTaken => ApiError::Conflict(problem(
                "username_taken",
                en,
                "Tên đăng nhập đã tồn tại.",
            )),
            E::InvalidCredentials => ApiError::Unauthorized(problem(
                "invalid_credentials",
                en,
                "Sai tên đăng nhập, mật khẩu hoặc mã xác thực.",
            )),
            E::Locked { until } => ApiError::TooManyRequests(
                problem(
                    "account_locked",
                    format!("Too many failed sign-ins; account locked until {}.", until.to_rfc3339()),
                    format!(
                        "Đăng nhập sai quá nhiều lần; tài khoản bị khóa đến {}.",
                        until.to_rfc3339()
                    ),
                ),
                None,
            ),
            E::Unauthenticated => ApiError::Unauthorized(problem(
                "unauthenticated",
                en,
                "Thiếu hoặc sai thông tin xác thực.",
            )),
            E::SessionExpired => ApiError::Unauthorized(problem(
                "session_expired",
                en,
                "Phiên làm việc đã hết hạn; vui lòng đăng nhập lại.",
            )),
            E::Forbidden { .. } => ApiError::Forbidden(problem(
                "forbidden",
                en,
                "Bạn không có quyền thực hiện thao tác này.",
            )),
            E::PasswordChangeRequired => ApiError::Forbidden(problem(
                "password_change_required",
                en,
                "Bạn phải đổi mật khẩu dùng một lần trước.",
            )),
            E::TotpEnrolmentCodeInvalid => ApiError::Unprocessable(problem(
                "totp_enrolment_code_invalid",
                en,
                "Mã xác thực không khớp với khóa xác thực mới.",
            )),
            E::FirstSignInDone => ApiError::Conflict(problem(
                "first_sign_in_done",
                en,
                "Tài khoản đã hoàn tất thiết lập lần đầu.",
            )),
            E::NotFound => ApiError::NotFound(problem("not_found", en, "Không tìm thấy.")),
            E::Crypto(_) => ApiError::unexpected(en),
            E::Unexpected(e) => ApiError::unexpected(e),
        }
    }
}

/// OTP refusals, shared by every step confirmed with a code. Those that lift with time answer
/// 429 with `Retry-After` and the seconds in the body; a wrong code says how many attempts are
/// left; the others need a new code (409).
impl From<OtpError> for ApiError {
    fn from(e: OtpError) -> Self {
        use OtpError as E;
        let code = e.code();
        let en = e.to_string();
        let conflict = |vi: &str| ApiError::Conflict(problem(code, en.clone(), vi));
        match e {
            E::Invalid { attempts_left } => {
                let mut p = problem(
                    code,
                    en,
                    format!("Mã xác thực không đúng; còn {attempts_left} lần thử."),
                );
                p.attempts_left = Some(attempts_left);
                ApiError::Unprocessable(p)
            }
            E::ResendTooSoon {
                retry_after_seconds,
            }
            | E::RateLimited {
                retry_after_seconds,
            } => {
                let vi = if code == "otp_resend_too_soon" {
                    format!("Có thể gửi lại mã sau {retry_after_seconds} giây.")
                } else {
                    format!(
                        "Đã gửi quá nhiều mã tới số này; thử lại sau {retry_after_seconds} giây."
                    )
                };
                // u32 keeps `ApiError` small; no countdown comes near its limit.
                let seconds = u32::try_from(retry_after_seconds.max(0)).unwrap_or(u32::MAX);
                let mut p = problem(code, en, vi);
                p.retry_after_seconds = Some(seconds);
                ApiError::TooManyRequests(p, Some(seconds))
            }
            E::Locked => conflict("Nhập sai mã quá số lần cho phép; vui lòng yêu cầu mã mới."),
            E::Expired => conflict("Mã xác thực đã hết hạn hoặc đã được thay bằng mã mới."),
            E::AlreadyUsed => conflict("Mã xác thực đã được sử dụng."),
            E::WrongPurpose => conflict("Mã xác thực được cấp cho mục đích khác."),
            E::WrongDocument => conflict("Mã xác thực được cấp cho văn bản khác."),
            E::NotFound => conflict("Chưa yêu cầu mã xác thực; vui lòng yêu cầu gửi mã."),
            E::BadRequest(_) | E::Unexpected(_) => ApiError::unexpected(en),
        }
    }
}
