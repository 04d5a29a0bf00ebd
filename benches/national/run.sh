#!/usr/bin/env bash
# National-scale test on PostgreSQL (issue #18); not part of `cargo test`.
#
#   NATIONAL_PG_URL=postgres://user:password@host/database benches/national/run.sh
#
# In a new schema of that database: the service's migrations and development CA (one `serve`
# start), NATIONAL_N certificates (default 10,000,000; 10 % revoked) with their enrolments and
# acceptance records plus NATIONAL_N / 10 enrolments without a certificate (generate.sql), then,
# with `ca-enrol serve` running: OCSP for random serials right after a restart, the CRL build,
# certificate search by ID number, the monthly report by province, enrolment intake, and the
# size of every table per certificate and per enrolment. Every figure is printed.
#
# NATIONAL_BIN      the ca-enrol binary (default target/release/ca-enrol; build it with
#                   `cargo bench --bench flow --no-run`, which builds the binary in release)
# NATIONAL_SAMPLES  requests per latency figure (default 2000; intake at most 500)
# NATIONAL_KEEP=1   keep the schema and the run's directory afterwards (default: removed)
# NATIONAL_REUSE=<schema>:<directory>  measure again on a kept schema (another binary, say):
#                   no generation; the service applies its own migrations to the schema first
# NATIONAL_CRL_ALL=1  at the end, revoke every certificate and measure the CRL build again
#                   (N entries: a true N-entry CRL rather than an extrapolation from 10 %)
# NATIONAL_COLD=1   before the latency phases, restart PostgreSQL and drop the kernel's page
#                   cache (needs root and pg_ctlcluster): OCSP and search then read from disk
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
: "${NATIONAL_PG_URL:?set NATIONAL_PG_URL to a PostgreSQL database URL}"
n=${NATIONAL_N:-10000000}
bin=${NATIONAL_BIN:-$repo/target/release/ca-enrol}
export NATIONAL_SAMPLES=${NATIONAL_SAMPLES:-2000}
if [[ -n ${NATIONAL_REUSE:-} ]]; then
    schema=${NATIONAL_REUSE%%:*}
    work=${NATIONAL_REUSE#*:}
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/national.XXXXXX")
    schema=national_$(date +%s)
fi
sep='?'
[[ $NATIONAL_PG_URL == *\?* ]] && sep='&'
url="${NATIONAL_PG_URL}${sep}options=-c%20search_path%3D${schema}"
serve_pid=

cleanup() {
    if [[ -n $serve_pid ]]; then
        kill "$serve_pid" 2>/dev/null || true
        wait "$serve_pid" 2>/dev/null || true
    fi
    if [[ ${NATIONAL_KEEP:-0} != 1 ]]; then
        PGOPTIONS='-c client_min_messages=warning' psql "$NATIONAL_PG_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE"
    else
        echo "kept schema $schema (and $work)"
        return
    fi
    rm -rf "$work"
}
trap cleanup EXIT

q() { psql "$url" -XAtq -v ON_ERROR_STOP=1 "$@"; }
secs() { date +%s.%N; }

# The service with this run's data directory, CA and schema; its address in $base.
serve() {
    : >"$work/serve.out"
    CA_ENROL_DATA_DIR="$work/data" CA_ENROL_CA_ROOT="$work/ca-root" DATABASE_URL="$url" \
        CA_ENROL_LISTEN=127.0.0.1:0 RUST_LOG=warn,ca_enrol::status::crl=info \
        "$bin" serve >"$work/serve.out" 2>>"$work/serve.log" &
    serve_pid=$!
    for _ in $(seq 600); do
        base=$(sed -n 's/^ca-enrol listening on //p' "$work/serve.out")
        [[ -n $base ]] && return
        kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
        sleep 0.1
    done
    echo "serve did not start"; exit 1
}
stop() { kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=; }
cli() {
    CA_ENROL_DATA_DIR="$work/data" CA_ENROL_CA_ROOT="$work/ca-root" DATABASE_URL="$url" \
        RUST_LOG=warn "$bin" "$@"
}

echo "national-scale run: N=$n certificates, schema $schema, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -z ${NATIONAL_REUSE:-} ]]; then
mkdir -p "$work/ca-root/profiles" "$work/data"
cp "$repo/ca-root/ceremony.toml" "$work/ca-root/"
cp "$repo/ca-root/profiles/personal.toml" "$work/ca-root/profiles/"
psql "$NATIONAL_PG_URL" -qc "CREATE SCHEMA $schema"

# First start: migrations, the development CA, the bootstrap administrator.
serve
stop
ca=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$work/ca-root/ceremony.toml" | head -1)

# One realistic subscriber certificate (RSA-2048 holder key, the personal profile's
# extensions, signed by this run's issuing CA), reused as every row's DER: OCSP, the CRL
# and the searches never read it, and its size is what the table sizes need.
openssl req -new -newkey rsa:2048 -nodes -keyout "$work/holder.key" -utf8 \
    -subj "/C=VN/ST=Thành phố Hà Nội/L=Phường Cửa Nam/CN=Nguyễn Văn An/UID=CCCD:001090012345" \
    -out "$work/holder.csr" 2>/dev/null
cat >"$work/ext.cnf" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = clientAuth, 1.3.6.1.4.1.311.10.3.12, 1.3.6.1.5.5.7.3.36
certificatePolicies = 1.3.6.1.4.1.61234.1.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
authorityInfoAccess = OCSP;URI:http://ca.example.vn/ocsp, caIssuers;URI:http://ca.example.vn/ca/$ca.crt
crlDistributionPoints = URI:http://ca.example.vn/crl/$ca.crl
subjectAltName = email:an.nguyen@example.vn
EOF
openssl x509 -req -in "$work/holder.csr" -CA "$work/ca-root/issuing.pem" \
    -CAkey "$work/ca-root/private/issuing.key.pem" -set_serial 0x4d2f1e0c3b5a69788796a5b4c3d2e1f0 \
    -days 365 -sha256 -extfile "$work/ext.cnf" -outform DER -out "$work/holder.der" 2>/dev/null
od -An -v -tx1 "$work/holder.der" | tr -d ' \n' >"$work/cert.hex"
python3 -c "import sys; from cryptography import x509
print(x509.load_der_x509_certificate(open(sys.argv[1], 'rb').read()).tbs_certificate_bytes.hex(), end='')" \
    "$work/holder.der" >"$work/tbs.hex"
echo "sample certificate: $(stat -c %s "$work/holder.der") bytes DER, TBS $(($(stat -c %s "$work/tbs.hex") / 2)) bytes; acceptance document $(stat -c %s "$repo/templates/acceptance/personal-v1.html") bytes"

t0=$(secs)
{
    python3 "$here/national.py" lookups "$repo/src/vn/provinces.json"
    echo "\\set n $n"
    echo "\\set now '$(date -u '+%Y-%m-%d %H:%M:%S')'"
    echo "\\set ca '$ca'"
    echo "\\set cert_hex '$(cat "$work/cert.hex")'"
    echo "\\set tbs_hex '$(cat "$work/tbs.hex")'"
    echo "\\set doc_hex '$(od -An -v -tx1 "$repo/templates/acceptance/personal-v1.html" | tr -d ' \n')'"
    cat "$here/generate.sql"
} | q -f - >/dev/null
t1=$(secs)
q -c "VACUUM ANALYZE enrolments" -c "VACUUM ANALYZE certificates" -c "VACUUM ANALYZE acceptance_records"
t2=$(secs)
printf 'generated in %.0f s, VACUUM ANALYZE %.0f s\n' "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"

else
    # The kept schema, migrated by this binary (the first start applies its migrations).
    serve
    stop
    ca=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$work/ca-root/ceremony.toml" | head -1)
    # The CRL stored by the previous run is stale: the next GET builds one.
    q -c "UPDATE status_generation SET generation = generation + 1 WHERE id = 1"
fi

echo "certificates by status: $(q -F= -c "SELECT status, count(*) FROM certificates GROUP BY 1 ORDER BY 1" | tr '\n' ' ')"
echo "enrolments: $(q -c "SELECT count(*) FROM enrolments")"

echo "--- sizes (pg_total_relation_size: heap, TOAST and indexes)"
q -F' ' -c "
    SELECT relname, pg_total_relation_size(c.oid), pg_relation_size(c.oid),
        pg_indexes_size(c.oid)
    FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
    WHERE s.nspname = current_schema() AND c.relkind = 'r'
    ORDER BY 2 DESC LIMIT 12" | while read -r t total heap idx; do
    printf '%-22s %8.1f MB (heap %7.1f MB, indexes %7.1f MB)\n' "$t" \
        "$(echo "$total / 1048576" | bc -l)" "$(echo "$heap / 1048576" | bc -l)" "$(echo "$idx / 1048576" | bc -l)"
done
q -F' ' -c "
    SELECT pg_total_relation_size('certificates') + pg_total_relation_size('acceptance_records'),
        (SELECT count(*) FROM certificates), pg_total_relation_size('enrolments'),
        (SELECT count(*) FROM enrolments),
        (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
            WHERE s.nspname = current_schema() AND c.relkind = 'r')" |
    while read -r cb cn eb en all; do
        printf 'bytes per certificate (certificates + acceptance_records): %.0f\n' "$(echo "$cb / $cn" | bc -l)"
        printf 'bytes per enrolment (enrolments): %.0f\n' "$(echo "$eb / $en" | bc -l)"
        printf 'whole schema: %.2f GB, %.0f bytes per certificate\n' "$(echo "$all / 1073741824" | bc -l)" "$(echo "$all / $cn" | bc -l)"
    done

# Accounts for the measurements, made by the CLI beside the stopped service.
creds=$(cli operator create --username "national-$(date +%s)" --role ra_officer)
export NATIONAL_USER=$(sed -n 's/^ *username: *//p' <<<"$creds")
export NATIONAL_PASSWORD=$(sed -n 's/^ *one-time password: *//p' <<<"$creds")
export NATIONAL_TOTP=$(sed -n 's/^ *TOTP secret: *//p' <<<"$creds")
export NATIONAL_REPORTS_KEY=$(cli api-key create --name "national reports" --scopes reports | tail -1 | tr -d ' ')
export NATIONAL_ENROL_KEY=$(cli api-key create --name "national intake" --scopes enrol | tail -1 | tr -d ' ')
export NATIONAL_N=$n NATIONAL_CA=$ca NATIONAL_ISSUER="$work/ca-root/issuing.pem"

echo "--- measurements (sequential, one client, through HTTP on 127.0.0.1)"
index_scans() { q -F' ' -c "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE schemaname = current_schema() ORDER BY 1"; }
# The phase times of the last CRL build, from the service's log.
crl_log() { grep 'CRL built' "$work/serve.log" | tail -1 | sed 's/.*CRL built/CRL built:/' || true; }
serve
# The report job summarises the closed days at its first start on a schema (one catch-up run
# over up to 400 days, then one day a day); the phases wait for it, so that they measure the
# service as it runs every day rather than beside its one-off catch-up (a binary from before
# the summary has no report_days: no wait).
if [[ $(q -c "SELECT to_regclass('report_days') IS NOT NULL") == t ]]; then
    t0=$(secs)
    until [[ $(q -c "SELECT count(*) >= (timezone('UTC', now()) - interval '1 hour' + interval '7 hours')::date - 1
                    - (SELECT (min(signed_at) + interval '7 hours')::date FROM certificates) + 1
                FROM report_days") == t ]]; do sleep 1; done
    printf 'report summary of closed days: %s days, %s rows, the catch-up done in %.0f s\n' \
        "$(q -c "SELECT count(*) FROM report_days")" "$(q -c "SELECT count(*) FROM report_day_counts")" \
        "$(echo "$(secs) - $t0" | bc)"
fi
# Cold service cache: a fresh process; with NATIONAL_COLD=1 cold database and page caches too.
stop
if [[ ${NATIONAL_COLD:-0} == 1 ]]; then
    cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
    # shellcheck disable=SC2086
    pg_ctlcluster $cluster restart
    sync
    echo 3 >/proc/sys/vm/drop_caches
    echo "cold start: PostgreSQL restarted, page cache dropped"
fi
index_scans >"$work/scans-before"
serve
NATIONAL_BASE=$base NATIONAL_PHASE=ocsp python3 "$here/national.py" measure
# The CRL after a status change: the first GET builds it from every listed row (the refresh
# job built one during the catch-up; a new status generation makes it stale, as any revocation
# does).
q -c "UPDATE status_generation SET generation = generation + 1 WHERE id = 1"
NATIONAL_BASE=$base NATIONAL_PHASE=crl python3 "$here/national.py" measure
crl_log
NATIONAL_BASE=$base NATIONAL_PHASE=search python3 "$here/national.py" measure
NATIONAL_BASE=$base NATIONAL_PHASE=report python3 "$here/national.py" measure
NATIONAL_BASE=$base NATIONAL_PHASE=intake python3 "$here/national.py" measure
stop
# Which indexes the measured requests used (the service's backends have exited: counters flushed).
sleep 1
echo "index scans during the measurements: $(index_scans | join - "$work/scans-before" |
    awk '$2 > $3 { printf "%s %d, ", $1, $2 - $3 }')"
if [[ ${NATIONAL_CRL_ALL:-0} == 1 ]]; then
    # Every certificate on the CRL, revoked at its acceptance (status trigger off: one
    # generation bump for the whole change, as the load does).
    q -c "ALTER TABLE certificates DISABLE TRIGGER certificates_status_changed" \
        -c "UPDATE certificates SET status = 'revoked', revocation_reason = 'cessationOfOperation',
                revoked_at = COALESCE(revoked_at, signed_at + interval '1 hour')
            WHERE status <> 'revoked'" \
        -c "ALTER TABLE certificates ENABLE TRIGGER certificates_status_changed" \
        -c "UPDATE status_generation SET generation = generation + 1 WHERE id = 1" \
        -c "VACUUM ANALYZE certificates"
    serve
    NATIONAL_BASE=$base NATIONAL_PHASE=crl python3 "$here/national.py" measure
    crl_log
    stop
fi
echo "audit verify: $(cli audit verify 2>&1 | tail -1)"
