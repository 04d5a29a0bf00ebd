#!/usr/bin/env python3
"""Credentials and per-operation auth for a schemathesis run against a fresh `ca-enrol serve`.

Reads the bootstrap administrator that the first run wrote (data/bootstrap-admin.txt, on stdin),
signs in as the tests do (password + TOTP, then the required password change), makes an
integration API key with every scope and one operator per other role, and writes a
schemathesis.toml giving each operation the credential its description names (the role or
API-key scope it needs), so generated requests get past the role check and reach the
operation's own validation. Sign-out and password change get a throwaway session each, so
they cannot sign out or lock the credentials the rest of the run uses.

Usage: setup.py BASE_URL OPENAPI_JSON OUT_TOML < serve-stdout
Standard library only.
"""

import base64
import hashlib
import hmac
import json
import re
import struct
import sys
import time
import urllib.error
import urllib.request


def totp(secret_b32, at):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{code % 1_000_000:06d}"


def call(base, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read().decode()
            return resp.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method} {path}: {e.code} {e.read().decode()}")


def session(base, username, password, totp_secret):
    """A usable session token: signs in and, on first sign-in, changes the password."""
    _, body = call(
        base,
        "POST",
        "/api/v1/operator/session",
        body={
            "username": username,
            "password": password,
            "totp_code": totp(totp_secret, time.time()),
        },
    )
    token = body["token"]
    if body.get("must_change_password"):
        call(
            base,
            "POST",
            "/api/v1/operator/password",
            token,
            {"current_password": password, "new_password": password + "-schemathesis-1"},
        )
    return token


def operator(base, admin_token, username, role):
    _, created = call(
        base, "POST", "/api/v1/operators", admin_token, {"username": username, "role": role}
    )
    return session(base, username, created["one_time_password"], created["totp_secret"])


def printed(serve_stdout, label):
    m = re.search(rf"^\s*{re.escape(label)}\s*(\S+)\s*$", serve_stdout, re.M)
    if not m:
        raise SystemExit(f"no '{label}' in the bootstrap credentials")
    return m.group(1)


def main():
    base, openapi_path, out_path = sys.argv[1:4]
    serve_stdout = sys.stdin.read()
    admin = session(
        base,
        printed(serve_stdout, "username:"),
        printed(serve_stdout, "one-time password:"),
        printed(serve_stdout, "TOTP secret:"),
    )
    _, key = call(
        base,
        "POST",
        "/api/v1/api-keys",
        admin,
        {"name": "schemathesis", "scopes": ["enrol", "lifecycle", "reports"]},
    )
    tokens = {
        "admin": admin,
        "api_key": key["key"],
        "operator": operator(base, admin, "st.operator", "operator"),
        "ra_officer": operator(base, admin, "st.ra", "ra_officer"),
        "auditor": operator(base, admin, "st.auditor", "auditor"),
        "sign_out": operator(base, admin, "st.signout", "operator"),
        "password": operator(base, admin, "st.password", "operator"),
    }

    with open(openapi_path) as f:
        doc = json.load(f)
    lines = [
        "# Written by tests/schemathesis/setup.py for one run; not checked in.",
        "[checks]",
        "enabled = false",
        "not_a_server_error.enabled = true",
        "response_schema_conformance.enabled = true",
        "content_type_conformance.enabled = true",
        "status_code_conformance.enabled = true",
        "",
    ]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            text = op.get("description") or op.get("summary") or ""
            name = f"{method.upper()} {path}"
            if name == "DELETE /v1/operator/session":
                who = "sign_out"
            elif name == "POST /v1/operator/password":
                who = "password"
            elif not op.get("security"):
                who = None
            elif "scope `" in text:
                who = "api_key"
            else:
                # The first role the description names; operations for any principal
                # (`/whoami`) get the administrator.
                roles = re.findall(r"`(operator|ra_officer|auditor|admin)`", text)
                who = roles[0] if roles else "admin"
            if who:
                lines += [
                    "[[operations]]",
                    f'include-name = "{name}"',
                    f'headers = {{ Authorization = "Bearer {tokens[who]}" }}',
                    "",
                ]
    with open(out_path, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
