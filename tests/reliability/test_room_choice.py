"""Room choice under attack: raw requests over a socket to a real gateway process with
rooms chosen by host and by path, every room in front of one shared upstream (the
operators' guide's example). Neither the Host header nor the spelling of a path lets a
request reach the upstream through a room that does not own the path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

from gateway.passes import Passes, new_visitor_id
from tests.backends.support import KEY, gateway
from tests.reliability.conftest import Figure
from tests.reliability.support import SocketUpstream, raw_request

# `algemeen` is idle: whoever it takes is let straight through. `kampen` lets nobody
# in, so any request of an attack that reaches the upstream is a bypass of it. `info`
# counts and queues nobody, on its own host.
ROOMS = """
[rooms.algemeen]
max_active = 100000
rate_per_minute = 1000000

[rooms.kampen]
paths = ["/kampen"]
hosts = ["kampen.stad.be"]
max_active = 0

[rooms.info]
hosts = ["info.stad.be"]
mode = "passthrough"
"""

KAMPEN_PATHS = ["/kampen", "/kampen/boek", "/kampen/boek?week=2"]
# Host spellings of a visitor who wants a room other than `kampen` for its paths: the
# gateway's own address, another name, the name with a trailing dot, a default port,
# the passthrough room's host, malformed names, none at all.
HOSTS: list[list[str] | Callable[[int], list[str]]] = [
    lambda port: [f"Host: 127.0.0.1:{port}"], lambda port: ["Host: 127.0.0.1"],
    ["Host: localhost"], ["Host: [::1]"], ["Host: kampen.stad.be."],
    ["Host: KAMPEN.STAD.BE."], ["Host: kampen.stad.be.:80"], ["Host: kampen.stad.be.:443"],
    ["Host: info.stad.be"], ["Host: Info.Stad.Be."], ["Host: info.stad.be:80"],
    ["Host: evil.example"], ["Host: kampen.stad.be.evil.example"], ["Host: stad.be"],
    ["Host: kampen.stad.be%2e"], ["Host: kampen.stad.be.."], ["Host: kampen.stad.be;x"],
    ["Host: kampen.stad.be/kampen"], ["Host: kampen.stad.be:x"], ["Host: "],
    ["Host: evil.example", "Host: kampen.stad.be"], [],
]
# Spellings of kampen's paths that servers read as /kampen/...: case, ;parameters, NUL,
# trailing dots and spaces, backslashes, encoded slashes and backslashes, double
# encoding, "..;", encoded dot segments on one side of an encoded slash, NTFS streams,
# full-width letters, %u escapes, control characters.
PATHS = [
    "/Kampen/boek", "/kampen;x/boek", "/kampen%00/", "/kampen./", "/kampen%20/",
    "/kampen\\boek", "/kampen%5cboek", "/kampen%252fboek",
    "/KAMPEN", "/kAmPeN/BOEK", "/kampen;jsessionid=1", "/kampen%3bx/boek", "/kampen%2e/",
    "/kampen.../boek", "/kampen%20%20/boek", "/kampen%2fboek", "/kampen%2Fboek",
    "/kampen%255cboek", "/kampen%25252fboek", "/x/..;/kampen/boek", "/x;/..;/kampen/boek",
    "/kampen/..%2f", "/kampen/..%5c", "/kampen/%2e%2e/", "/kampen/%2e%2e%2fx",
    "/kampen::$DATA/boek", "/kampen::$data", "/%EF%BD%8B%EF%BD%81%EF%BD%8D%EF%BD%90en/boek",
    "/%u006bampen/boek", "/kampen%09/", "/kampen%0a/", "/kampen%00.html", "/kampen\\",
    "/%5ckampen/boek", "/.\\kampen/boek", "/x\\..\\kampen/boek", "/x%5c..%5ckampen/boek",
]


def request_bytes(method: str, target: str, headers: list[str]) -> bytes:
    version = "HTTP/1.1" if any(h.lower().startswith("host:") for h in headers) else "HTTP/1.0"
    lines = [f"{method} {target} {version}", *headers, "Accept: application/json",
             "Connection: close"]
    if method == "POST":
        lines += ["Content-Type: application/x-www-form-urlencoded", "Content-Length: 7"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (
        b"child=1" if method == "POST" else b"")


def outcome(answer: bytes) -> str:
    """"upstream", "queued in <room>" or the status code of another answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1:2]
    code = status[0].decode() if status else "none"
    if body == b"upstream":
        return "upstream"
    if code == "200" and body.startswith(b"{"):
        answer = orjson.loads(body)
        if "state" in answer:
            return f"queued in {answer['room']}"
    return code


class Attack:
    """Sends raw requests, each with a new visitor's cookie (an idle room lets such a
    visitor straight through), and counts who reached the upstream."""

    def __init__(self, port: int, upstream: SocketUpstream) -> None:
        self.port = port
        self.upstream = upstream
        self.passes = Passes([KEY])
        self.outcomes: dict[str, int] = {}
        self.sent = 0
        self.reached: list[str] = []

    def send(self, method: str, target: str, headers: list[str]) -> str:
        cookie = f"Cookie: sluis_visitor={self.passes.visitor_cookie(new_visitor_id())}"
        before = self.upstream.connections
        kind = outcome(raw_request(self.port, request_bytes(method, target,
                                                            [*headers, cookie])))
        if self.upstream.connections != before:
            kind = "upstream"
            self.reached.append(f"{method} {target} {headers}")
        self.sent += 1
        self.outcomes[kind] = self.outcomes.get(kind, 0) + 1
        return kind


def figures(figure: Figure, attack: Attack) -> None:
    figure("raw requests sent", attack.sent)
    figure("outcomes", attack.outcomes)
    figure("reached the upstream", len(attack.reached))


def test_no_host_spelling_takes_a_rooms_paths_to_the_upstream(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    with SocketUpstream().running() as upstream, gateway(
            redis_url, tmp_path, ROOMS, SLUIS_BACKEND=upstream.url) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        attack = Attack(port, upstream)
        for host in HOSTS:
            headers = host(port) if callable(host) else host
            for path in KAMPEN_PATHS:
                for method in ("GET", "POST"):
                    attack.send(method, path, headers)
        figures(figure, attack)
        # The controls: the same gateway does let the idle room's and the passthrough
        # room's own requests through, does queue kampen's own, and answers its own
        # health checks whatever the Host.
        control = Attack(port, upstream)
        assert control.send("GET", "/over", ["Host: kampen.stad.be"]) == "upstream"
        assert control.send("GET", "/over-ons", ["Host: info.stad.be"]) == "upstream"
        assert control.send("GET", "/kampen/boek", ["Host: kampen.stad.be"]) == (
            "queued in kampen")
        for host in ("10.1.2.3", "evil.example", f"127.0.0.1:{port}", ""):
            for path in ("/_sluis/livez", "/_sluis/readyz"):
                assert control.send("GET", path, [f"Host: {host}"]) == "200", (host, path)
    assert not attack.reached, attack.reached[:10]


def test_no_path_spelling_escapes_its_room(redis_url: str, tmp_path: Path,
                                          figure: Figure) -> None:
    with SocketUpstream().running() as upstream, gateway(
            redis_url, tmp_path, ROOMS, SLUIS_BACKEND=upstream.url) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        attack = Attack(port, upstream)
        for path in PATHS:
            for method in ("GET", "POST"):
                attack.send(method, path, ["Host: kampen.stad.be"])
        figures(figure, attack)
        # Spellings that name nothing of kampen's stay with the idle room, and kampen's
        # own in any case are queued there.
        control = Attack(port, upstream)
        for path in ("/over", "/over/a%20b", "/static/app.css", "/.well-known/x",
                     "/kampenx", "/over;x=1", "/x/kampen"):
            assert control.send("GET", path, ["Host: kampen.stad.be"]) == "upstream", path
        for path in ("/kampen/boek", "/KAMPEN/Boek", "/kampen/./boek", "//kampen",
                     "/over/../kampen", "/%6bampen/boek", "/kampen/boek;x=1"):
            assert control.send("GET", path, ["Host: KAMPEN.stad.be."]) == (
                "queued in kampen"), path
    assert not attack.reached, attack.reached[:10]
