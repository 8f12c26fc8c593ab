"""Answers the gateway makes itself: problem+json errors, over raw ASGI."""

import json

from apps.core.problems import problem_body


class Refused(Exception):
    """A call the gateway answers itself (401–429, 503)."""

    def __init__(self, code: str, headers: list | None = None, detail: str | None = None):
        super().__init__(code)
        self.code, self.headers, self.detail = code, headers or [], detail
        self.caller = None  # who was refused, when the key was known (resolve.Caller)


CODES = {
    "invalid_path": (
        400,
        "The path has a dot segment (`.` or `..`, plain or percent-encoded); "
        "send the path as the API documents it.",
    ),
    "missing_api_key": (401, "Send your key in the X-Api-Key header."),
    "invalid_api_key": (401, "This API key is not valid: unknown, revoked or expired."),
    "api_not_found": (404, "No published API has this address."),
    "not_subscribed": (403, "Your organization does not subscribe to this API."),
    "subscription_inactive": (
        403,
        "Your subscription is not active yet: finish the payment step in the console.",
    ),
    "consumer_suspended": (403, "Your organization is suspended. Contact support."),
    "key_not_allowed": (403, "This key is restricted to other APIs."),
    "payment_required": (
        402,
        "Your subscription is past due. Update your payment method to continue.",
    ),
    "subscription_unpaid": (
        402,
        "Every retry of your payment failed and your subscription is unpaid. Pay the open "
        "invoice or update your card in the console (Billing); calls work again at once.",
    ),
    "rate_limited": (429, "Too many requests. Slow down and retry after the time in Retry-After."),
    "quota_exceeded": (
        429,
        "You used all the units your plan includes this period. Upgrade "
        "your plan or wait for the next period.",
    ),
    "spend_cap_reached": (
        429,
        "Your spend cap for this period is reached. Raise it in the console to continue.",
    ),
    "request_too_large": (413, "The request body is larger than the gateway accepts."),
    "upstream_error": (502, "The API's server could not be reached or broke the connection."),
    "upstream_timeout": (504, "The API's server did not answer in time."),
    "gateway_unavailable": (503, "The gateway cannot count calls right now; retry shortly."),
}


# What each refusal means, for the consumer's usage pages (the problem's detail text).
REFUSAL_MEANINGS = {code: text for code, (_status, text) in CODES.items()}


def problem(code: str, request_id: str, detail: str | None = None) -> tuple[int, bytes]:
    status, default = CODES[code]
    body = problem_body(status, code, detail or default, request_id=request_id)
    return status, json.dumps(body).encode()


async def send_problem(
    send, code: str, request_id: str, headers: list | None = None, detail: str | None = None
) -> int:
    status, body = problem(code, request_id, detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-tollgate-request-id", request_id.encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return status
