"""SLUIS_REDIS_URL: every form builds the right client, and a bad one says why."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool

from gateway.store.connect import RedisURLError, client_from_url, parse_multi_host


def test_sentinel_url_names_the_sentinels_the_master_and_the_database() -> None:
    u = parse_multi_host("redis+sentinel://:s%40cret@s1:26379,s2,[::1]:26380/mymaster/2"
                         "?sentinel_password=watch")
    assert u.hosts == (("s1", 26379), ("s2", 26379), ("::1", 26380))
    assert (u.service, u.db, u.password, u.username) == ("mymaster", 2, "s@cret", None)
    assert u.query["sentinel_password"] == "watch" and not u.tls
    assert parse_multi_host("rediss+sentinel://s1/mymaster").tls


def test_sentinel_url_gives_a_client_that_asks_the_sentinels_for_the_master() -> None:
    client = client_from_url("redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster/0")
    assert isinstance(client, Redis)
    assert isinstance(client.connection_pool, SentinelConnectionPool)
    assert client.connection_pool.service_name == "mymaster"


def test_cluster_url_gives_a_cluster_client_with_every_startup_node() -> None:
    client = client_from_url("redis+cluster://user:pw@127.0.0.1:7000,127.0.0.1:7001")
    assert isinstance(client, RedisCluster)
    assert [(n.host, n.port) for n in client.startup_nodes] == [
        ("127.0.0.1", 7000), ("127.0.0.1", 7001)]


def test_plain_urls_are_unchanged() -> None:
    for url in ("redis://127.0.0.1:6379/0", "rediss://u:p@host:6380/1",
                "unix:///run/redis.sock?db=0"):
        assert isinstance(client_from_url(url), Redis)


@pytest.mark.parametrize(("url", "reason"), [
    ("redis+sentinel://s1:26379", "master's name"),
    ("redis+sentinel://s1:26379/mymaster/x", "bad database"),
    ("redis+cluster://h1:7000/3", "database 0 only"),
    ("redis+cluster://h1:port", "bad port"),
    ("redis+cluster://", "at least one host"),
])
def test_a_bad_multi_host_url_says_why(url: str, reason: str) -> None:
    with pytest.raises(RedisURLError, match=reason):
        client_from_url(url)
