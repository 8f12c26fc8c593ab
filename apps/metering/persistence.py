"""Does the counter store keep what it is told across a restart? Usage waits in Redis until
the flush moves it to PostgreSQL; a Redis without AOF loses it when the process dies.

Read from `INFO persistence` (RDB snapshots alone do not count: they lose everything since
the last one). Used by the gateway on every new connection, by `/readyz` and by `/metrics`."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Persistence:
    durable: bool
    detail: str


def parse_info(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            values[key.strip()] = value.strip()
    return values


def judge(info: dict) -> Persistence:
    """`info`: INFO persistence as a dict (redis-py's parsed form or `parse_info`'s)."""
    if str(info.get("aof_enabled", "0")) != "1":
        return Persistence(False, "AOF is off (appendonly no): a restart loses unflushed usage")
    if str(info.get("aof_last_write_status", "ok")) != "ok":
        return Persistence(False, "the last AOF write failed (disk full or read-only?)")
    return Persistence(True, "AOF on")


def check_client(client) -> Persistence:
    """Every primary of the counter store (a blocking client, one server or a cluster)."""
    from .redis_layout import primaries

    for node in primaries(client):
        info = (
            client.info("persistence")
            if node is None
            else client.info("persistence", target_nodes=node)
        )
        verdict = judge(info)
        if not verdict.durable:
            where = "" if node is None else f" on {node.name}"
            return Persistence(False, verdict.detail + where)
    return Persistence(True, "AOF on")
