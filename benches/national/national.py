#!/usr/bin/env python3
"""National-scale test on PostgreSQL (issue #18): the lookup data the generator needs, and the
measurements through HTTP against a running `ca-enrol serve`. Driven by `run.sh`.

  national.py lookups <provinces.json>   SQL for the generator's lookup tables
  national.py measure                                       every measurement, figures on stdout

The generator (`generate.sql`) and this file derive certificate i's serial and its holder's ID
number the same way (`serial`, `id_number` below), so the measurements pick random existing
certificates without reading the database.
"""

import base64
import hashlib
import hmac
import json
import os
import random
import statistics
import struct
import sys
import time
import unicodedata
import uuid

# Codes of birth registration (PPP), the 63 pre-2025 provinces (../shared/domain.md §3).
PPP = [
    "001", "002", "004", "006", "008", "010", "011", "012", "014", "015", "017", "019", "020",
    "022", "024", "025", "026", "027", "030", "031", "033", "034", "035", "036", "037", "038",
    "040", "042", "044", "045", "046", "048", "049", "051", "052", "054", "056", "058", "060",
    "062", "064", "066", "067", "068", "070", "072", "074", "075", "077", "079", "080", "082",
    "083", "084", "086", "087", "089", "091", "092", "093", "094", "095", "096",
]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi",
          "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quang", "Thu", "Xuân"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Hương",
         "Khánh", "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Phúc", "Quân", "Sơn", "Tâm",
         "Thảo", "Trang", "Tuấn", "Việt", "Yến"]


def fold(s):
    """`vn::search_key`: lower case, diacritics and đ removed."""
    out = []
    for c in unicodedata.normalize("NFC", s):
        if c in "đĐ":
            out.append("d")
        elif c.isascii():
            out.append(c.lower())
        else:
            base = unicodedata.normalize("NFD", c)[0]
            out.append(base.lower() if base.isascii() and base.isalpha() else c)
    return "".join(out)


def serial(i):
    """Certificate i's serial (1-based), as generate.sql writes it: 16 octets, positive."""
    return "4" + hashlib.md5(b"s%d" % i).hexdigest()[:31]


def id_number(j):
    """Enrolment j's ID number (0-based), as generate.sql writes it: `PPP G YY RRRRRR`, born
    1940-1999; unique for j below 60 million (for a given R, YY takes 60 distinct values)."""
    r, t = j % 1_000_000, j // 1_000_000
    yy = 40 + (r + 37 * t) % 60
    return f"{PPP[(r * 7 + t * 13) % 63]}{r % 2}{yy:02d}{r:06d}"


def sql_text(s):
    return "'" + s.replace("'", "''") + "'"


def lookups(provinces_json):
    data = json.load(open(provinces_json, encoding="utf-8"))
    out = ["CREATE TEMP TABLE nat_wards (idx INTEGER PRIMARY KEY, province TEXT, ward TEXT);"]
    rows = []
    for p in data["provinces"]:
        for _code, ward in p["wards"]:
            rows.append((p["name"], ward))
    out.append("INSERT INTO nat_wards VALUES " + ",\n".join(
        f"({k}, {sql_text(p)}, {sql_text(w)})" for k, (p, w) in enumerate(rows)) + ";")
    out.append("CREATE TEMP TABLE nat_ppp (idx INTEGER PRIMARY KEY, code TEXT);")
    out.append("INSERT INTO nat_ppp VALUES " + ",".join(
        f"({k}, '{c}')" for k, c in enumerate(PPP)) + ";")
    for name, words in [("family", FAMILY), ("middle", MIDDLE), ("given", GIVEN)]:
        out.append(f"CREATE TEMP TABLE nat_{name} (idx INTEGER PRIMARY KEY, word TEXT, folded TEXT);")
        out.append(f"INSERT INTO nat_{name} VALUES " + ",".join(
            f"({k}, {sql_text(w)}, {sql_text(fold(w))})" for k, w in enumerate(words)) + ";")
    print("\n".join(out))


# ---------------------------------------------------------------------------------------------
# Measurements


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


def summary(name, ms):
    print(f"{name}: n={len(ms)} p50={percentile(ms, 50):.2f} ms p99={percentile(ms, 99):.2f} ms "
          f"max={max(ms):.2f} ms mean={statistics.mean(ms):.2f} ms", flush=True)


def totp(secret_b32, at=None):
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int((at or time.time()) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    o = digest[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", digest[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def check(resp, status):
    if resp.status_code != status:
        sys.exit(f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text[:500]}")
    return resp


def sign_in(s, base, username, password, secret):
    """An operator's bearer token: the one-time password, the own password, a new TOTP secret."""
    r = check(s.post(f"{base}/api/v1/operator/session", json={
        "username": username, "password": password, "totp_code": totp(secret)}), 201)
    token = r.json()["token"]
    new_password = "national-scale-" + uuid.uuid4().hex
    r = check(s.post(f"{base}/api/v1/operator/password", json={
        "current_password": password, "new_password": new_password},
        headers={"Authorization": f"Bearer {token}"}), 200)
    secret = r.json()["totp_secret"]
    # Sign-in consumes the time step (replay guard) and accepts one step of drift: the next
    # step's code signs in again at once.
    r = check(s.post(f"{base}/api/v1/operator/session", json={
        "username": username, "password": new_password,
        "totp_code": totp(secret, time.time() + 30)}), 201)
    return r.json()["token"]


def measure():
    import requests
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    env = os.environ
    base = env["NATIONAL_BASE"]
    n = int(env["NATIONAL_N"])
    samples = int(env.get("NATIONAL_SAMPLES", "2000"))
    phase = env["NATIONAL_PHASE"]
    rng = random.Random(int(env.get("NATIONAL_SEED", "18")))
    s = requests.Session()

    if phase == "ocsp":
        # Distinct random serials right after the service started: none is in its cache.
        issuer = x509.load_pem_x509_certificate(open(env["NATIONAL_ISSUER"], "rb").read())
        name_hash = hashlib.sha1(issuer.subject.public_bytes()).digest()
        # issuerKeyHash: SHA-1 of the subjectPublicKey BIT STRING's value.
        ski = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
        picks = rng.sample(range(1, n + 1), min(samples, n))
        ms, statuses = [], {}
        for i in picks:
            req = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
                name_hash, ski, int(serial(i), 16), hashes.SHA1()).build()
            body = req.public_bytes(serialization.Encoding.DER)
            t0 = time.perf_counter()
            r = s.post(f"{base}/ocsp", data=body,
                       headers={"Content-Type": "application/ocsp-request"})
            ms.append((time.perf_counter() - t0) * 1000)
            check(r, 200)
            resp = ocsp.load_der_ocsp_response(r.content)
            if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
                sys.exit(f"OCSP for serial {serial(i)}: {resp.response_status}")
            k = resp.certificate_status.name
            statuses[k] = statuses.get(k, 0) + 1
        summary("OCSP, cold service cache, random serials", ms)
        print(f"OCSP answers: {statuses}")
    elif phase == "crl":
        t0 = time.perf_counter()
        r = check(s.get(f"{base}/crl/{env['NATIONAL_CA']}.crl"), 200)
        first = time.perf_counter() - t0
        crl = x509.load_der_x509_crl(r.content)
        t0 = time.perf_counter()
        check(s.get(f"{base}/crl/{env['NATIONAL_CA']}.crl"), 200)
        again = time.perf_counter() - t0
        print(f"CRL build (first GET after a status change): {first:.2f} s, {len(crl)} entries, "
              f"{len(r.content) / 1e6:.1f} MB; served again: {again * 1000:.0f} ms")
    elif phase == "search":
        token = sign_in(s, base, env["NATIONAL_USER"], env["NATIONAL_PASSWORD"],
                        env["NATIONAL_TOTP"])
        auth = {"Authorization": f"Bearer {token}"}
        ms = []
        for j in rng.sample(range(n), min(samples, n)):
            t0 = time.perf_counter()
            r = s.get(f"{base}/api/v1/certificates", params={"id_number": id_number(j)},
                      headers=auth)
            ms.append((time.perf_counter() - t0) * 1000)
            items = check(r, 200).json()["items"]
            if len(items) != 1:
                sys.exit(f"search {id_number(j)}: {len(items)} certificates")
        summary("Certificate search by ID number (API)", ms)
    elif phase == "report":
        auth = {"Authorization": f"Bearer {env['NATIONAL_REPORTS_KEY']}"}
        today = time.gmtime(time.time() + 7 * 3600)
        this_month = f"{today.tm_year}-{today.tm_mon:02d}"
        y, m = (today.tm_year, today.tm_mon - 1) if today.tm_mon > 1 else (today.tm_year - 1, 12)
        last_month = f"{y}-{m:02d}"
        year_ago = f"{today.tm_year - 1}-{today.tm_mon:02d}"
        for label, frm, to in [("one month", last_month, last_month),
                               ("12 months by month", year_ago, this_month)]:
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                r = check(s.get(f"{base}/api/v1/reports/issuance", headers=auth, params={
                    "period": "month", "level": "province", "from": frm, "to": to}), 200)
                times.append(time.perf_counter() - t0)
            rows = r.json().get("rows", [])
            issued = sum(x.get("issued", 0) for x in rows)
            print(f"Report by province, {label} ({frm} to {to}): "
                  + ", ".join(f"{t:.2f} s" for t in times)
                  + f" (3 runs); {len(rows)} rows, {issued} issued")
    elif phase == "intake":
        auth = {"Authorization": f"Bearer {env['NATIONAL_ENROL_KEY']}"}
        # ID numbers unlike an earlier run's on a kept schema (NATIONAL_REUSE).
        rng = random.Random(time.time_ns())
        ms = []
        for k in range(min(samples, 500)):
            year = 2000 + k % 8
            female = k % 2
            idn = f"001{2 + female}{year % 100:02d}{rng.randrange(1_000_000):06d}"
            body = {
                "source": "app_ekyc",
                "identity": {
                    "id_number": idn, "full_name": "Nguyễn Thị Mai" if female else "Trần Văn Nam",
                    "date_of_birth": f"{year}-03-15", "sex": "female" if female else "male",
                    "nationality": "Việt Nam",
                    "permanent_address": {"line": "Số 12 phố Hàng Bài", "ward": "Phường Cửa Nam",
                                          "province": "Thành phố Hà Nội"},
                    "id_issue_date": "2021-06-01",
                    "id_issue_place": "Cục Cảnh sát quản lý hành chính về trật tự xã hội",
                    "id_expiry_date": "2045-03-15"},
                "contact": {"phone": f"091{rng.randrange(10_000_000):07d}"},
                "consent": {"version": "2025-07",
                            "text_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                            "given_at": "2026-12-01T09:30:00+07:00", "channel": "app"},
            }
            t0 = time.perf_counter()
            r = s.post(f"{base}/api/v1/enrolments", json=body,
                       headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
            ms.append((time.perf_counter() - t0) * 1000)
            if r.status_code == 409:  # the random ID number met an earlier one of this run
                ms.pop()
                continue
            check(r, 201)
        summary("Enrolment intake (app_ekyc, POST /api/v1/enrolments)", ms)
    else:
        sys.exit(f"unknown phase {phase}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["lookups"]:
        lookups(sys.argv[2])
    elif sys.argv[1:2] == ["measure"]:
        measure()
    else:
        sys.exit(__doc__)
