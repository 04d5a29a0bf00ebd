//! The pages' words in Vietnamese (the default) and English, and how dates and amounts are
//! written. Every key a template or handler uses must be in [`CATALOGUE`]; a unit test reads
//! the templates and the web sources and fails on any key that is not.

use chrono::{DateTime, FixedOffset, NaiveDate, Offset, TimeZone, Utc};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Vi,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }
    /// The other language, for the switch in the header.
    pub fn other(self) -> Self {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }
    /// The text for `key`; an unknown key shows itself (and fails the catalogue test).
    pub fn t(self, key: &str) -> &'static str {
        match CATALOGUE.binary_search_by(|(k, _, _)| (*k).cmp(key)) {
            Ok(i) => {
                let (_, vi, en) = CATALOGUE[i];
                match self {
                    Lang::Vi => vi,
                    Lang::En => en,
                }
            }
            Err(_) => {
                tracing::error!(key, "missing translation key");
                "???"
            }
        }
    }
    /// Picks one of two texts made at run time (e.g. a domain error's `message_vi`/`message`).
    pub fn pick<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }
}

/// Staff work in Vietnam: times are shown in Indochina Time (UTC+7, no daylight saving).
pub fn vietnam() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).unwrap_or(Utc.fix())
}

/// `dd/mm/yyyy HH:MM` in Vietnam time, for both languages (the format staff use).
pub fn datetime(t: DateTime<Utc>) -> String {
    t.with_timezone(&vietnam())
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

/// `dd/mm/yyyy`.
pub fn date(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// The calendar day in Vietnam that `t` falls on.
pub fn vietnam_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&vietnam()).date_naive()
}

/// The UTC instant a Vietnamese calendar day starts.
pub fn day_start(d: NaiveDate) -> DateTime<Utc> {
    let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    vietnam()
        .from_local_datetime(&midnight)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc())
}

/// Whole đồng with `.` between thousands: `1.500.000 ₫`.
pub fn vnd(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(c);
    }
    let sign = if amount < 0 { "-" } else { "" };
    format!("{sign}{out} ₫")
}

/// Thousands separated by `.` (Vietnamese) or `,` (English).
pub fn count(lang: Lang, n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let sep = match lang {
        Lang::Vi => '.',
        Lang::En => ',',
    };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(sep);
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Key, Vietnamese, English; sorted by key (binary search; a test checks the order).
pub const CATALOGUE: &[(&str, &str, &str)] = &[
    ("app.title", "Cổng nghiệp vụ CA", "CA operator portal"),
    ("common.back", "Quay lại", "Back"),
    ("common.cancel", "Huỷ", "Cancel"),
    ("common.none", "Không có", "None"),
    ("common.search", "Tìm kiếm", "Search"),
    ("dashboard.title", "Tổng quan", "Dashboard"),
    ("error.403.text", "Bạn không có quyền xem trang này hoặc thực hiện thao tác này.", "You are not allowed to see this page or take this action."),
    ("error.403.title", "Không có quyền truy cập", "Forbidden"),
    ("error.404.text", "Trang hoặc mục bạn tìm không tồn tại.", "The page or item you asked for does not exist."),
    ("error.404.title", "Không tìm thấy", "Not found"),
    ("error.500.text", "Đã xảy ra lỗi phía máy chủ. Vui lòng báo mã thao tác dưới đây cho bộ phận kỹ thuật.", "Something went wrong on our side. Please give the operation id below to the technical team."),
    ("error.500.title", "Lỗi hệ thống", "Server error"),
    ("error.csrf.text", "Biểu mẫu đã hết hạn hoặc không hợp lệ (mã chống giả mạo CSRF không khớp). Hãy tải lại trang và thử lại.", "The form has expired or is not valid (the CSRF token does not match). Reload the page and try again."),
    ("error.csrf.title", "Biểu mẫu không hợp lệ", "Form rejected"),
    ("error.generic.text", "Yêu cầu không thể xử lý.", "The request cannot be handled."),
    ("error.generic.title", "Yêu cầu không hợp lệ", "Bad request"),
    ("error.home", "Về trang tổng quan", "Go to the dashboard"),
    ("error.operation_id", "Mã thao tác", "Operation id"),
    ("lang.switch", "English", "Tiếng Việt"),
    ("nav.admin", "Quản trị", "Administration"),
    ("nav.audit", "Nhật ký kiểm toán", "Audit"),
    ("nav.certificates", "Chứng thư số", "Certificates"),
    ("nav.counter", "Đăng ký tại quầy", "Counter enrolment"),
    ("nav.dashboard", "Tổng quan", "Dashboard"),
    ("nav.enrolments", "Hồ sơ đăng ký", "Enrolments"),
    ("nav.reports", "Báo cáo", "Reports"),
    ("nav.sign_out", "Đăng xuất", "Sign out"),
    ("nav.workstation", "Xác minh video", "Video verification"),
    ("role.admin", "Quản trị viên", "Administrator"),
    ("role.auditor", "Kiểm toán viên", "Auditor"),
    ("role.operator", "Nhân viên xác minh", "Verification operator"),
    ("role.ra_officer", "Cán bộ RA", "RA officer"),
    ("signin.code", "Mã xác thực (TOTP, 6 chữ số)", "Authentication code (TOTP, 6 digits)"),
    ("signin.expired", "Phiên làm việc đã hết hạn; vui lòng đăng nhập lại.", "Your session has expired; please sign in again."),
    ("signin.first.code", "Mã 6 chữ số từ ứng dụng, sau khi quét mã QR", "The 6-digit code from the app, after scanning the QR code"),
    ("signin.first.confirm", "Xác nhận mật khẩu mới", "Confirm the new password"),
    ("signin.first.intro", "Đây là lần đăng nhập đầu tiên (hoặc tài khoản vừa được đặt lại). Hãy đặt mật khẩu mới và đăng ký mã xác thực mới trong ứng dụng xác thực (Google Authenticator, Microsoft Authenticator…).", "This is your first sign-in (or your account was just reset). Choose a new password and enrol a new authentication code in your authenticator app (Google Authenticator, Microsoft Authenticator…)."),
    ("signin.first.mismatch", "Hai mật khẩu mới không khớp.", "The two new passwords do not match."),
    ("signin.first.new_password", "Mật khẩu mới (12-128 ký tự)", "New password (12-128 characters)"),
    ("signin.first.qr", "Quét mã QR này bằng ứng dụng xác thực, hoặc nhập khoá thủ công:", "Scan this QR code with your authenticator app, or enter the key by hand:"),
    ("signin.first.submit", "Lưu và tiếp tục", "Save and continue"),
    ("signin.first.title", "Thiết lập tài khoản", "Set up your account"),
    ("signin.first.wrong_code", "Mã xác thực không khớp với mã QR mới. Hãy kiểm tra giờ trên điện thoại và thử lại.", "The code does not match the new QR code. Check the time on your phone and try again."),
    ("signin.invalid", "Sai tên đăng nhập, mật khẩu hoặc mã xác thực.", "Wrong username, password or authentication code."),
    ("signin.locked", "Tài khoản đã bị khoá tạm thời do đăng nhập sai quá nhiều lần. Có thể thử lại sau", "The account is locked for now after too many failed sign-ins. You can try again after"),
    ("signin.password", "Mật khẩu", "Password"),
    ("signin.signed_out", "Bạn đã đăng xuất.", "You have signed out."),
    ("signin.submit", "Đăng nhập", "Sign in"),
    ("signin.title", "Đăng nhập", "Sign in"),
    ("signin.username", "Tên đăng nhập", "Username"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_sorted_and_unique() {
        for w in CATALOGUE.windows(2) {
            assert!(w[0].0 < w[1].0, "{} must come before {}", w[1].0, w[0].0);
        }
    }

    /// Every `t("…")` in the templates and the web module names a catalogue key.
    #[test]
    fn every_key_used_is_in_the_catalogue() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["templates/web", "src/web"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                // This file talks about the pattern rather than using it.
                if !path.ends_with("i18n.rs") {
                    files.push(path);
                }
            }
        }
        let mut missing = Vec::new();
        let mut used = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (i, _) in text.match_indices("t(\"") {
                // `t("` preceded by `.` or a non-identifier character is a lookup.
                let before = text[..i].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = &text[i + 3..];
                let Some(end) = rest.find('"') else { continue };
                let key = &rest[..end];
                used += 1;
                if CATALOGUE
                    .binary_search_by(|(k, _, _)| (*k).cmp(key))
                    .is_err()
                {
                    missing.push(format!("{}: {key}", file.display()));
                }
            }
        }
        assert!(used > 10, "the scan found almost no keys; is it broken?");
        assert!(
            missing.is_empty(),
            "keys missing from CATALOGUE: {missing:#?}"
        );
    }

    #[test]
    fn amounts_are_whole_dong_with_dots() {
        assert_eq!(vnd(1_500_000), "1.500.000 ₫");
        assert_eq!(vnd(0), "0 ₫");
        assert_eq!(vnd(999), "999 ₫");
        assert_eq!(vnd(1000), "1.000 ₫");
        assert_eq!(count(Lang::En, 1234567), "1,234,567");
    }

    #[test]
    fn dates_are_day_month_year_in_vietnam_time() {
        let t = DateTime::parse_from_rfc3339("2026-11-23T18:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(datetime(t), "24/11/2026 01:30");
        assert_eq!(date(vietnam_day(t)), "24/11/2026");
        assert_eq!(
            day_start(vietnam_day(t)).to_rfc3339(),
            "2026-11-23T17:00:00+00:00"
        );
    }
}
