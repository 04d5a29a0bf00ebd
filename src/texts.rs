//! Every user-facing text in Vietnamese (the default) and English, in one sorted table keyed by
//! a stable name: the API's problems (`problem.<code>`, or `problem.<code>.<context>` where one
//! code is answered in two situations), field refusals (`field.<code>[.<context>]`), the
//! applicant's next step (`next_step.<step>`) and the operator pages' words (the other
//! prefixes). The API, the pages and the domain's next-step texts all read it, so the same
//! refusal says the same thing everywhere.
//!
//! Parameters are named `{name}` and filled with [`Text::arg`] in both languages (a language may
//! leave one out). A unit test checks the order; `api::problem`'s checks that every key the
//! sources name and every code the API can answer is here; `web::i18n`'s checks the pages' keys.

use std::borrow::Cow;
use std::fmt::Display;

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
    /// The text for a key made at run time (e.g. `status.{status}`), if the catalogue has it.
    pub fn try_t(self, key: &str) -> Option<&'static str> {
        CATALOGUE
            .binary_search_by(|(k, _, _)| (*k).cmp(key))
            .ok()
            .map(|i| match self {
                Lang::Vi => CATALOGUE[i].1,
                Lang::En => CATALOGUE[i].2,
            })
    }

    /// `try_t`, or the key's last part when the catalogue has no text for it.
    pub fn t_or_code(self, key: &str) -> &str {
        self.try_t(key)
            .unwrap_or_else(|| key.rsplit('.').next().unwrap_or(key))
    }
}

/// A text in both languages, from the catalogue ([`Text::of`]) or made at run time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    pub vi: Cow<'static, str>,
    pub en: Cow<'static, str>,
}

impl Text {
    pub fn new(vi: impl Into<Cow<'static, str>>, en: impl Into<Cow<'static, str>>) -> Self {
        Self {
            vi: vi.into(),
            en: en.into(),
        }
    }

    /// The catalogue's text for `key`; an unknown key shows itself (and fails the tests).
    pub fn of(key: &str) -> Self {
        match lookup(key) {
            Some((vi, en)) => Self::new(vi, en),
            None => {
                tracing::error!(key, "missing text");
                Self::new(key.to_string(), key.to_string())
            }
        }
    }

    /// Fills the parameter `{name}` in both languages.
    pub fn arg(self, name: &str, value: impl Display) -> Self {
        let placeholder = format!("{{{name}}}");
        let value = value.to_string();
        let fill = |t: Cow<'static, str>| -> Cow<'static, str> {
            if t.contains(&placeholder) {
                Cow::Owned(t.replace(&placeholder, &value))
            } else {
                t
            }
        };
        Self {
            vi: fill(self.vi),
            en: fill(self.en),
        }
    }

    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Vi => &self.vi,
            Lang::En => &self.en,
        }
    }
}

/// `(vi, en)` for `key`, if the catalogue has it.
pub fn lookup(key: &str) -> Option<(&'static str, &'static str)> {
    CATALOGUE
        .binary_search_by(|(k, _, _)| (*k).cmp(key))
        .ok()
        .map(|i| (CATALOGUE[i].1, CATALOGUE[i].2))
}

/// Key, Vietnamese, English; sorted by key (binary search; a test checks the order).
pub const CATALOGUE: &[(&str, &str, &str)] = &[
    ("acceptance.client", "Thiết bị", "Client"),
    ("acceptance.created", "Lập lúc", "Made"),
    ("acceptance.decided", "Quyết định lúc", "Decided"),
    ("acceptance.decided_by", "Bởi", "By"),
    ("acceptance.otp", "Xác nhận OTP qua", "OTP confirmed via"),
    ("acceptance.rejection_reason", "Lý do từ chối", "Rejection reason"),
    ("acceptance.reminders", "Số lần nhắc", "Reminders sent"),
    ("acceptance.sha256", "SHA-256 của biên bản", "Record SHA-256"),
    ("acceptance.status", "Trạng thái", "Status"),
    ("acceptance.template", "Mẫu", "Template"),
    ("acceptance_status.accepted", "Đã chấp nhận", "Accepted"),
    ("acceptance_status.expired", "Quá hạn", "Expired"),
    ("acceptance_status.pending", "Chờ chấp nhận", "Pending"),
    ("acceptance_status.rejected", "Đã từ chối", "Rejected"),
    ("action.acceptance.record_created", "Lập biên bản nghiệm thu", "Acceptance record made"),
    ("action.acceptance.reminder_sent", "Nhắc chấp nhận", "Acceptance reminder sent"),
    ("action.certificate.abandoned", "Huỷ cấp", "Issuance abandoned"),
    ("action.certificate.accepted", "Chấp nhận chứng thư", "Certificate accepted"),
    ("action.certificate.recorded", "Ghi nhận yêu cầu cấp", "Issuance recorded"),
    ("action.certificate.resumed", "Khôi phục chứng thư", "Certificate resumed"),
    ("action.certificate.revoked", "Thu hồi chứng thư", "Certificate revoked"),
    ("action.certificate.signed", "Cấp chứng thư", "Certificate signed"),
    ("action.certificate.suspended", "Tạm dừng chứng thư", "Certificate suspended"),
    ("action.contract.created", "Lập hợp đồng", "Contract created"),
    ("action.contract.free_package_released", "Trả lại quyền gói miễn phí", "Free package released"),
    ("action.contract.signed", "Ký hợp đồng", "Contract signed"),
    ("action.contract.superseded", "Hợp đồng bị thay thế", "Contract superseded"),
    ("action.enrolment.document_read", "Xem giấy tờ", "Document viewed"),
    ("action.enrolment.document_stored", "Lưu giấy tờ", "Document stored"),
    ("action.enrolment.routed", "Chuyển bước tiếp theo", "Routed"),
    ("action.enrolment.submitted", "Tiếp nhận hồ sơ", "Application received"),
    ("action.enrolment.withdrawn", "Rút hồ sơ", "Withdrawn"),
    ("action.otp.issued", "Gửi mã OTP", "OTP sent"),
    ("action.otp.verified", "Xác nhận mã OTP", "OTP confirmed"),
    ("action.verification.claimed", "Nhân viên nhận cuộc gọi", "Call taken by an operator"),
    ("action.verification.lease_renewed", "Gia hạn cuộc gọi", "Call lease renewed"),
    ("action.verification.outcome_recorded", "Kết quả xác minh", "Verification outcome"),
    ("action.verification.queued", "Vào hàng đợi gọi video", "Queued for video call"),
    ("admin.api_key", "Khoá API", "API key"),
    ("admin.api_keys", "Khoá API tích hợp", "Integration API keys"),
    ("admin.create", "Tạo", "Create"),
    ("admin.created_key", "Đã tạo khoá API", "API key created"),
    ("admin.created_operator", "Đã tạo tài khoản", "Account created"),
    ("admin.disable", "Khoá tài khoản", "Disable"),
    ("admin.enable", "Mở khoá", "Enable"),
    ("admin.free", "Miễn phí", "Free"),
    ("admin.integration", "Tích hợp", "Integration"),
    ("admin.integration_name", "Tên tích hợp", "Integration name"),
    ("admin.integration_new", "Tích hợp mới, cùng tên với khoá", "A new integration named after the key"),
    ("admin.integrations", "Tích hợp", "Integrations"),
    ("admin.integrations_note", "Mỗi khoá API thuộc một tích hợp (ứng dụng của nhà cung cấp, cổng kết nối VNeID, cổng đối tác) và chỉ truy cập hồ sơ, hợp đồng, chứng thư số của tích hợp đó; phạm vi all_integrations cho phép truy cập mọi tích hợp (tổng đài của nhà cung cấp).", "Each API key belongs to one integration (the provider's app, the VNeID hub connector, a partner portal) and reaches only that integration's enrolments, contracts and certificates; the scope all_integrations reaches every integration (the provider's call centre)."),
    ("admin.key_name", "Tên khoá", "Key name"),
    ("admin.new_integration", "Tạo tích hợp", "New integration"),
    ("admin.new_key", "Tạo khoá API", "New API key"),
    ("admin.new_operator", "Tạo tài khoản", "New account"),
    ("admin.one_time_password", "Mật khẩu dùng một lần", "One-time password"),
    ("admin.operators", "Tài khoản nhân viên", "Operator accounts"),
    ("admin.package_code", "Mã gói", "Code"),
    ("admin.package_name", "Tên gói", "Name"),
    ("admin.packages", "Danh mục gói dịch vụ", "Package catalogue"),
    ("admin.packages_note", "Danh mục được thay đổi bằng bản cập nhật cơ sở dữ liệu (migration), vì hợp đồng đã ký tham chiếu mã gói.", "The catalogue changes by database migration, as signed contracts refer to package codes."),
    ("admin.reset_done", "Đã đặt lại thông tin đăng nhập", "Credentials reset"),
    ("admin.reset_password", "Đặt lại mật khẩu", "Reset password"),
    ("admin.reset_totp", "Đặt lại TOTP", "Reset TOTP"),
    ("admin.revoke", "Thu hồi", "Revoke"),
    ("admin.revoked", "Đã thu hồi", "Revoked"),
    ("admin.role", "Vai trò", "Role"),
    ("admin.scopes", "Phạm vi", "Scopes"),
    ("admin.shown_once", "Thông tin dưới đây chỉ hiển thị một lần và không được lưu dạng đọc được. Hãy trao trực tiếp cho người dùng; ở lần đăng nhập tiếp theo họ phải đặt mật khẩu riêng và đăng ký mã TOTP mới.", "What follows is shown once and is not stored readably. Hand it over in person; at the next sign-in the operator must set their own password and enrol a new TOTP secret."),
    ("admin.state", "Tình trạng", "State"),
    ("admin.state.active", "Đang hoạt động", "Active"),
    ("admin.state.disabled", "Đã khoá", "Disabled"),
    ("admin.state.first_sign_in", "Chờ đăng nhập lần đầu", "Awaiting first sign-in"),
    ("admin.state.locked", "Tạm khoá đến", "Locked until"),
    ("admin.term", "Thời hạn", "Term"),
    ("admin.title", "Quản trị", "Administration"),
    ("admin.totp_secret", "Khoá TOTP", "TOTP secret"),
    ("app.title", "Cổng nghiệp vụ CA", "CA operator portal"),
    ("audit.action", "Hành động", "Action"),
    ("audit.actor", "Người thực hiện", "Actor"),
    ("audit.chain_broken", "Chuỗi băm nhật ký KHÔNG toàn vẹn:", "The audit chain does NOT verify:"),
    ("audit.chain_ok", "Chuỗi băm nhật ký toàn vẹn", "The audit chain verifies"),
    ("audit.details", "Chi tiết", "Details"),
    ("audit.events_checked", "sự kiện đã kiểm tra", "events checked"),
    ("audit.fault.modified", "sự kiện bị sửa", "event modified"),
    ("audit.fault.removed", "thiếu sự kiện sau", "event missing after"),
    ("audit.fault.reordered", "sự kiện bị đổi chỗ", "event reordered"),
    ("audit.object", "Đối tượng", "Object"),
    ("audit.object_id", "Mã đối tượng", "Object id"),
    ("audit.object_type", "Loại đối tượng", "Object type"),
    ("audit.time", "Thời điểm", "Time"),
    ("audit.title", "Nhật ký kiểm toán", "Audit trail"),
    ("cert_status.active", "Đang hoạt động", "Active"),
    ("cert_status.expired", "Hết hạn", "Expired"),
    ("cert_status.pending_acceptance", "Chờ chấp nhận", "Awaiting acceptance"),
    ("cert_status.revoked", "Đã thu hồi", "Revoked"),
    ("cert_status.signing", "Đang ký", "Signing"),
    ("cert_status.suspended", "Tạm dừng", "Suspended"),
    ("certificate.acceptance", "Biên bản nghiệm thu", "Acceptance record"),
    ("certificate.actions", "Thao tác", "Actions"),
    ("certificate.confirm", "Xác nhận", "Confirm"),
    ("certificate.confirm_question", "Xác nhận thao tác sau?", "Confirm this action?"),
    ("certificate.contract", "Hợp đồng", "Contract"),
    ("certificate.done.resume", "Đã khôi phục chứng thư.", "The certificate is active again."),
    ("certificate.done.revoke", "Đã thu hồi chứng thư.", "The certificate is revoked."),
    ("certificate.done.suspend", "Đã tạm dừng chứng thư.", "The certificate is suspended."),
    ("certificate.download_pem", "Tải chứng thư (PEM, kèm chuỗi CA)", "Download (PEM, with the CA chain)"),
    ("certificate.enrolment", "Hồ sơ đăng ký", "Enrolment"),
    ("certificate.issued", "Cấp lúc", "Issued"),
    ("certificate.issuer", "CA cấp", "Issuing CA"),
    ("certificate.key", "Khoá công khai", "Public key"),
    ("certificate.not_after", "Hết hạn", "Expires"),
    ("certificate.not_before", "Hiệu lực từ", "Valid from"),
    ("certificate.note", "Ghi chú (không bắt buộc)", "Note (optional)"),
    ("certificate.package", "Gói dịch vụ", "Package"),
    ("certificate.reason", "Lý do", "Reason"),
    ("certificate.resume", "Khôi phục chứng thư", "Resume the certificate"),
    ("certificate.revocation_reason", "Lý do", "Reason"),
    ("certificate.revoke", "Thu hồi chứng thư", "Revoke the certificate"),
    ("certificate.revoke_final", "Thu hồi là không thể hoàn tác.", "Revocation cannot be undone."),
    ("certificate.revoked_at", "Thu hồi/tạm dừng lúc", "Revoked or suspended at"),
    ("certificate.serial", "Số sê-ri", "Serial number"),
    ("certificate.status", "Trạng thái", "Status"),
    ("certificate.subject", "Chủ thể", "Subject"),
    ("certificate.suspend", "Tạm dừng chứng thư", "Suspend the certificate"),
    ("certificate.title", "Chứng thư", "Certificate"),
    ("certificates.title", "Chứng thư số", "Certificates"),
    ("common.all", "Tất cả", "All"),
    ("common.back", "Quay lại", "Back"),
    ("common.bad_date", "Ngày phải có dạng dd/mm/yyyy.", "Dates are written dd/mm/yyyy."),
    ("common.cancel", "Huỷ", "Cancel"),
    ("common.continue", "Tiếp tục", "Continue"),
    ("common.from_date", "Từ ngày", "From"),
    ("common.next", "Trang sau", "Next"),
    ("common.no_results", "Không có kết quả phù hợp.", "Nothing matches."),
    ("common.none", "Không có", "None"),
    ("common.older", "Cũ hơn", "Older"),
    ("common.previous", "Trang trước", "Previous"),
    ("common.search", "Tìm kiếm", "Search"),
    ("common.to_date", "Đến ngày", "To"),
    ("contract.created", "Lập lúc", "Created"),
    ("contract.number", "Số hợp đồng", "Contract number"),
    ("contract.package", "Gói dịch vụ", "Package"),
    ("contract.price", "Giá", "Price"),
    ("contract.signed", "Ký lúc", "Signed"),
    ("contract.status", "Trạng thái", "Status"),
    ("contract_status.draft", "Bản nháp", "Draft"),
    ("contract_status.signed", "Đã ký", "Signed"),
    ("contract_status.superseded", "Đã thay thế", "Superseded"),
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
    ("counter.view_enrolment", "Xem hồ sơ đầy đủ", "Open the full enrolment"),
    ("dashboard.accepted", "Được chấp nhận", "Accepted"),
    ("dashboard.certificates_issued", "Chứng thư đã cấp", "Certificates issued"),
    ("dashboard.chart_title", "Chứng thư cấp trong 30 ngày qua", "Certificates issued in the last 30 days"),
    ("dashboard.chart_total", "tổng", "total"),
    ("dashboard.contracts_signed", "Hợp đồng đã ký", "Contracts signed"),
    ("dashboard.in_call", "Đang gọi video", "In a video call"),
    ("dashboard.intake", "Hồ sơ mới", "New applications"),
    ("dashboard.oldest_wait", "Chờ lâu nhất", "Longest wait"),
    ("dashboard.queue", "Hàng đợi xác minh video", "Video verification queue"),
    ("dashboard.revoked", "Bị thu hồi", "Revoked"),
    ("dashboard.title", "Tổng quan", "Dashboard"),
    ("dashboard.today", "Hôm nay", "Today"),
    ("dashboard.verified", "Đã xác minh", "Verified"),
    ("dashboard.waiting", "Người đang chờ", "Applicants waiting"),
    ("document.id_back", "CCCD mặt sau", "ID card, back"),
    ("document.id_front", "CCCD mặt trước", "ID card, front"),
    ("document.liveness", "Ảnh kiểm tra người thật", "Liveness image"),
    ("document.portrait", "Ảnh chân dung", "Portrait"),
    ("enrolment.certificates", "Chứng thư số", "Certificates"),
    ("enrolment.consent", "Đồng ý xử lý dữ liệu", "Data-processing consent"),
    ("enrolment.contracts", "Hợp đồng", "Contracts"),
    ("enrolment.created", "Ngày tạo", "Created"),
    ("enrolment.current_address", "Nơi ở hiện tại", "Current address"),
    ("enrolment.date_of_birth", "Ngày sinh", "Date of birth"),
    ("enrolment.documents", "Giấy tờ", "Documents"),
    ("enrolment.documents_audited", "Mỗi lần xem ảnh giấy tờ đều được ghi vào nhật ký kiểm toán.", "Every view of a document image is recorded in the audit trail."),
    ("enrolment.email", "Thư điện tử", "E-mail"),
    ("enrolment.enrolled_by", "Nhân viên tiếp nhận", "Enrolled by"),
    ("enrolment.full_name", "Họ và tên", "Full name"),
    ("enrolment.id", "Mã hồ sơ", "Enrolment id"),
    ("enrolment.id_expiry", "Có giá trị đến", "Valid until"),
    ("enrolment.id_issue", "Ngày và nơi cấp", "Issued on, by"),
    ("enrolment.id_number", "Số định danh cá nhân", "Personal ID number"),
    ("enrolment.nationality", "Quốc tịch", "Nationality"),
    ("enrolment.no_expiry", "Không thời hạn", "No expiry"),
    ("enrolment.permanent_address", "Nơi thường trú", "Permanent address"),
    ("enrolment.phone", "Số điện thoại", "Phone"),
    ("enrolment.sex", "Giới tính", "Sex"),
    ("enrolment.source", "Kênh đăng ký", "Channel"),
    ("enrolment.status", "Trạng thái", "Status"),
    ("enrolment.timeline", "Diễn biến", "Timeline"),
    ("enrolment.verified_by", "Phương thức xác minh", "Verified by"),
    ("enrolments.hint", "Nhập số định danh, số điện thoại, họ tên hoặc chọn trạng thái để tìm hồ sơ.", "Enter an ID number, phone number or name, or pick a status, to find enrolments."),
    ("enrolments.title", "Hồ sơ đăng ký", "Enrolments"),
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
    ("field.birth_date_too_early", "Ngày sinh không được cách đây quá {max_age} năm.", "The date of birth cannot be more than {max_age} years ago."),
    ("field.checklist_item_unchecked", "Phải xác nhận mục kiểm tra này trước khi phê duyệt.", "This checklist item must be confirmed to approve."),
    ("field.consent_channel_invalid", "Kênh đồng ý phải là vneid, app, counter hoặc web.", "The consent channel must be vneid, app, counter or web."),
    ("field.consent_required", "Cần có sự đồng ý của người đăng ký để xử lý dữ liệu cá nhân.", "The applicant's consent to process personal data is required."),
    ("field.consent_time_invalid", "Thời điểm đồng ý phải theo RFC 3339 và không ở tương lai.", "The consent time must be RFC 3339 and not in the future."),
    ("field.consent_time_invalid.too_early", "Thời điểm đồng ý không được trước ngày 01/07/2023 (Nghị định 13/2023/NĐ-CP có hiệu lực).", "The consent time cannot be before 1 July 2023, when Decree 13/2023/ND-CP took effect."),
    ("field.date_invalid", "Ngày không hợp lệ; dùng định dạng YYYY-MM-DD với một ngày có thật.", "Not a valid date; use YYYY-MM-DD with a real calendar date."),
    ("field.date_order.birth_future", "Ngày sinh không được ở tương lai.", "The date of birth cannot be in the future."),
    ("field.date_order.expiry_before_issue", "Ngày hết hạn của giấy tờ tùy thân phải sau ngày cấp.", "The ID expiry date must be after its issue date."),
    ("field.date_order.issue_before_birth", "Ngày cấp giấy tờ tùy thân phải sau ngày sinh.", "The ID issue date must be after the date of birth."),
    ("field.date_order.issue_future", "Ngày cấp giấy tờ tùy thân không được ở tương lai.", "The ID issue date cannot be in the future."),
    ("field.email_format", "Địa chỉ email không hợp lệ.", "The e-mail address is not valid."),
    ("field.id_expired", "Giấy tờ tùy thân đã hết hạn sử dụng.", "The ID document has expired."),
    ("field.id_number_birth_year_mismatch", "Hai chữ số năm sinh trong số định danh cá nhân ({yy}) không khớp với năm sinh đã khai ({year}).", "The birth-year digits of the personal ID number ({yy}) do not match the declared birth year ({year})."),
    ("field.id_number_century_mismatch", "Số định danh cá nhân không khớp với thế kỷ của năm sinh đã khai ({year}).", "The personal ID number does not match the century of the declared birth year ({year})."),
    ("field.id_number_cmnd_not_accepted", "Không chấp nhận số chứng minh nhân dân (CMND) 9 chữ số. Vui lòng nhập số định danh cá nhân 12 chữ số trên thẻ căn cước.", "Old 9-digit CMND numbers are not accepted. Enter the 12-digit personal ID number shown on the citizen identity card."),
    ("field.id_number_format", "Số định danh cá nhân phải gồm đúng 12 chữ số.", "The personal ID number must be exactly 12 digits."),
    ("field.id_number_province_unknown", "Ba chữ số đầu của số định danh cá nhân ({code}) không phải là mã tỉnh, thành phố hợp lệ.", "The first three digits of the personal ID number ({code}) are not a known province code."),
    ("field.id_number_sex_mismatch", "Số định danh cá nhân không khớp với giới tính đã khai.", "The personal ID number does not match the declared sex."),
    ("field.invalid", "Giá trị không hợp lệ.", "This value is not valid."),
    ("field.length", "Độ dài phải từ {min} đến {max} ký tự.", "The length must be {min} to {max} characters."),
    ("field.name_invalid_characters", "Họ và tên chỉ được gồm chữ cái tiếng Việt và dấu cách, không có chữ số, dấu câu hay ký hiệu.", "The full name may contain only letters of the Vietnamese (Latin) alphabet and spaces: no digits, punctuation or symbols."),
    ("field.name_length", "Họ và tên phải dài từ {min_chars} đến {max_chars} ký tự và có ít nhất {min_letters} chữ cái.", "The full name must be {min_chars} to {max_chars} characters long with at least {min_letters} letters."),
    ("field.nationality_unsupported", "Chỉ công dân Việt Nam (có thẻ căn cước) được đăng ký; quốc tịch ghi là Việt Nam hoặc VN.", "Only Vietnamese citizens (holders of a citizen identity card) can enrol; write the nationality as Việt Nam or VN."),
    ("field.note_required", "Cần ghi chú khi từ chối hồ sơ.", "A note is required to reject."),
    ("field.outcome_invalid", "Kết quả phải là approved, rejected hoặc no_show.", "The outcome must be approved, rejected or no_show."),
    ("field.phone_format", "Số điện thoại di động phải gồm 10 chữ số bắt đầu bằng 0, hoặc +84 kèm 9 chữ số.", "The mobile number must be 10 digits starting with 0, or +84 followed by 9 digits."),
    ("field.phone_prefix_unknown", "Đầu số {prefix} không phải là đầu số di động của nhà mạng Việt Nam.", "{prefix} is not a known Vietnamese mobile prefix."),
    ("field.reason_code_invalid", "Lý do từ chối phải là một trong: {reasons}.", "The reason code must be one of: {reasons}."),
    ("field.recording_required", "Cần tham chiếu bản ghi cuộc gọi (URI và SHA-256).", "The call recording reference (URI and SHA-256) is required."),
    ("field.recording_uri_invalid", "Địa chỉ bản ghi cuộc gọi phải là một URI.", "The call recording reference must be a URI."),
    ("field.report_choice_invalid", "Giá trị không hợp lệ; cho phép: {allowed}.", "Not an allowed value; allowed: {allowed}."),
    ("field.report_date_invalid", "Ngày không hợp lệ; nhập dd/mm/yyyy, yyyy-mm-dd hoặc yyyy-mm (cả tháng).", "Not a valid date; use dd/mm/yyyy, yyyy-mm-dd or yyyy-mm (a whole month)."),
    ("field.report_from_in_future", "Ngày bắt đầu không được sau hôm nay.", "The start date must not be after today."),
    ("field.report_range_reversed", "Ngày bắt đầu phải trước hoặc bằng ngày kết thúc.", "The start date must be on or before the end date."),
    ("field.report_range_too_long.day", "Báo cáo theo ngày dài tối đa {max_days} ngày; hãy chọn theo tháng.", "A report by day covers at most {max_days} days; report by month."),
    ("field.report_range_too_long.month", "Báo cáo theo tháng dài tối đa {max_months} tháng.", "A report by month covers at most {max_months} months."),
    ("field.sex_invalid", "Giới tính phải là Nam hoặc Nữ.", "Sex must be male or female."),
    ("field.sha256_format", "Giá trị SHA-256 phải gồm 64 ký tự thập lục phân.", "A SHA-256 value must be 64 hexadecimal characters."),
    ("field.source_invalid", "Nguồn hồ sơ phải là vneid, app_ekyc hoặc counter.", "The source must be vneid, app_ekyc or counter."),
    ("field.text_empty", "Trường này không được để trống.", "This field must not be empty."),
    ("field.text_empty.email", "Vui lòng nhập địa chỉ email.", "Enter an e-mail address."),
    ("field.text_empty.name", "Vui lòng nhập họ và tên.", "Enter the full name."),
    ("field.text_empty.phone", "Vui lòng nhập số điện thoại di động.", "Enter a mobile phone number."),
    ("field.text_invalid_characters", "Nội dung không được chứa ký tự điều khiển hoặc ký tự ẩn (ví dụ: xuống dòng, tab).", "The text must not contain control or invisible characters (e.g. line breaks, tabs)."),
    ("field.text_too_long", "Nội dung không được dài quá {max_chars} ký tự.", "The text must be at most {max_chars} characters long."),
    ("field.text_too_long.email", "Địa chỉ email không được dài quá {max_chars} ký tự.", "The e-mail address must be at most {max_chars} characters long."),
    ("field.underage", "Người đăng ký phải đủ {adult_age} tuổi trở lên vào ngày nộp hồ sơ.", "The applicant must be at least {adult_age} years old on the application date."),
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
    ("next_step.accept_certificate", "Đọc biên bản nghiệm thu và bàn giao chứng thư số và xác nhận bằng mã OTP gửi qua SMS; chứng thư số chỉ có hiệu lực sau khi được nghiệm thu.", "Read the certificate's acceptance record and confirm it with the code sent by SMS; the certificate is valid only once accepted."),
    ("next_step.apply_again", "Hồ sơ này đã đóng; có thể nộp hồ sơ mới.", "This application is closed; a new application may be submitted."),
    ("next_step.await_certificate", "Chứng thư số đang được chuẩn bị.", "The certificate is being prepared."),
    ("next_step.none", "Không cần thao tác thêm.", "Nothing to do."),
    ("next_step.retry_issuance", "Lần cấp trước bị gián đoạn và đã được hủy; chưa có chứng thư số nào được cấp. Hãy gửi lại yêu cầu cấp chứng thư số (có thể dùng lại cặp khóa cũ).", "An earlier issuance was interrupted and cancelled; no certificate was issued. Request the certificate again (the same key pair may be used)."),
    ("next_step.retry_issuance_later", "Việc cấp chứng thư số bị gián đoạn trước khi ký; chưa có chứng thư số nào được cấp. Hãy gửi lại yêu cầu cấp sau vài phút.", "The issuance was interrupted before the certificate was signed; no certificate was issued. Request the certificate again in a few minutes."),
    ("next_step.sign_contract", "Chọn gói dịch vụ và ký hợp đồng dịch vụ.", "Choose a package and sign the service contract."),
    ("next_step.upload_documents", "Tải lên ảnh mặt trước, mặt sau thẻ căn cước, ảnh chân dung và ảnh xác thực người thật.", "Upload the ID card front and back, a portrait and the liveness capture."),
    ("next_step.video_call", "Chờ cuộc gọi video với nhân viên để xác minh danh tính.", "Wait for a video call with an operator to verify your identity."),
    ("problem.account_locked", "Đăng nhập sai quá nhiều lần; tài khoản bị khóa đến {until}.", "Too many failed sign-ins; account locked until {until}."),
    ("problem.agreement_required.acceptance", "Bạn cần đồng ý với nội dung biên bản nghiệm thu và bàn giao chứng thư số.", "the acceptance record must be agreed to (agree: true)"),
    ("problem.agreement_required.contract", "Bạn cần đồng ý với nội dung hợp đồng.", "the contract terms must be agreed to (agree: true)"),
    ("problem.bad_request", "Yêu cầu không hợp lệ.", "{detail}"),
    ("problem.bad_request.body", "Không đọc được dữ liệu gửi lên.", "Cannot read the body: {detail}"),
    ("problem.body_too_large", "Dữ liệu gửi lên vượt quá {max_bytes} byte.", "the request body is larger than {max_bytes} bytes"),
    ("problem.certificate_already_issued", "Chứng thư số của hồ sơ này đã được cấp.", "a certificate was already issued for this enrolment"),
    ("problem.certificate_changed_concurrently", "Chứng thư số vừa được thay đổi bởi một yêu cầu khác; hãy thử lại.", "the certificate changed concurrently; try again"),
    ("problem.certificate_not_found", "Không tìm thấy chứng thư số với số hiệu này.", "no certificate with this serial"),
    ("problem.certificate_not_pending_acceptance", "Chứng thư số không ở trạng thái chờ nghiệm thu.", "the certificate is `{status}`, not awaiting acceptance"),
    ("problem.certificate_not_renewable", "Chỉ gia hạn hoặc thay khóa được chứng thư số đang hoạt động và còn thời hạn; chứng thư bị tạm dừng cần được khôi phục trước.", "only an active certificate within its validity can be renewed or rekeyed; this one is `{status}`"),
    ("problem.certificate_revoked", "Chứng thư số đã bị thu hồi; thu hồi là không thể đảo ngược.", "the certificate is revoked; revocation is final"),
    ("problem.certificate_status_conflict", "Trạng thái hiện tại của chứng thư số không cho phép thao tác này.", "a certificate in status `{status}` cannot be {action}d"),
    ("problem.client_ip_invalid", "client_ip phải là địa chỉ IPv4 hoặc IPv6.", "client_ip must be an IPv4 or IPv6 address."),
    ("problem.contract_already_signed", "Hợp đồng đã được ký và không thể thay đổi.", "the contract is already signed"),
    ("problem.contract_not_found", "Không tìm thấy hợp đồng.", "contract not found"),
    ("problem.contract_superseded", "Hợp đồng này đã được thay bằng hợp đồng mới hơn.", "the contract was replaced by a newer one for this enrolment"),
    ("problem.csr_key_too_small", "Khóa RSA phải dài ít nhất 2048 bit.", "the CSR key is too small: RSA {bits} bits, at least 2048 required"),
    ("problem.csr_key_unsupported", "Loại khóa không được chấp nhận (RSA hoặc ECDSA P-256/P-384).", "the CSR key type is not accepted: {detail}"),
    ("problem.csr_malformed", "Không đọc được yêu cầu chứng thư (CSR PKCS#10).", "the CSR cannot be parsed: {detail}"),
    ("problem.csr_rsa_exponent", "Số mũ công khai RSA phải là 65537.", "the CSR RSA public exponent must be 65537"),
    ("problem.csr_signature_algorithm", "Thuật toán ký của CSR phải thuộc họ SHA-2.", "the CSR signature algorithm is not accepted: {detail}"),
    ("problem.csr_signature_invalid", "Chữ ký của CSR không hợp lệ (không chứng minh được quyền sở hữu khóa).", "the CSR signature does not verify with its own public key"),
    ("problem.csr_too_large", "Yêu cầu chứng thư (CSR) quá lớn.", "the CSR is larger than {max} bytes"),
    ("problem.cursor_invalid", "Giá trị cursor không hợp lệ; hãy dùng giá trị do trang trước trả về.", "the cursor is not one a previous page returned"),
    ("problem.database_unavailable", "Cơ sở dữ liệu tạm thời không truy cập được; vui lòng thử lại sau {seconds} giây.", "the database is unavailable for the moment; try again in {seconds} s"),
    ("problem.document_destroyed", "Giấy tờ đã bị hủy theo thời hạn lưu trữ hoặc khi rút hồ sơ.", "the document was destroyed (end of its retention period, or withdrawal)"),
    ("problem.document_kind_unknown", "Loại giấy tờ phải là id_front, id_back, portrait hoặc liveness.", "Document kinds are id_front, id_back, portrait and liveness."),
    ("problem.document_not_found", "Không tìm thấy giấy tờ.", "no such document"),
    ("problem.document_too_large", "Tệp vượt quá {max_bytes} byte.", "document larger than {max_bytes} bytes"),
    ("problem.document_type_unsupported", "Chỉ chấp nhận ảnh JPEG hoặc PNG.", "only JPEG or PNG images are accepted"),
    ("problem.documents_not_accepted", "Hồ sơ ở trạng thái này không nhận thêm giấy tờ.", "documents are not accepted in status {status}"),
    ("problem.enrolment_already_open", "Số định danh này đang có hồ sơ chưa hoàn tất: {enrolment_id}.", "An open enrolment exists for this ID number: {enrolment_id}."),
    ("problem.enrolment_closed", "Hồ sơ đã đóng.", "the enrolment is {status}"),
    ("problem.enrolment_not_found", "Không tìm thấy hồ sơ.", "enrolment not found"),
    ("problem.enrolment_not_ready.contract", "Hồ sơ chưa ở bước phù hợp.", "the enrolment is not ready: {detail}"),
    ("problem.enrolment_not_ready.issuance", "Hồ sơ chưa sẵn sàng để cấp chứng thư (cần hợp đồng đã ký).", "the enrolment is not ready for issuance: {detail}"),
    ("problem.enrolment_not_verified", "Hồ sơ chưa được xác minh danh tính, hoặc đã ký hợp đồng.", "a contract needs a verified enrolment; this one is {status}"),
    ("problem.first_sign_in_done", "Tài khoản đã hoàn tất thiết lập lần đầu.", "first sign-in is already complete"),
    ("problem.forbidden", "Bạn không có quyền thực hiện thao tác này.", "not allowed for this principal; needs {needed}"),
    ("problem.forbidden.counter", "Hồ sơ tại quầy phải do nhân viên tiếp nhận nộp.", "counter applications must be submitted by the enrolling operator"),
    ("problem.free_package_already_used", "Số định danh này đã sử dụng gói miễn phí (hợp đồng {contract_number}); vui lòng chọn gói khác.", "this ID number already used its free package (contract {contract_number})"),
    ("problem.idempotency_key_in_use", "Một yêu cầu khác với Idempotency-Key này vẫn đang được xử lý; hãy thử lại sau.", "a request with this Idempotency-Key is still in progress; retry later"),
    ("problem.idempotency_key_invalid", "Idempotency-Key phải gồm 1-128 ký tự ASCII nhìn thấy được.", "Idempotency-Key must be 1-128 visible ASCII characters."),
    ("problem.idempotency_key_reused", "Idempotency-Key này đã được dùng cho một yêu cầu khác.", "This Idempotency-Key was used for another request."),
    ("problem.integration_not_found", "Không có tích hợp này.", "no such integration"),
    ("problem.internal_error", "Đã xảy ra lỗi phía máy chủ; mã yêu cầu (request id) giúp tra cứu.", "Something went wrong on our side; the request id identifies it."),
    ("problem.invalid_credentials", "Sai tên đăng nhập, mật khẩu hoặc mã xác thực.", "wrong username, password or authentication code"),
    ("problem.invalid_name", "Tên khóa API hoặc tích hợp phải dài 1-100 ký tự.", "API key or integration name must be 1-100 characters"),
    ("problem.invalid_role", "Vai trò không hợp lệ; cho phép: operator, ra_officer, admin, auditor.", "unknown role `{role}`; allowed: operator, ra_officer, admin, auditor"),
    ("problem.invalid_scope", "Phạm vi không hợp lệ; cho phép: enrol, lifecycle, reports, all_integrations.", "unknown scope `{scope}`; allowed: enrol, lifecycle, reports, all_integrations"),
    ("problem.invalid_username", "Tên đăng nhập dài 3-32 ký tự: chữ thường, chữ số, '.', '_', '-', bắt đầu bằng chữ.", "username must be 3-32 characters: lower-case letters, digits, '.', '_', '-', starting with a letter"),
    ("problem.issuance_interrupted", "Việc cấp chứng thư số bị gián đoạn trước khi ký; chưa có chứng thư số nào được cấp. Hệ thống sẽ tự hủy lần cấp dở dang; hãy gửi lại đúng yêu cầu này sau {seconds} giây.", "the issuance was interrupted before the certificate was signed; no certificate was issued. It is cancelled automatically: send the same request again in {seconds} s"),
    ("problem.key_already_certified", "Khóa công khai này đã được chứng thực trước đây; hãy tạo cặp khóa mới.", "this public key was already certified; generate a new key pair"),
    ("problem.lease_expired", "Thời hạn giữ cuộc gọi đã hết; hãy nhận người tiếp theo.", "the lease on this call has lapsed; claim the next applicant"),
    ("problem.limit_invalid", "limit phải từ 1 đến {max}.", "limit must be 1 to {max}"),
    ("problem.method_not_allowed", "Phương thức không được hỗ trợ.", "{detail}"),
    ("problem.not_found", "Không tìm thấy.", "not found"),
    ("problem.not_in_video_call_queue", "Hồ sơ này không cần hoặc chưa vào hàng chờ gọi video.", "this enrolment has no video call"),
    ("problem.not_lease_holder", "Cuộc gọi này do nhân viên khác đang xử lý.", "another operator holds this call"),
    ("problem.note_invalid", "Ghi chú dài tối đa 1000 ký tự và không chứa ký tự điều khiển.", "the note must be at most 1000 characters without control characters"),
    ("problem.otp_already_used", "Mã xác thực đã được sử dụng.", "the code was already used"),
    ("problem.otp_code_required", "Yêu cầu của thuê bao phải được xác nhận bằng mã OTP gửi tới thuê bao.", "A subscriber's request must be confirmed with the OTP sent to the subscriber."),
    ("problem.otp_code_too_long", "Mã xác thực không được dài quá {max_chars} ký tự.", "the code is longer than {max_chars} characters"),
    ("problem.otp_expired", "Mã xác thực đã hết hạn hoặc đã được thay bằng mã mới.", "the code has expired or was replaced by a newer one; request a new code"),
    ("problem.otp_invalid", "Mã xác thực không đúng; còn {attempts_left} lần thử.", "wrong code; {attempts_left} attempt(s) left"),
    ("problem.otp_locked", "Nhập sai mã quá số lần cho phép; vui lòng yêu cầu mã mới.", "too many wrong codes; request a new code"),
    ("problem.otp_not_found", "Chưa yêu cầu mã xác thực; vui lòng yêu cầu gửi mã.", "no code was requested for this"),
    ("problem.otp_rate_limited", "Đã gửi quá nhiều mã tới số này; thử lại sau {seconds} giây.", "too many codes sent to this recipient; try again in {seconds} s"),
    ("problem.otp_resend_too_soon", "Có thể gửi lại mã sau {seconds} giây.", "a new code can be sent in {seconds} s"),
    ("problem.otp_wrong_document", "Mã xác thực được cấp cho văn bản khác.", "the code was issued for another document"),
    ("problem.otp_wrong_purpose", "Mã xác thực được cấp cho mục đích khác.", "the code was issued for another purpose"),
    ("problem.package_not_found", "Gói dịch vụ không tồn tại hoặc không còn được cung cấp.", "no package `{package}` is on offer"),
    ("problem.password_change_required", "Bạn phải đổi mật khẩu dùng một lần trước.", "the one-time password must be changed first"),
    ("problem.payload_too_large", "Dữ liệu gửi lên quá lớn.", "{detail}"),
    ("problem.queue_empty", "Không có người đang chờ.", "nobody is waiting"),
    ("problem.reason_required", "Cần nêu lý do từ chối (1 đến {max} ký tự).", "a reason of 1 to {max} characters is required"),
    ("problem.replaced_certificate_suspended", "Chứng thư số {serial} mà chứng thư này thay thế đang bị tạm dừng; cần khôi phục hoặc thu hồi chứng thư đó trước khi nghiệm thu chứng thư thay thế.", "certificate {serial}, which this one replaces, is suspended; it must be resumed or revoked before its replacement is accepted"),
    ("problem.replacement_pending", "Chứng thư số này đang có một yêu cầu gia hạn hoặc thay khóa chưa hoàn tất.", "{what} of this certificate is in progress (enrolment {enrolment_id}{certificate})"),
    ("problem.report_too_large", "Báo cáo sẽ có hơn {max} dòng; hãy chọn khoảng thời gian ngắn hơn, theo tháng, hoặc một tỉnh/thành phố.", "the report would have {rows} rows or more (at most {max}); choose a shorter range, months, or one province"),
    ("problem.revocation_reason_invalid", "Lý do thu hồi không hợp lệ; cho phép: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn.", "`{reason}` is not a revocation reason"),
    ("problem.session_expired", "Phiên làm việc đã hết hạn; vui lòng đăng nhập lại.", "session expired; sign in again"),
    ("problem.signature_image_dimensions", "Kích thước ảnh chữ ký không nằm trong giới hạn cho phép.", "signature image is {width}x{height}; allowed {min_width}x{min_height} to {max_width}x{max_height}"),
    ("problem.signature_image_invalid", "Ảnh chữ ký phải là ảnh PNG hợp lệ.", "signature image: {reason}"),
    ("problem.signature_image_too_large", "Ảnh chữ ký vượt quá {max_bytes} byte.", "signature image larger than {max_bytes} bytes"),
    ("problem.status_invalid", "Trạng thái không hợp lệ; cho phép: {allowed}.", "`{status}` is not a certificate status"),
    ("problem.subject_invalid", "Dữ liệu không thể đưa vào chứng thư số.", "the subject data cannot go in a certificate: {detail}"),
    ("problem.totp_enrolment_code_invalid", "Mã xác thực không khớp với khóa xác thực mới.", "the code does not match the new authenticator secret"),
    ("problem.unauthenticated", "Thiếu hoặc sai thông tin xác thực.", "missing or unknown credentials"),
    ("problem.unsupported_media_type", "Kiểu nội dung không được hỗ trợ.", "{detail}"),
    ("problem.username_taken", "Tên đăng nhập đã tồn tại.", "username already exists"),
    ("problem.validation_failed", "Một số trường không hợp lệ; xem `errors`.", "Some fields are invalid; see `errors`."),
    ("problem.validation_failed.request", "Yêu cầu không hợp lệ.", "Invalid request: {detail}"),
    ("problem.validity_invalid", "Dữ liệu không thể đưa vào chứng thư số.", "the requested validity is not allowed: {detail}"),
    ("problem.verification_closed", "Cuộc gọi xác minh này đã kết thúc.", "this call is closed"),
    ("problem.verification_not_found", "Không tìm thấy cuộc gọi xác minh.", "video call not found"),
    ("problem.weak_password", "Mật khẩu mới phải dài 12-128 ký tự và khác mật khẩu hiện tại.", "password too weak: {reason}"),
    ("problem.withdrawal_refused_certificate_issued", "Chứng thư số đã được cấp: hồ sơ được lưu giữ trong thời hạn lưu trữ và không thể rút lại.", "a certificate was issued: the evidence is kept for the retention period"),
    ("reason.affiliationChanged", "Thay đổi thông tin", "Affiliation changed"),
    ("reason.cessationOfOperation", "Ngừng sử dụng", "Cessation of operation"),
    ("reason.keyCompromise", "Lộ khoá bí mật", "Key compromise"),
    ("reason.privilegeWithdrawn", "Rút quyền", "Privilege withdrawn"),
    ("reason.superseded", "Được thay thế", "Superseded"),
    ("reason.unspecified", "Không nêu lý do", "Unspecified"),
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
    ("status.awaiting_documents", "Chờ giấy tờ", "Awaiting documents"),
    ("status.awaiting_video_call", "Chờ gọi video", "Awaiting video call"),
    ("status.certificate_issued", "Đã cấp chứng thư", "Certificate issued"),
    ("status.contract_signed", "Đã ký hợp đồng", "Contract signed"),
    ("status.expired", "Hết hạn", "Expired"),
    ("status.issuance_interrupted", "Cấp chứng thư bị gián đoạn", "Issuance interrupted"),
    ("status.rejected", "Bị từ chối", "Rejected"),
    ("status.verified", "Đã xác minh", "Verified"),
    ("status.withdrawn", "Đã rút", "Withdrawn"),
    ("unit.hours", "giờ", "h"),
    ("unit.minutes", "phút", "min"),
    ("unit.months", "tháng", "months"),
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

    #[test]
    fn parameters_are_filled_in_both_languages() {
        let t = Text::of("problem.otp_invalid").arg("attempts_left", 2);
        assert_eq!(t.get(Lang::Vi), "Mã xác thực không đúng; còn 2 lần thử.");
        assert_eq!(t.get(Lang::En), "wrong code; 2 attempt(s) left");
        assert_eq!(Text::of("no.such.key").en, "no.such.key");
    }
}
