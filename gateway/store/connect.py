"""Building the Redis client from `SLUIS_REDIS_URL`.

Forms understood (userinfo, TLS and query parameters as in redis-py's own URLs):

    redis://[[user]:password@]host[:port][/db]          one server
    rediss://...                                        one server over TLS
    unix://[[user]:password@]/path/to/redis.sock[?db=n] a local socket
    redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]
    rediss+sentinel://...                               the same, TLS to the master
    redis+cluster://[[user]:password@]host:port[,host:port...]
    rediss+cluster://...                                the same over TLS

For Sentinel, the password in the URL is the master's; a `sentinel_password`
query parameter gives the sentinels' own, if they have one. A Cluster has a single
database (0); every key of a room carries the room's hash tag, so each script runs
on one slot and the rooms spread over the masters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

# Either client offers every command the store uses (scripts, pipelines, plain reads).
Client = Redis | RedisCluster

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
DEFAULT_SENTINEL_PORT = 26379
DEFAULT_REDIS_PORT = 6379


class RedisURLError(ValueError):
    """A SLUIS_REDIS_URL that cannot be understood; the message says why."""


@dataclass(frozen=True, slots=True)
class MultiHostURL:
    """A Sentinel or Cluster URL taken apart."""

    scheme: str
    hosts: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    service: str | None = None  # Sentinel: the monitored master's name
    db: int = 0
    query: dict[str, str] = field(default_factory=dict)

    @property
    def tls(self) -> bool:
        return self.scheme.startswith("rediss")


def parse_multi_host(url: str) -> MultiHostURL:
    """Split `scheme://user:pass@h1:p1,h2:p2/path?query` (urlsplit rejects several ports)."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SENTINEL_SCHEMES + CLUSTER_SCHEMES:
        raise RedisURLError(f"not a Sentinel or Cluster URL: {scheme}://")
    rest, _, query_text = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hostlist = netloc.rpartition("@")
    if not at:
        userinfo, hostlist = "", netloc
    username = password = None
    if userinfo:
        user, colon, pw = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if colon else None
    default_port = DEFAULT_SENTINEL_PORT if scheme in SENTINEL_SCHEMES else DEFAULT_REDIS_PORT
    hosts = tuple(_host_port(item, default_port) for item in hostlist.split(",") if item.strip())
    if not hosts:
        raise RedisURLError(f"{scheme}:// needs at least one host:port")
    query = {k: v[-1] for k, v in parse_qs(query_text, keep_blank_values=True).items()}
    parts = [unquote(p) for p in path.split("/") if p]
    service = None
    db = 0
    if scheme in SENTINEL_SCHEMES:
        if not parts:
            raise RedisURLError(
                f"{scheme}:// needs the master's name: {scheme}://host:26379/mymaster/0")
        service = parts[0]
        db = _db(parts[1] if len(parts) > 1 else query.get("db", "0"))
    elif (parts[0] if parts else query.get("db", "0")) != "0":
        raise RedisURLError("a Redis Cluster has database 0 only")
    return MultiHostURL(scheme, hosts, username, password, service, db, query)


def _host_port(item: str, default_port: int) -> tuple[str, int]:
    item = item.strip()
    if item.startswith("["):  # [IPv6]:port
        host, _, port = item[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
    try:
        return host, int(port) if port else default_port
    except ValueError:
        raise RedisURLError(f"bad port in {item!r}") from None


def _db(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise RedisURLError(f"bad database number {text!r}") from None


# Connections one process keeps to one Redis server. Beyond them a call waits its turn
# for a free one (at most the call's own timeout), rather than being refused.
POOL_SIZE = 64


def client_from_url(url: str, timeout: float = 2.0, max_connections: int = POOL_SIZE
                    ) -> Client:
    """An asyncio client that fails fast, so that visitors see the calm 503 at once.

    For one server (`redis://`, `rediss://`, `unix://`) the pool of `max_connections`
    blocks when every connection is in use, for at most `timeout` seconds: a burst of
    concurrent calls (each event-loop iteration sends its own coalesced batch) queues
    for a connection instead of failing. redis-py's default pool refuses the call past
    the last connection at once ("Too many connections"), which the store reported as
    Redis unavailable: the 503s of the 10,000-visitor rehearsal (docs/loadtest.md)."""
    connect_timeout = min(timeout, 1.0)
    scheme = url.partition("://")[0].lower()
    if scheme in SENTINEL_SCHEMES:
        return _sentinel_client(parse_multi_host(url), timeout, connect_timeout, max_connections)
    if scheme in CLUSTER_SCHEMES:
        u = parse_multi_host(url)
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in u.hosts],
            username=u.username, password=u.password, ssl=u.tls,
            socket_timeout=timeout, socket_connect_timeout=connect_timeout,
            max_connections=max_connections, health_check_interval=0,
            # A moved slot or a failed-over master is found again on the next attempt.
            retry=Retry(NoBackoff(), 2),
        )
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,  # the longest a call waits for a free connection
        socket_timeout=timeout,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), 1),  # one reconnect: a pooled connection may predate a restart
        health_check_interval=0,
    )
    return Redis.from_pool(pool)


def _sentinel_client(u: MultiHostURL, timeout: float, connect_timeout: float,
                     max_connections: int) -> Redis:
    sentinel_kwargs: dict[str, object] = {"socket_timeout": timeout,
                                          "socket_connect_timeout": connect_timeout}
    if "sentinel_password" in u.query:
        sentinel_kwargs["password"] = u.query["sentinel_password"]
    if "sentinel_username" in u.query:
        sentinel_kwargs["username"] = u.query["sentinel_username"]
    sentinel = Sentinel(list(u.hosts), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    assert u.service is not None
    # After a failover the first call on an old connection fails (ConnectionError, or
    # READONLY from a demoted master); the retry asks the sentinels again for the master.
    master: Redis = sentinel.master_for(
        u.service, redis_class=Redis, db=u.db, username=u.username, password=u.password,
        ssl=u.tls, socket_timeout=timeout, socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), 1), max_connections=max_connections, health_check_interval=0)
    return master
