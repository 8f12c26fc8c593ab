"""The router's lifespan: start-up freezes the heap built so far (short full collections)
when FREEZE_STARTUP_HEAP is on, and shutdown completes."""

import asyncio
import gc

from apps.gateway.app import GatewayRouter


def _run_lifespan(router: GatewayRouter) -> list[str]:
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message["type"])

    asyncio.run(router({"type": "lifespan"}, receive, send))
    return sent


def test_startup_freezes_the_heap_when_asked(settings):
    settings.FREEZE_STARTUP_HEAP = True
    try:
        sent = _run_lifespan(GatewayRouter(django_app=None))
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_startup_leaves_the_heap_alone_when_off(settings):
    settings.FREEZE_STARTUP_HEAP = False
    gc.unfreeze()
    _run_lifespan(GatewayRouter(django_app=None))
    assert gc.get_freeze_count() == 0
