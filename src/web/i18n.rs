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
    ("counter.address.line", "Số nhà, đường, thôn/xóm", "House number, street, hamlet"),
    ("counter.address.province", "Tỉnh/thành phố", "Province/city"),
    ("counter.address.ward", "Phường/xã/đặc khu", "Ward/commune"),
    ("counter.another", "Tiếp nhận hồ sơ khác", "Register another application"),
    ("counter.consent", "Đồng ý xử lý dữ liệu cá nhân", "Consent to the processing of personal data"),
    ("counter.consent.given", "Công dân đã đọc và đồng ý với nội dung trên", "The citizen has read and agrees to the text above"),
    ("counter.contact", "Liên hệ", "Contact"),
    ("counter.created", "Đã tiếp nhận hồ sơ.", "The application is registered."),
    ("counter.current_address", "Nơi ở hiện tại (nếu khác nơi thường trú)", "Current residence (if not the permanent address)"),
    ("counter.date_of_birth", "Ngày sinh", "Date of birth"),
    ("counter.documents", "Giấy tờ đã lưu", "Documents stored"),
    ("counter.email", "Thư điện tử (không bắt buộc)", "E-mail (optional)"),
    ("counter.enrolment", "Hồ sơ đăng ký tại quầy", "Counter application"),
    ("counter.enrolment_id", "Mã hồ sơ", "Application id"),
    ("counter.errors", "Hồ sơ chưa được tiếp nhận: hãy sửa các mục sau.", "The application was not registered: correct the following."),
    ("counter.full_name", "Họ và tên", "Full name"),
    ("counter.id_expiry_date", "Có giá trị đến (nếu có)", "Valid until (if any)"),
    ("counter.id_issue_date", "Ngày cấp thẻ", "Card issue date"),
    ("counter.id_issue_place", "Nơi cấp", "Place of issue"),
    ("counter.id_number", "Số định danh cá nhân (12 chữ số)", "Personal ID number (12 digits)"),
    ("counter.identity", "Thông tin trên thẻ căn cước", "Details on the ID card"),
    ("counter.intro", "Nhập thông tin theo thẻ căn cước của công dân đang có mặt tại quầy. Bạn là người xác minh danh tính của hồ sơ này.", "Enter the details from the ID card of the citizen at the desk. You are the one who verifies this applicant's identity."),
    ("counter.nationality", "Quốc tịch", "Nationality"),
    ("counter.next_step", "Bước tiếp theo", "Next step"),
    ("counter.permanent_address", "Nơi thường trú", "Permanent address"),
    ("counter.phone", "Số điện thoại di động", "Mobile phone number"),
    ("counter.sex", "Giới tính", "Sex"),
    ("counter.sex.female", "Nữ", "Female"),
    ("counter.sex.male", "Nam", "Male"),
    ("counter.status", "Trạng thái", "Status"),
    ("counter.submit", "Tiếp nhận hồ sơ", "Register the application"),
    ("counter.title", "Đăng ký tại quầy", "Counter enrolment"),
    ("counter.upload", "Lưu ảnh giấy tờ vào hồ sơ", "Add a document image to the dossier"),
    ("counter.upload.file", "Tệp ảnh JPEG hoặc PNG, tối đa", "JPEG or PNG image file, at most"),
    ("counter.upload.kind", "Loại giấy tờ", "Document"),
    ("counter.upload.submit", "Tải lên", "Upload"),
    ("counter.uploaded", "Đã lưu giấy tờ (được mã hoá).", "The document is stored (encrypted)."),
    ("counter.verified_by", "Xác minh bởi", "Verified by"),
    ("dashboard.title", "Tổng quan", "Dashboard"),
    ("document.id_back", "Mặt sau thẻ căn cước", "ID card, back"),
    ("document.id_front", "Mặt trước thẻ căn cước", "ID card, front"),
    ("document.liveness", "Ảnh xác thực người thật", "Liveness capture"),
    ("document.portrait", "Ảnh chân dung", "Portrait"),
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
    ("reports.address", "Theo địa chỉ", "By address"),
    ("reports.address.current", "Nơi ở hiện tại (nếu có)", "Current residence (where given)"),
    ("reports.address.permanent", "Thường trú (như trong chứng thư)", "Permanent (as in the certificate)"),
    ("reports.as_of", "Số đang hiệu lực của kỳ cuối tính đến", "The last period's active figure is as of"),
    ("reports.by_place", "Theo địa bàn", "By place"),
    ("reports.col.accepted", "Đã nghiệm thu", "Accepted"),
    ("reports.col.active", "Đang hiệu lực", "Active"),
    ("reports.col.issued", "Đã cấp", "Issued"),
    ("reports.col.period", "Kỳ", "Period"),
    ("reports.csv", "Tải về CSV", "Download CSV"),
    ("reports.empty", "Không có chứng thư số nào trong khoảng thời gian và địa bàn này.", "No certificates in this period and place."),
    ("reports.from", "Từ ngày", "From"),
    ("reports.intro", "Số chứng thư số đã cấp (ký trong kỳ), đã nghiệm thu (người dùng xác nhận biên bản trong kỳ) và đang hiệu lực (cuối kỳ: đã nghiệm thu, còn hạn, không bị thu hồi hay tạm dừng), theo tỉnh/thành phố và phường/xã trong địa chỉ của người đăng ký — không suy ra từ mã tỉnh trong số định danh.", "Certificates issued (signed in the period), accepted (the subscriber confirmed the acceptance record in the period) and active (at the end of the period: accepted, unexpired, neither revoked nor suspended), by province and ward from the applicant's address — never inferred from the province code of the ID number."),
    ("reports.level", "Cấp địa bàn", "Level"),
    ("reports.level.province", "Tỉnh/thành phố", "Province"),
    ("reports.level.ward", "Phường/xã", "Ward/commune"),
    ("reports.period", "Theo", "By"),
    ("reports.period.day", "Ngày", "Day"),
    ("reports.period.month", "Tháng", "Month"),
    ("reports.province", "Chỉ tỉnh/thành phố (không bắt buộc)", "Only this province (optional)"),
    ("reports.show", "Xem báo cáo", "Show the report"),
    ("reports.timezone", "Ngày tính theo giờ Việt Nam (UTC+7).", "Days are Vietnam time (UTC+7)."),
    ("reports.title", "Báo cáo cấp chứng thư số", "Certificate issuance report"),
    ("reports.to", "Đến ngày", "To"),
    ("reports.totals", "Tổng theo kỳ", "Totals by period"),
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
    ("ws.applicant", "Thông tin người đăng ký", "Applicant"),
    ("ws.check.data", "Đã đối chiếu thông tin với người đăng ký", "The identity data was confirmed with the applicant"),
    ("ws.check.document", "Thẻ căn cước là thật và còn hạn", "The ID card is genuine and unexpired"),
    ("ws.check.face", "Khuôn mặt khớp với ảnh chân dung và ảnh trên thẻ", "The face matches the portrait and the ID card photo"),
    ("ws.check.present", "Người đăng ký là người thật, đang có mặt", "The applicant is a live person, present in the call"),
    ("ws.check.wants", "Người đăng ký xác nhận muốn được cấp chứng thư số", "The applicant confirms they want a certificate"),
    ("ws.checklist", "Danh mục kiểm tra", "Verification checklist"),
    ("ws.continue", "Tiếp tục cuộc gọi", "Continue the call"),
    ("ws.documents", "Ảnh giấy tờ", "Document images"),
    ("ws.done.approved", "Đã phê duyệt: hồ sơ đã được xác minh.", "Approved: the application is verified."),
    ("ws.done.expired", "Đã ghi nhận vắng mặt; hồ sơ hết hiệu lực vì vắng mặt quá số lần cho phép.", "No-show recorded; the application expired after too many missed calls."),
    ("ws.done.rejected", "Đã từ chối hồ sơ.", "The application was rejected."),
    ("ws.done.requeued", "Đã ghi nhận vắng mặt; người đăng ký được xếp lại cuối hàng chờ.", "No-show recorded; the applicant is back at the end of the queue."),
    ("ws.errors", "Chưa ghi được kết quả: hãy sửa các mục sau.", "The outcome was not recorded: correct the following."),
    ("ws.lease", "Thời hạn giữ cuộc gọi", "Your hold on this call"),
    ("ws.lease_lapsed", "đã hết", "lapsed"),
    ("ws.lease_left", "Còn lại", "Time left"),
    ("ws.lease_until", "Đến", "Until"),
    ("ws.minutes", "phút", "min"),
    ("ws.no_documents", "Hồ sơ không có ảnh giấy tờ.", "The application has no document images."),
    ("ws.no_show", "Người đăng ký không tham gia cuộc gọi", "The applicant did not join the call"),
    ("ws.no_show.submit", "Ghi nhận vắng mặt", "Record a no-show"),
    ("ws.no_shows", "Số lần vắng mặt trước đó", "Calls missed before"),
    ("ws.note", "Ghi chú (bắt buộc khi từ chối)", "Note (required to reject)"),
    ("ws.oldest_wait", "Chờ lâu nhất", "Longest wait"),
    ("ws.outcome", "Kết quả", "Outcome"),
    ("ws.outcome.approved", "Phê duyệt", "Approve"),
    ("ws.outcome.rejected", "Từ chối", "Reject"),
    ("ws.queue_empty", "Hiện không có ai đang chờ.", "Nobody is waiting right now."),
    ("ws.reason", "Lý do từ chối", "Reason for rejection"),
    ("ws.reason.applicant_declined", "Người đăng ký không đồng ý tiếp tục", "The applicant declined"),
    ("ws.reason.data_mismatch", "Thông tin không khớp", "The data does not match"),
    ("ws.reason.document_expired", "Thẻ căn cước hết hạn", "The ID card has expired"),
    ("ws.reason.document_not_genuine", "Thẻ căn cước không phải thẻ thật", "The ID card is not genuine"),
    ("ws.reason.face_mismatch", "Khuôn mặt không khớp", "The face does not match"),
    ("ws.reason.fraud", "Nghi ngờ bị ép buộc hoặc gian lận", "Suspected coercion or fraud"),
    ("ws.reason.not_present", "Không phải người thật hoặc không có mặt", "Not a live person, or not present"),
    ("ws.reason.other", "Lý do khác (ghi rõ trong ghi chú)", "Other (say which in the note)"),
    ("ws.record", "Ghi kết quả", "Record the outcome"),
    ("ws.recording", "Bản ghi cuộc gọi", "Call recording"),
    ("ws.recording.sha256", "SHA-256 của tệp ghi hình", "SHA-256 of the recording file"),
    ("ws.recording.uri", "Địa chỉ lưu bản ghi (URI)", "Where the recording is kept (URI)"),
    ("ws.renew", "Gia hạn", "Renew"),
    ("ws.renewed", "Đã gia hạn thời gian giữ cuộc gọi.", "Your hold on the call is renewed."),
    ("ws.room", "Phòng gọi video", "Video call room"),
    ("ws.take_next", "Nhận người tiếp theo", "Take the next applicant"),
    ("ws.title", "Xác minh qua video", "Video verification"),
    ("ws.waiting", "Đang chờ", "Waiting"),
    ("ws.your_calls", "Cuộc gọi bạn đang giữ", "Calls you hold"),
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
