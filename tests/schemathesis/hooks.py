"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by run.sh).

`POST /v1/vneid/registrations` takes `application/jose` (a compact JWS as text), which
schemathesis has no serializer for: send the generated string as it is, so the route's
refusals (malformed JWS, no trust anchor) are checked against the document like any other.
"""

import schemathesis


@schemathesis.serializer("application/jose")
def jose(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return str(value).encode()
