#!/usr/bin/env bash
# Schemathesis against a freshly started service: every operation of the OpenAPI document, with
# the credentials each needs (setup.py), checking for 5xx answers and for responses, media
# types and statuses the document does not describe. Fails on any finding; prints the number
# of requests the service answered.
#
#   tests/schemathesis/run.sh                      # CI size
#   ST_MAX_EXAMPLES=300 tests/schemathesis/run.sh  # longer (README, "Schema tests")
#
# Uses the debug binary `cargo test` built (target/debug/ca-enrol), a temporary data directory,
# SQLite, and a free port (the service binds port 0 and prints it).
set -euo pipefail
cd "$(dirname "$0")/../.."

SCHEMATHESIS_VERSION=4.32.5
max_examples=${ST_MAX_EXAMPLES:-3}
seed=${ST_SEED:-1}
bin=target/debug/ca-enrol
venv=$PWD/target/schemathesis-venv
# hooks.py: a serializer for application/jose (the VNeID registration body).
hooks_dir=$PWD/tests/schemathesis

[ -x "$bin" ] || cargo build --bin ca-enrol
if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

work=$(mktemp -d)
server=
cleanup() {
  # `|| true`: under `set -e` the killed server's status (143) would become the script's.
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/ca-root/profiles"
cp ca-root/ceremony.toml "$work/ca-root/"
cp ca-root/profiles/personal.toml "$work/ca-root/profiles/"
CA_ENROL_LISTEN=127.0.0.1:0 CA_ENROL_DATA_DIR="$work/data" CA_ENROL_CA_ROOT="$work/ca-root" \
  DATABASE_URL= RUST_LOG=error "$bin" serve >"$work/serve.out" 2>"$work/serve.err" &
server=$!
base=
for _ in $(seq 1 300); do
  base=$(sed -n 's/^ca-enrol listening on //p' "$work/serve.out")
  [ -n "$base" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.err"; exit 1; }
  sleep 0.2
done
[ -n "$base" ] || { echo "serve did not start"; cat "$work/serve.err"; exit 1; }

# Python rather than curl: CI installs no curl.
fetch() {
  python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())' "$1"
}
fetch "$base/api/openapi.json" >"$work/openapi.json"
# stdout is a file here, so the first run wrote its credentials to the data directory
# (mode 0600) instead of printing them.
python3 tests/schemathesis/setup.py "$base" "$work/openapi.json" "$work/schemathesis.toml" \
  <"$work/data/bootstrap-admin.txt"

answered() {
  fetch "$base/metrics" | awk '/^http_requests_total\{/ {n += $NF} END {print n + 0}'
}
before=$(answered)
started=$(date +%s)
status=0
# From the temporary directory, so schemathesis's cache of failures does not land in the tree.
# One worker: Python 3.11.7's parser fails intermittently ("AST constructor recursion depth
# mismatch") when hypothesis parses lambdas in two threads at once.
(cd "$work" && PYTHONPATH="$hooks_dir" SCHEMATHESIS_HOOKS=hooks \
  "$venv/bin/schemathesis" --config-file schemathesis.toml --no-color run \
  openapi.json --url "$base/api" \
  --max-examples "$max_examples" --seed "$seed" --workers 1 \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance) \
  || status=$?
after=$(answered)
# Minus one: the metrics read itself is counted.
echo "schemathesis: $((after - before - 1)) requests in $(($(date +%s) - started)) s, exit status $status"
if grep -q panicked "$work/serve.err"; then
  grep -B2 -A10 panicked "$work/serve.err"
  status=1
fi
exit "$status"
