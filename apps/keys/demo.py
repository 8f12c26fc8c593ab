"""The demo consumer's API key: stable across seed_demo runs (derived from SECRET_KEY)."""

from apps.core.demo_secrets import demo_secret
from apps.core.secrets import display_prefix, hash_secret

from .models import KEY_PREFIX, ApiKey


def seed(demo: dict) -> None:
    secret = demo_secret(KEY_PREFIX, "consumer-key")
    ApiKey.objects.update_or_create(
        key_hash=hash_secret(secret),
        defaults={
            "organization": demo["consumer_org"],
            "name": "Demo key",
            "created_by": demo["consumer_user"],
            "prefix": display_prefix(secret, KEY_PREFIX),
            "revoked_at": None,
        },
    )
    demo["api_key"] = secret
