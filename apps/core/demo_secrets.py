"""Stable secrets for demo data: derived from SECRET_KEY, so `seed_demo` can run again and
print the same working tokens without storing them anywhere. Demo use only."""

import hashlib
import hmac

from django.conf import settings

from .secrets import BASE62, RANDOM_LENGTH, _checksum


def demo_secret(prefix: str, label: str) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"demo:{prefix}:{label}".encode(), hashlib.sha512
    ).digest()
    body = f"{prefix}_" + "".join(BASE62[b % 62] for b in digest[:RANDOM_LENGTH])
    return body + _checksum(body)
