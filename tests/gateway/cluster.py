"""A real three-master Redis Cluster on loopback, owned by the test session: three
`redis-server --cluster-enabled yes` processes joined by `redis-cli --cluster create`.
Skipped, visibly, where redis-server is not installed (CI installs it)."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.servers import free_port

MASTERS = 3


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cluster_ports() -> list[int]:
    """Ports whose cluster bus port (port + 10000) is free too."""
    ports: list[int] = []
    while len(ports) < MASTERS:
        port = free_port()
        if port + 10000 < 65536 and _free(port + 10000) and port not in ports:
            ports.append(port)
    return ports


def _cli(port: int, *args: str) -> str:
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=30
    ).stdout


class RedisCluster:
    def __init__(self, folder: Path):
        self.folder = folder
        self.ports = _cluster_ports()
        self.processes: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> "RedisCluster":
        for port in self.ports:
            self.processes.append(self._server(port))
        for port in self.ports:
            self._wait(lambda port=port: _cli(port, "ping").strip() == "PONG")
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *nodes,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for port in self.ports:
            self._wait(lambda port=port: "cluster_state:ok" in _cli(port, "cluster", "info"))
        return self

    def _server(self, port: int) -> subprocess.Popen:
        folder = self.folder / str(port)  # each node its own AOF folder
        folder.mkdir()
        return subprocess.Popen(
            [
                *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
                *("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"),
                *("--dir", str(folder), "--save", "", "--appendonly", "yes"),
                *("--logfile", str(folder / "redis.log")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @staticmethod
    def _wait(condition, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not come up")
            time.sleep(0.1)

    def node_of(self, key: str) -> int:
        """The port of the master that holds `key`."""
        slot = int(_cli(self.ports[0], "cluster", "keyslot", key))
        for port in self.ports:
            for line in _cli(port, "cluster", "nodes").splitlines():
                fields = line.split()
                if "myself" in fields[2] and "master" in fields[2]:
                    for ranges in fields[8:]:
                        low, _, high = ranges.partition("-")
                        if int(low) <= slot <= int(high or low):
                            return port
        raise LookupError(key)

    def flush(self) -> None:
        for port in self.ports:
            _cli(port, "flushall")

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        pytest.skip("needs redis-server and redis-cli to start a Redis Cluster (CI has them)")
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()
