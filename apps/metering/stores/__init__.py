"""Counter stores: where admission counts and usage events live on the hot path.

`RedisStore` (production) and `DatabaseStore` (the embedded default, and the fail-open
fallback) keep the same semantics; one test suite runs against both."""

from django.conf import settings

from .base import Admission, CounterStore, Limits, StoreUnavailable

__all__ = ["Admission", "CounterStore", "Limits", "StoreUnavailable", "make_store"]


def make_store(on_fallback=None) -> CounterStore:
    """The configured store. With Redis, usage Redis refuses (or could lose: no AOF) goes to
    the database instead, and `on_fallback(reason)` is called each time (the gateway counts
    it as a store error: `record`, `not_persistent`)."""
    if settings.COUNTER_STORE == "redis":
        from .database_store import DatabaseStore
        from .redis_store import RedisStore

        return RedisStore(fallback=DatabaseStore(), on_fallback=on_fallback)
    from .database_store import DatabaseStore

    return DatabaseStore()
