//! One diesel schema for both dialects: the SQL types used here map on SQLite and PostgreSQL.

diesel::table! {
    operators (id) {
        id -> Text,
        username -> Text,
        role -> Text,
        password_hash -> Text,
        must_change_password -> Bool,
        totp_secret_sealed -> Binary,
        last_totp_step -> BigInt,
        disabled -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    operator_sessions (token_hash) {
        token_hash -> Text,
        operator_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        revoked -> Bool,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        name -> Text,
        scopes -> Text,
        secret_hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        integration_id -> Text,
    }
}

diesel::table! {
    integrations (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> BigInt,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        object_type -> Text,
        object_id -> Text,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    audit_checkpoints (seq) {
        seq -> BigInt,
        hash -> Text,
        at -> Timestamp,
        certificate_sha256 -> Text,
        signature -> Binary,
    }
}

diesel::table! {
    audit_pending (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        object_type -> Text,
        object_id -> Text,
        details -> Text,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    master_key_check (id) {
        id -> Integer,
        check_value -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    otp_challenges (id) {
        id -> Text,
        purpose -> Text,
        subject -> Text,
        document_digest -> Text,
        channel -> Text,
        recipient_key -> Text,
        masked_destination -> Text,
        code_hmac -> Text,
        status -> Text,
        failed_attempts -> Integer,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        consumed_at -> Nullable<Timestamp>,
        outbox_message_id -> Text,
        initiator -> Text,
    }
}

diesel::table! {
    outbox_messages (id) {
        id -> Text,
        channel -> Text,
        kind -> Text,
        masked_destination -> Text,
        payload_sealed -> Binary,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        not_after -> Nullable<Timestamp>,
        claimed_until -> Nullable<Timestamp>,
        claim_token -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        urgent -> Bool,
    }
}

diesel::joinable!(operator_sessions -> operators (operator_id));

diesel::table! {
    login_failures (username, client) {
        username -> Text,
        client -> Text,
        failures -> Integer,
        locked_until -> Nullable<Timestamp>,
        last_failure_at -> Timestamp,
    }
}

diesel::table! {
    certificates (serial) {
        serial -> Text,
        ca_name -> Text,
        enrolment_id -> Text,
        package_code -> Text,
        status -> Text,
        subject_dn -> Text,
        spki_sha256 -> Text,
        key_description -> Text,
        not_before -> Timestamp,
        not_after -> Timestamp,
        crl_shard -> Integer,
        tbs_der -> Binary,
        cert_der -> Nullable<Binary>,
        created_at -> Timestamp,
        signed_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        revocation_reason -> Nullable<Text>,
        status_version -> BigInt,
        supersedes -> Nullable<Text>,
        key_released -> Bool,
    }
}

diesel::table! {
    idempotency_keys (principal, idempotency_key) {
        principal -> Text,
        idempotency_key -> Text,
        operation -> Text,
        request_sha256 -> Text,
        response_status -> Integer,
        response_body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    enrolments (id) {
        id -> Text,
        source -> Text,
        status -> Text,
        id_number -> Text,
        full_name -> Text,
        date_of_birth -> Date,
        sex -> Text,
        nationality -> Text,
        permanent_address -> Text,
        permanent_ward -> Text,
        permanent_province -> Text,
        current_address -> Nullable<Text>,
        current_ward -> Nullable<Text>,
        current_province -> Nullable<Text>,
        id_issue_date -> Date,
        id_issue_place -> Text,
        id_expiry_date -> Nullable<Date>,
        phone -> Text,
        email -> Nullable<Text>,
        consent_version -> Text,
        consent_text_sha256 -> Text,
        consent_given_at -> Timestamp,
        consent_channel -> Text,
        submitted_by -> Text,
        enrolled_by -> Nullable<Text>,
        verified_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        renews -> Nullable<Text>,
        integration_id -> Nullable<Text>,
        name_folded -> Text,
    }
}

diesel::table! {
    enrolment_documents (enrolment_id, kind) {
        enrolment_id -> Text,
        kind -> Text,
        content_type -> Text,
        size_bytes -> BigInt,
        sha256 -> Text,
        sealed -> Nullable<Binary>,
        uploaded_at -> Timestamp,
        key_id -> Nullable<Text>,
        object_key -> Nullable<Text>,
    }
}

diesel::table! {
    video_calls (id) {
        id -> Text,
        enrolment_id -> Text,
        status -> Text,
        queued_at -> Timestamp,
        no_shows -> Integer,
        claimed_by -> Nullable<Text>,
        claimed_at -> Nullable<Timestamp>,
        lease_expires_at -> Nullable<Timestamp>,
        room_ref -> Nullable<Text>,
    }
}

diesel::table! {
    video_call_outcomes (id) {
        id -> Text,
        video_call_id -> Text,
        enrolment_id -> Text,
        operator_id -> Text,
        outcome -> Text,
        checklist -> Text,
        reason_code -> Nullable<Text>,
        note -> Nullable<Text>,
        recording_uri -> Nullable<Text>,
        recording_sha256 -> Nullable<Text>,
        claimed_at -> Timestamp,
        decided_at -> Timestamp,
    }
}

diesel::joinable!(enrolment_documents -> enrolments (enrolment_id));
diesel::joinable!(video_calls -> enrolments (enrolment_id));
diesel::joinable!(video_call_outcomes -> enrolments (enrolment_id));

diesel::allow_tables_to_appear_in_same_query!(
    operators,
    operator_sessions,
    api_keys,
    audit_events,
    audit_head,
    audit_pending,
    certificates,
    master_key_check,
    otp_challenges,
    outbox_messages,
    idempotency_keys,
    enrolments,
    enrolment_documents,
    video_calls,
    video_call_outcomes,
);

diesel::table! {
    packages (code) {
        code -> Text,
        name -> Text,
        price_vnd -> BigInt,
        term_months -> Integer,
        free -> Bool,
        certificate_profile -> Text,
        contract_template -> Text,
        active -> Bool,
        sort_order -> Integer,
    }
}

diesel::table! {
    contract_counters (year) {
        year -> Integer,
        last_number -> BigInt,
    }
}

diesel::table! {
    contracts (id) {
        id -> Text,
        number -> Text,
        enrolment_id -> Text,
        package_code -> Text,
        id_number -> Text,
        price_vnd -> BigInt,
        term_months -> Integer,
        certificate_profile -> Text,
        template_version -> Text,
        document -> Binary,
        document_sha256 -> Text,
        status -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        signed_at -> Nullable<Timestamp>,
        signed_by -> Nullable<Text>,
        signature_image -> Nullable<Binary>,
        signature_sha256 -> Nullable<Text>,
        otp_challenge_id -> Nullable<Text>,
        otp_masked_destination -> Nullable<Text>,
        signature_key_id -> Nullable<Text>,
    }
}

diesel::table! {
    free_package_claims (contract_id) {
        contract_id -> Text,
        enrolment_id -> Text,
        id_number -> Text,
        package_code -> Text,
        status -> Text,
        created_at -> Timestamp,
        released_at -> Nullable<Timestamp>,
        released_reason -> Nullable<Text>,
    }
}

diesel::joinable!(free_package_claims -> enrolments (enrolment_id));
diesel::allow_tables_to_appear_in_same_query!(free_package_claims, enrolments);

diesel::table! {
    acceptance_records (serial) {
        serial -> Text,
        enrolment_id -> Text,
        contract_id -> Text,
        template_version -> Text,
        document -> Binary,
        document_sha256 -> Text,
        status -> Text,
        created_at -> Timestamp,
        reminders_sent -> Integer,
        decided_at -> Nullable<Timestamp>,
        decided_by -> Nullable<Text>,
        otp_challenge_id -> Nullable<Text>,
        otp_channel -> Nullable<Text>,
        otp_masked_destination -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        rejection_reason -> Nullable<Text>,
    }
}

diesel::table! {
    status_generation (id) {
        id -> Integer,
        generation -> BigInt,
    }
}

diesel::table! {
    crls (ca_name, shard) {
        ca_name -> Text,
        shard -> Integer,
        number -> BigInt,
        generation -> BigInt,
        this_update -> Timestamp,
        next_update -> Timestamp,
        der -> Binary,
    }
}

diesel::table! {
    crl_numbers (ca_name, shard) {
        ca_name -> Text,
        shard -> Integer,
        last -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(acceptance_records, certificates);

diesel::table! {
    expiry_reminders (serial, days_before) {
        serial -> Text,
        days_before -> Integer,
        sent_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(expiry_reminders, certificates);

diesel::table! {
    pdf_documents (kind, subject) {
        kind -> Text,
        subject -> Text,
        template_version -> Text,
        document -> Binary,
        document_sha256 -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    vneid_registrations (transaction_id) {
        transaction_id -> Text,
        enrolment_id -> Text,
        request_sha256 -> Text,
        handover_sha256 -> Text,
        handover_expires_at -> Timestamp,
        handed_over_at -> Nullable<Timestamp>,
        handed_over_to -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    vneid_jtis (jti) {
        jti -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    data_keys (id) {
        id -> Text,
        purpose -> Text,
        wrapped -> Binary,
        created_at -> Timestamp,
    }
}

diesel::table! {
    destroyed_documents (enrolment_id) {
        enrolment_id -> Text,
        reason -> Text,
        destroyed_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(data_keys, enrolment_documents, contracts);

diesel::table! {
    csc_credentials (id) {
        id -> Text,
        enrolment_id -> Text,
        certificate_serial -> Nullable<Text>,
        key_algorithm -> Text,
        key_store -> Text,
        sealed_key -> Nullable<Binary>,
        spki_der -> Nullable<Binary>,
        state -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    csc_authorizations (id) {
        id -> Text,
        sad_sha256 -> Text,
        credential_id -> Text,
        hashes -> Text,
        num_signatures -> Integer,
        otp_challenge_id -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    csc_signatures (id) {
        id -> Text,
        credential_id -> Text,
        certificate_serial -> Text,
        hash_sha256 -> Text,
        sad_id -> Text,
        signed_at -> Timestamp,
    }
}

diesel::table! {
    video_call_recordings (room_ref) {
        room_ref -> Text,
        video_call_id -> Text,
        uri -> Text,
        sha256 -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    consent_evidence (enrolment_id) {
        enrolment_id -> Text,
        method -> Text,
        witnessed_by -> Text,
        signature_image -> Binary,
        signature_key_id -> Text,
        signature_sha256 -> Text,
    }
}

diesel::table! {
    recording_webhook_nonces (nonce) {
        nonce -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    report_days (day) {
        day -> Text,
        summarised_at -> Timestamp,
    }
}

diesel::table! {
    report_day_counts (address, wards, day, province, ward) {
        day -> Text,
        address -> Text,
        wards -> Bool,
        province -> Text,
        ward -> Text,
        issued -> BigInt,
        accepted -> BigInt,
        ended -> BigInt,
    }
}
