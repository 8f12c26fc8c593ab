"""Opaque public identifiers: `<prefix>_<16 Crockford base32 chars>` (80 random bits).

Database primary keys never leave the server; URLs, the platform API and gateway headers use
these instead, so ids reveal neither counts nor order."""

import secrets

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RANDOM_LENGTH = 16


def make_public_id(prefix: str) -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return f"{prefix}_{body}"
