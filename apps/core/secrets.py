"""Secrets handed to people (API keys, access tokens): `<prefix>_<40 random><6 checksum>`.

The random part is base62 (URL-safe, double-click selectable). The checksum is CRC32 of the
prefix and random part in base62, as GitHub's tokens do: a typo is caught without a database
lookup, and secret scanners can recognise a leaked key with few false positives. Only the
SHA-256 of the whole string is stored."""

import hashlib
import secrets
import zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 40
CHECKSUM_LENGTH = 6
DISPLAY_PREFIX_LENGTH = 8  # random characters kept for display after the prefix


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        chars.append(BASE62[remainder])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def generate_secret(prefix: str) -> str:
    body = f"{prefix}_" + "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return body + _checksum(body)


def has_valid_checksum(secret: str, prefix: str) -> bool:
    expected_length = len(prefix) + 1 + RANDOM_LENGTH + CHECKSUM_LENGTH
    if len(secret) != expected_length or not secret.startswith(f"{prefix}_"):
        return False
    body, checksum = secret[:-CHECKSUM_LENGTH], secret[-CHECKSUM_LENGTH:]
    return secrets.compare_digest(_checksum(body), checksum)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str, prefix: str) -> str:
    return secret[: len(prefix) + 1 + DISPLAY_PREFIX_LENGTH]
