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
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
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
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
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
    }
}

diesel::joinable!(operator_sessions -> operators (operator_id));

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
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    operators,
    operator_sessions,
    api_keys,
    audit_events,
    audit_head,
    certificates,
    otp_challenges,
    outbox_messages,
);
