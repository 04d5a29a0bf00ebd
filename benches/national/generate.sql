-- National-scale data (issue #18), run by run.sh with psql after the service made its schema:
-- :n certificates with their enrolments and acceptance records, :n / 10 enrolments that
-- never reached a certificate, straight into the tables (INSERT … SELECT over generate_series;
-- no audit events: see README). Variables: n, now (UTC timestamp), ca, cert_hex, tbs_hex,
-- doc_hex. The lookup tables nat_* (provinces and wards, birth-registration codes, names) are
-- made by `national.py lookups` in the same session.
--
-- Every value a row needs comes from u(i, k), a hash of the row number, so the three INSERTs
-- agree without a 10-million-row scratch table. Serials and ID numbers are computed the same
-- way in national.py, which measures with random existing ones.
--
-- The data is in a steady state for the service's jobs: nothing `signing`, certificates
-- pending acceptance younger than the first reminder (1 day), active ones more than 30 days from
-- expiry (no expiry reminders due), open enrolments younger than a day.
\set ON_ERROR_STOP on
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
SET work_mem = '64MB';

CREATE FUNCTION pg_temp.u(i BIGINT, k BIGINT) RETURNS FLOAT8 LANGUAGE sql IMMUTABLE AS
    'SELECT (hashint8extended(i, k) & 2147483647)::float8 / 2147483648';

-- Secondary indexes are dropped for the load and made again afterwards, from their own
-- definitions (whatever the migrations made), which is much faster than maintaining them row
-- by row. The status trigger is off: it would bump the one status_generation row 10 million
-- times; the load bumps it once at the end.
CREATE TEMP TABLE nat_indexes AS
    SELECT indexname, indexdef FROM pg_indexes
    WHERE schemaname = current_schema()
      AND tablename IN ('certificates', 'enrolments', 'acceptance_records')
      AND indexname NOT IN (SELECT conname FROM pg_constraint);
SELECT format('DROP INDEX %I', indexname) FROM nat_indexes \gexec
ALTER TABLE certificates DISABLE TRIGGER certificates_status_changed;

\echo enrolments with a certificate
INSERT INTO enrolments (id, source, status, id_number, full_name, date_of_birth, sex, nationality,
    permanent_address, permanent_ward, permanent_province, current_address, current_ward,
    current_province, id_issue_date, id_issue_place, id_expiry_date, phone, email,
    consent_version, consent_text_sha256, consent_given_at, consent_channel, submitted_by,
    enrolled_by, verified_by, created_at, updated_at, name_folded)
SELECT md5('e' || i)::uuid::text, src, 'certificate_issued', idn, fam.word || ' ' || mid.word || ' ' || giv.word,
    make_date(1900 + yy::int, 1, 1) + ((r * 13 + t) % 365)::int, CASE WHEN r % 2 = 0 THEN 'male' ELSE 'female' END,
    'Việt Nam',
    'Số ' || (1 + r % 199) || ' đường số ' || (1 + t * 7 % 40) || ', tổ dân phố ' || (1 + r % 23),
    pw.ward, pw.province,
    CASE WHEN cur THEN 'Số ' || (2 + r % 97) || ' ngõ ' || (1 + r % 31) END,
    CASE WHEN cur THEN cw.ward END, CASE WHEN cur THEN cw.province END,
    DATE '2021-01-01' + (r * 7 % 1400)::int, 'Cục Cảnh sát quản lý hành chính về trật tự xã hội',
    DATE '2021-01-01' + (r * 7 % 1400)::int + 5479,
    '0' || (ARRAY['32','33','34','35','36','37','38','39','86','96','97','98','81','82','83','84',
        '85','88','91','94','70','76','77','78','79','89','90','93'])[1 + r % 28]
        || lpad(((hashint8extended(i, 20) & 2147483647) % 10000000)::text, 7, '0'),
    CASE WHEN pg_temp.u(i, 16) < 0.4 THEN giv.folded || '.' || fam.folded || (i % 1000) || '@gmail.com' END,
    '2025-07', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', created, 
    CASE src WHEN 'vneid' THEN 'vneid' WHEN 'app_ekyc' THEN 'app' ELSE 'counter' END,
    CASE src WHEN 'vneid' THEN 'vneid_hub' WHEN 'app_ekyc' THEN 'api_key:national' ELSE 'operator:national' END,
    CASE WHEN src = 'counter' THEN (SELECT id FROM operators ORDER BY created_at LIMIT 1) END,
    CASE src WHEN 'vneid' THEN 'vneid_level2' WHEN 'app_ekyc' THEN 'video_call' ELSE 'counter_operator' END,
    created, decided, fam.folded || ' ' || mid.folded || ' ' || giv.folded
FROM (
    SELECT i, j, r, t, yy, signed, decided, created, cur,
        ppp.code || (r % 2) || lpad(yy::text, 2, '0') || lpad(r::text, 6, '0') AS idn,
        CASE WHEN pg_temp.u(i, 8) < 0.7 THEN 'vneid' WHEN pg_temp.u(i, 8) < 0.95 THEN 'app_ekyc'
            ELSE 'counter' END AS src
    FROM (
        SELECT i, j, j % 1000000 AS r, j / 1000000 AS t, 40 + (j % 1000000 + 37 * (j / 1000000)) % 60 AS yy,
            signed, signed + pg_temp.u(i, 7) * interval '2 hours' AS decided,
            signed - interval '10 minutes' - pg_temp.u(i, 6) * interval '3 days' AS created,
            pg_temp.u(i, 11) < 0.3 AS cur
        FROM (
            SELECT i, i - 1 AS j,
                CASE WHEN pg_temp.u(i, 1) >= 0.125 AND pg_temp.u(i, 1) < 0.135
                        THEN :'now'::timestamp - pg_temp.u(i, 3) * interval '20 hours'
                    WHEN pg_temp.u(i, 1) >= 0.105 AND pg_temp.u(i, 1) < 0.125
                        THEN :'now'::timestamp - interval '12 months 1 day' - pg_temp.u(i, 3) * interval '30 days'
                    ELSE :'now'::timestamp - interval '1 day' - pg_temp.u(i, 3) * interval '329 days'
                END AS signed
            FROM generate_series(1, :n::bigint) AS i
        ) a
    ) b
    JOIN nat_ppp ppp ON ppp.idx = (r * 7 + t * 13) % 63
) e
JOIN nat_family fam ON fam.idx = floor(pg_temp.u(i, 9) * 16)
JOIN nat_middle mid ON mid.idx = floor(pg_temp.u(i, 12) * 10)
JOIN nat_given giv ON giv.idx = floor(pg_temp.u(i, 13) * 27)
JOIN nat_wards pw ON pw.idx = floor(pg_temp.u(i, 10) * (SELECT count(*) FROM nat_wards))
JOIN nat_wards cw ON cw.idx = floor(pg_temp.u(i, 14) * (SELECT count(*) FROM nat_wards));

\echo certificates
INSERT INTO certificates (serial, ca_name, enrolment_id, package_code, status, subject_dn,
    spki_sha256, key_description, not_before, not_after, crl_shard, tbs_der, cert_der,
    created_at, signed_at, revoked_at, revocation_reason, status_version)
SELECT '4' || substr(md5('s' || i), 1, 31), :'ca', md5('e' || i)::uuid::text, pkg, st,
    'C=VN, ST=' || e.permanent_province || ', L=' || e.permanent_ward || ', CN=' || e.full_name
        || ', UID=CCCD:' || e.id_number,
    encode(sha256(('k' || i)::bytea), 'hex'),
    CASE WHEN pg_temp.u(i, 17) < 0.8 THEN 'RSA 2048' ELSE 'ECDSA P-256' END,
    date_trunc('second', signed), date_trunc('second', signed) + term - interval '1 second', 0,
    '\x'::bytea, decode(:'cert_hex', 'hex'),
    signed - interval '200 milliseconds', signed,
    CASE WHEN st IN ('revoked', 'suspended') THEN decided + pg_temp.u(i, 4) * (:'now'::timestamp - decided) END,
    CASE WHEN st = 'suspended' THEN 'certificateHold'
        WHEN st = 'revoked' THEN CASE WHEN pg_temp.u(i, 5) < 0.1 THEN 'keyCompromise'
            WHEN pg_temp.u(i, 5) < 0.4 THEN 'superseded' WHEN pg_temp.u(i, 5) < 0.9 THEN 'cessationOfOperation'
            ELSE 'affiliationChanged' END END,
    0
FROM (
    SELECT i, signed, signed + pg_temp.u(i, 7) * interval '2 hours' AS decided,
        CASE WHEN x < 0.10 THEN 'revoked' WHEN x < 0.105 THEN 'suspended' WHEN x < 0.125 THEN 'expired'
            WHEN x < 0.135 THEN 'pending_acceptance' ELSE 'active' END AS st,
        CASE WHEN x >= 0.105 AND x < 0.125 THEN 'PS0' WHEN p < 0.85 THEN 'PS0' WHEN p < 0.90 THEN 'PS12'
            WHEN p < 0.97 THEN 'PS24' ELSE 'PS36' END AS pkg,
        CASE WHEN x >= 0.105 AND x < 0.125 THEN interval '12 months' WHEN p < 0.90 THEN interval '12 months'
            WHEN p < 0.97 THEN interval '24 months' ELSE interval '36 months' END AS term
    FROM (
        SELECT i, pg_temp.u(i, 1) AS x, pg_temp.u(i, 2) AS p,
            CASE WHEN pg_temp.u(i, 1) >= 0.125 AND pg_temp.u(i, 1) < 0.135
                    THEN :'now'::timestamp - pg_temp.u(i, 3) * interval '20 hours'
                WHEN pg_temp.u(i, 1) >= 0.105 AND pg_temp.u(i, 1) < 0.125
                    THEN :'now'::timestamp - interval '12 months 1 day' - pg_temp.u(i, 3) * interval '30 days'
                ELSE :'now'::timestamp - interval '1 day' - pg_temp.u(i, 3) * interval '329 days'
            END AS signed
        FROM generate_series(1, :n::bigint) AS i
    ) a
) c
JOIN enrolments e ON e.id = md5('e' || i)::uuid::text;

\echo acceptance records
INSERT INTO acceptance_records (serial, enrolment_id, contract_id, template_version, document,
    document_sha256, status, created_at, reminders_sent, decided_at, decided_by,
    otp_challenge_id, otp_channel, otp_masked_destination, client_ip, user_agent)
SELECT c.serial, c.enrolment_id, md5('c' || c.enrolment_id)::uuid::text, 'acceptance-personal-v1',
    decode(:'doc_hex', 'hex'), md5(:'doc_hex') || md5(:'doc_hex'),
    CASE WHEN accepted THEN 'accepted' ELSE 'pending' END, c.signed_at, 0,
    CASE WHEN accepted THEN e.updated_at END, CASE WHEN accepted THEN 'citizen' END,
    CASE WHEN accepted THEN md5('o' || c.serial)::uuid::text END,
    CASE WHEN accepted THEN 'sms' END,
    CASE WHEN accepted THEN left(e.phone, 2) || '******' || right(e.phone, 2) END,
    CASE WHEN accepted THEN '113.161.' || (length(c.serial) + ascii(c.serial)) % 256 || '.' || ascii(right(c.serial, 1)) END,
    CASE WHEN accepted THEN 'Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36' END
FROM (SELECT *, status <> 'pending_acceptance' AS accepted FROM certificates) c
JOIN enrolments e ON e.id = c.enrolment_id;
-- Pending acceptance: the enrolment is not decided yet; its last change was the issuance.
UPDATE enrolments e SET updated_at = c.signed_at
FROM certificates c WHERE c.enrolment_id = e.id AND c.status = 'pending_acceptance';

\echo enrolments without a certificate
INSERT INTO enrolments (id, source, status, id_number, full_name, date_of_birth, sex, nationality,
    permanent_address, permanent_ward, permanent_province, id_issue_date, id_issue_place,
    id_expiry_date, phone, consent_version, consent_text_sha256, consent_given_at,
    consent_channel, submitted_by, verified_by, created_at, updated_at, name_folded)
SELECT md5('e' || i)::uuid::text, 'app_ekyc', st,
    ppp.code || (r % 2) || lpad(yy::text, 2, '0') || lpad(r::text, 6, '0'),
    fam.word || ' ' || giv.word, make_date(1900 + yy::int, 1, 1) + ((r * 13 + t) % 365)::int,
    CASE WHEN r % 2 = 0 THEN 'male' ELSE 'female' END, 'Việt Nam',
    'Số ' || (1 + r % 199) || ' đường số ' || (1 + t * 7 % 40), pw.ward, pw.province,
    DATE '2021-01-01' + (r * 7 % 1400)::int, 'Cục Cảnh sát quản lý hành chính về trật tự xã hội',
    DATE '2021-01-01' + (r * 7 % 1400)::int + 5479,
    '091' || lpad(((hashint8extended(i, 20) & 2147483647) % 10000000)::text, 7, '0'),
    '2025-07', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', created, 'app',
    'api_key:national', CASE WHEN st = 'verified' THEN 'video_call' END, created, created,
    fam.folded || ' ' || giv.folded
FROM (
    SELECT i, j % 1000000 AS r, j / 1000000 AS t, 40 + (j % 1000000 + 37 * (j / 1000000)) % 60 AS yy, st,
        CASE WHEN st IN ('rejected', 'expired', 'withdrawn')
            THEN :'now'::timestamp - interval '1 day' - pg_temp.u(i, 3) * interval '364 days'
            ELSE :'now'::timestamp - pg_temp.u(i, 3) * interval '20 hours' END AS created
    FROM (
        SELECT i, i - 1 AS j,
            CASE WHEN pg_temp.u(i, 1) < 0.4 THEN 'rejected' WHEN pg_temp.u(i, 1) < 0.7 THEN 'expired'
                WHEN pg_temp.u(i, 1) < 0.8 THEN 'withdrawn' WHEN pg_temp.u(i, 1) < 0.9 THEN 'awaiting_video_call'
                WHEN pg_temp.u(i, 1) < 0.95 THEN 'awaiting_documents' ELSE 'verified' END AS st
        FROM generate_series(:n::bigint + 1, :n::bigint + :n::bigint / 10) AS i
    ) a
) b
JOIN nat_ppp ppp ON ppp.idx = (r * 7 + t * 13) % 63
JOIN nat_family fam ON fam.idx = floor(pg_temp.u(i, 9) * 16)
JOIN nat_given giv ON giv.idx = floor(pg_temp.u(i, 13) * 27)
JOIN nat_wards pw ON pw.idx = floor(pg_temp.u(i, 10) * (SELECT count(*) FROM nat_wards));

\echo indexes
SELECT indexdef FROM nat_indexes \gexec
ALTER TABLE certificates ENABLE TRIGGER certificates_status_changed;
-- One status change for the whole load: published CRLs and OCSP caches are stale.
UPDATE status_generation SET generation = generation + 1 WHERE id = 1;
