"""The signature a provider checks to know a call came through Tollgate:

    X-Tollgate-Signature: v1=<hex HMAC-SHA256(signing secret,
        timestamp + "\\n" + METHOD + "\\n" + path?query + "\\n" + sha256hex(body))>

where path?query is exactly the path and query the upstream receives."""

import hashlib
import hmac

EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


def signature(secret: str, timestamp: str, method: str, path_and_query: str, body: bytes) -> str:
    body_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_BODY_SHA256
    message = f"{timestamp}\n{method}\n{path_and_query}\n{body_hash}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"v1={digest}"
