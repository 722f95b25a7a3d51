"""Attacks on a gateway with no balancer in front, replayed on real processes over raw
sockets: unread forms, slow and endless request heads, connection floods, a forged Host,
and what readiness and metrics tell a stranger. Each test records what the gateway
process held (RSS from /proc, its open files) and how each connection ended."""

from __future__ import annotations

import os
import re
import resource
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from gateway.common.net import free_port
from gateway.passes import Passes, new_visitor_id
from harness.processes import ROOT, stop, wait_http
from harness.sluis import sluis_env
from tests.backends.support import KEY, rss_bytes
from tests.reliability.conftest import Figure
from tests.reliability.support import SocketUpstream

MB = 1024 * 1024


@contextmanager
def gateway_process(redis_url: str, tmp: Path, nofile: int | None = None, **extra: str
                    ) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`python -m gateway.cli gateway` on a free port; with `nofile`, under that limit
    of open files (a small copy of a machine's 20,000)."""
    env = sluis_env(redis_url, tmp, **extra)
    port = free_port()

    def limit_files() -> None:
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with open(tmp / f"gateway-{port}.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "gateway", "--port", str(port)], env=env,
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=limit_files if nofile else None)
        try:
            wait_http(f"http://127.0.0.1:{port}/_sluis/livez")
            yield port, proc
        finally:
            stop(proc)


def readable(s: socket.socket) -> bool:
    """Data, an end or an error waits on `s` (poll: the test holds fds above 1,024)."""
    poller = select.poll()
    poller.register(s, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def status_of(answer: bytes) -> str:
    return answer.split(b" ")[1].decode() if answer.startswith(b"HTTP/1.") else "closed"


def read_answer(s: socket.socket, limit: int = 65536) -> bytes:
    out = b""
    try:
        while len(out) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                break
    except OSError:
        pass
    return out


def send_flood(port: int, head: bytes, piece: bytes, total: int, seconds: float = 60.0
               ) -> tuple[str, int]:
    """An attacker's request: `head`, then `piece` again and again up to `total` bytes
    (or for `seconds`), without waiting for an answer: it stops early only when one
    comes or the connection is cut. The gateway's status ("closed" when it cut the
    connection without one) and the bytes it was sent."""
    deadline = time.monotonic() + seconds

    def pieces() -> Iterator[bytes]:
        given = 0
        while given < total and time.monotonic() < deadline:
            yield piece
            given += len(piece)

    return send_body(port, head, pieces(), timeout=10)


class Peak:
    """The highest value `measure` gave while the block ran, sampled every 20 ms."""

    def __init__(self, measure: Callable[[], int]) -> None:
        self.measure = measure
        self.start = measure()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.peak = max(self.peak, self.measure())
            except OSError:
                return

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.2)
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.measure())

    @property
    def grew_mb(self) -> float:
        return round((self.peak - self.start) / MB, 1)


def spooled_bytes(pid: int, folder: Path) -> int:
    """Bytes in files under `folder` that the process holds open (deleted or not)."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(str(folder)):
                total += os.stat(f"/proc/{pid}/fd/{fd}").st_size
        except OSError:
            continue
    return total


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# -- 6: the dashboard's forms ---------------------------------------------------------


def multipart(boundary: bytes, parts: int, part_bytes: int, filename: bool) -> Iterator[bytes]:
    """A multipart body, produced piece by piece: `parts` parts of `part_bytes` each."""
    block = b"x" * MB
    for i in range(parts):
        disposition = (b'form-data; name="f%d"; filename="f%d.bin"' % (i, i) if filename
                       else b'form-data; name="f%d"' % i)
        yield b"--" + boundary + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n"
        left = part_bytes
        while left:
            yield block[:min(left, MB)]
            left -= min(left, MB)
        yield b"\r\n"
    yield b"--" + boundary + b"--\r\n"


def send_body(port: int, head: bytes, pieces: Iterator[bytes], timeout: float = 30
              ) -> tuple[str, int]:
    """`head`, then each of `pieces` unless an answer came already (or the connection was
    cut): the gateway's status and the bytes it was sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(head)
            for piece in pieces:
                if readable(s):
                    break
                s.sendall(piece)
                sent += len(piece)
        except OSError:
            pass
        return status_of(read_answer(s)), sent


def test_dashboard_forms_are_refused_before_they_are_read(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    with gateway_process(redis_url, tmp_path, TMPDIR=str(spool)) as (port, proc):
        base = f"http://127.0.0.1:{port}"
        page = httpx.get(base + "/_sluis/admin/")
        login_cookie = page.cookies["sluis_admin_login"]
        nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
        assert nonce
        cookie = b"Cookie: sluis_admin_login=" + login_cookie.encode() + b"\r\n"
        boundary = b"sluisboundary0123456789"

        def multipart_head(length: int) -> bytes:
            return (b"POST /_sluis/admin/login HTTP/1.1\r\nHost: x\r\n" + cookie +
                    b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n"
                    b"Content-Length: %d\r\n\r\n" % length)

        fields = sum(map(len, multipart(boundary, 500, MB, False)))
        with Peak(lambda: rss_bytes(proc.pid)) as rss_fields:
            fields_status, fields_sent = send_body(
                port, multipart_head(fields), multipart(boundary, 500, MB, False))
        file_size = sum(map(len, multipart(boundary, 1, 300 * MB, True)))
        with Peak(lambda: spooled_bytes(proc.pid, spool)) as disk, \
                Peak(lambda: rss_bytes(proc.pid)) as rss_file:
            file_status, file_sent = send_body(
                port, multipart_head(file_size), multipart(boundary, 1, 300 * MB, True))
        # A plain form of 200 fields of 1 MB, chunked, so that no length warns the gateway.
        chunk = b"a=" + b"b" * (MB - 3) + b"&"
        chunked_head = (b"POST /_sluis/admin/login HTTP/1.1\r\nHost: x\r\n" + cookie +
                        b"Content-Type: application/x-www-form-urlencoded\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n")
        with Peak(lambda: rss_bytes(proc.pid)) as rss_chunked:
            chunked_status, chunked_sent = send_flood(
                port, chunked_head, b"%x\r\n" % len(chunk) + chunk + b"\r\n", 200 * MB)
        # A form just over the limit, and changes without a session: each a clear answer.
        jar = {"cookie": f"sluis_admin_login={login_cookie}"}
        over = httpx.post(base + "/_sluis/admin/login", headers=jar,
                          data={"nonce": "n", "token": "t" * 9000})
        anonymous = [httpx.post(base + path, data={"csrf": "x"}).status_code
                     for path in ("/_sluis/admin/logout", "/_sluis/admin/rooms/default")]
        # The sign-in form still works.
        signed_in = httpx.post(base + "/_sluis/admin/login", headers=jar,
                               data={"nonce": nonce.group(1), "name": "An",
                                     "token": "process-test-admin-token"})
        alive = httpx.get(base + "/_sluis/livez").status_code
    figure("500 x 1 MB fields to the sign-in form", {
        "status": fields_status, "sent_mb": round(fields_sent / MB),
        "rss_mb": f"{rss_fields.start // MB} -> peak {rss_fields.peak // MB}"})
    figure("one 300 MB file part", {
        "status": file_status, "sent_mb": round(file_sent / MB),
        "spooled_to_disk_mb": round(disk.peak / MB, 1),
        "rss_mb": f"{rss_file.start // MB} -> peak {rss_file.peak // MB}"})
    figure("200 MB urlencoded, chunked", {
        "status": chunked_status, "sent_mb": round(chunked_sent / MB),
        "rss_mb": f"{rss_chunked.start // MB} -> peak {rss_chunked.peak // MB}"})
    figure("9 KB form; anonymous logout and change; a real sign-in",
           [over.status_code, *anonymous, signed_in.status_code])
    assert fields_status in ("415", "closed") and file_status in ("415", "closed")
    assert chunked_status in ("413", "closed")
    assert rss_fields.grew_mb < 40 and rss_file.grew_mb < 40 and rss_chunked.grew_mb < 40
    assert disk.peak == 0
    assert over.status_code == 413 and anonymous == [303, 303]
    assert signed_in.status_code == 303 and alive == 200


# -- 7: slow heads, idle connections, connection floods, endless header lines ----------


def closed_yet(s: socket.socket) -> bool:
    """True once the gateway has ended the connection (an answer and FIN, or a reset)."""
    try:
        if not readable(s):
            return False
        data = s.recv(65536, socket.MSG_PEEK)
        if not data:
            return True
        s.recv(65536)
        return data.startswith(b"HTTP/1.1 408") or closed_yet(s)
    except OSError:
        return True


def test_slow_and_idle_connections_are_closed_on_time(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    timeout, idle = 2, 1
    kinds = ("silent", "slow head", "stalled body", "idle keep-alive")
    with gateway_process(redis_url, tmp_path, SLUIS_HEADER_TIMEOUT_SECONDS=str(timeout),
                         SLUIS_IDLE_TIMEOUT_SECONDS=str(idle)) as (port, _proc):
        login = httpx.get(f"http://127.0.0.1:{port}/_sluis/admin/").cookies[
            "sluis_admin_login"].encode()
        started = time.monotonic()
        conns: list[tuple[str, socket.socket]] = []
        for kind in kinds:
            for _ in range(50 if kind == "slow head" else 10):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                if kind == "slow head":
                    s.sendall(b"GET /inschrijven HTTP/1.1\r\nHost: x\r\n")
                elif kind == "stalled body":
                    # The sign-in form, which reads its body: 100 bytes announced, 6 sent.
                    s.sendall(b"POST /_sluis/admin/login HTTP/1.1\r\nHost: x\r\nCookie: "
                              b"sluis_admin_login=" + login + b"\r\nContent-Type: "
                              b"application/x-www-form-urlencoded\r\nContent-Length: 100"
                              b"\r\n\r\nnonce=")
                elif kind == "idle keep-alive":
                    s.sendall(b"GET /_sluis/livez HTTP/1.1\r\nHost: x\r\n\r\n")
                    assert read_answer(s).startswith(b"HTTP/1.1 200")
                conns.append((kind, s))
        closed_after: dict[int, float] = {}
        livez_during: list[int] = []
        watch = timeout + 4
        while time.monotonic() - started < watch:
            for i, (kind, s) in enumerate(conns):
                if i in closed_after:
                    continue
                if closed_yet(s):
                    closed_after[i] = time.monotonic() - started
                elif kind == "slow head":
                    try:  # a slowloris: one more header line now and then, never the end
                        s.sendall(b"X-Slow-%d: x\r\n" % int(time.monotonic() * 10))
                    except OSError:
                        closed_after[i] = time.monotonic() - started
            livez_during.append(httpx.get(f"http://127.0.0.1:{port}/_sluis/livez",
                                          timeout=5).status_code)
            time.sleep(0.25)
        for _, s in conns:
            s.close()
    still_open = {kind: sum(1 for i, (k, _) in enumerate(conns)
                            if k == kind and i not in closed_after) for kind in kinds}
    latest = {kind: round(max((closed_after[i] for i, (k, _) in enumerate(conns)
                               if k == kind and i in closed_after), default=0), 1)
              for kind in kinds}
    figure(f"still open after {watch} s (header timeout {timeout} s, idle {idle} s)",
           still_open)
    figure("last closed, seconds after the start", latest)
    figure("livez while they were open", sorted(set(livez_during)))
    assert still_open == dict.fromkeys(kinds, 0)
    assert max(latest.values()) <= timeout + 2
    assert set(livez_during) == {200}


def test_a_flood_of_half_sent_requests_leaves_room_for_new_ones(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    """20,030 half-sent requests once used up a 20,000-file limit; here the same at a
    1,024-file limit, with the connection cap that limit gives by default."""
    flood = 1_100
    with gateway_process(redis_url, tmp_path, nofile=1024) as (port, proc):
        base = f"http://127.0.0.1:{port}"
        conns = []
        refused = 0
        for _ in range(flood):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"GET /inschrijven HTTP/1.1\r\nHost: x\r\nX-Half: ")
                conns.append(s)
            except OSError:
                refused += 1
        time.sleep(0.5)
        files_during = open_files(proc.pid)
        answers = []
        for _ in range(5):
            try:
                answers.append(str(httpx.get(base + "/_sluis/livez", timeout=5).status_code))
            except httpx.HTTPError as exc:
                answers.append(type(exc).__name__)
        still_open = sum(1 for s in conns if not closed_yet(s))
        for s in conns:
            s.close()
        time.sleep(0.5)
        after = httpx.get(base + "/_sluis/livez", timeout=5).status_code
    figure("half-sent requests", {"opened": len(conns), "refused": refused,
                                  "held by the gateway": still_open})
    figure("gateway's open files during (limit 1,024)", files_during)
    figure("livez during the flood", answers)
    assert answers == ["200"] * 5 and after == 200
    assert files_during < 1024 - 100 and still_open <= 1024 - 256


def test_endless_header_lines_are_cut_off_at_the_head_limit(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    with gateway_process(redis_url, tmp_path) as (port, proc):
        head = b"GET /inschrijven HTTP/1.1\r\nHost: x\r\nX-Long: "
        results: list[tuple[str, int]] = []

        def attack() -> None:
            results.append(send_flood(port, head, b"l" * MB, 200 * MB, seconds=30))

        with Peak(lambda: rss_bytes(proc.pid)) as rss:
            threads = [threading.Thread(target=attack) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        alive = httpx.get(f"http://127.0.0.1:{port}/_sluis/livez").status_code
    figure("4 connections x 200 MB header line", {
        "statuses": sorted(r[0] for r in results),
        "sent_mb": sorted(round(r[1] / MB) for r in results),
        "rss_mb": f"{rss.start // MB} -> peak {rss.peak // MB}"})
    assert all(status in ("431", "closed") for status, _ in results)
    assert all(sent <= 8 * MB for _, sent in results)
    assert rss.grew_mb < 40 and alive == 200


# -- 8: the visitor's Host, readiness, metrics -----------------------------------------


class RedirectingUpstream(SocketUpstream):
    """A TCP upstream that answers every request with a redirect, and a page with a
    link, both to its own absolute address (as sites do)."""

    read_timeout = 2.0

    def answer(self) -> bytes:
        body = f'<a href="{self.url}/after">on</a>'.encode()
        return (b"HTTP/1.1 302 Found\r\nLocation: " + self.url.encode() +
                b"/after\r\nContent-Type: text/html\r\nContent-Length: %d"
                b"\r\nConnection: close\r\n\r\n" % len(body) + body)


def test_a_forged_host_is_never_written_into_redirects_or_pages(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    passes = Passes([KEY])
    visitor = new_visitor_id()
    jar = (b"Cookie: sluis_visitor=" + passes.visitor_cookie(visitor).encode() +
           b"; sluis_admission=" + passes.admission.issue("default", visitor, 900).encode())
    hosts = [b'evil.example"><x', b"evil.example/<script>", b"a b", b"sluis.test:8080"]
    seen: dict[str, tuple[str, str]] = {}
    with RedirectingUpstream().running() as upstream, gateway_process(
            redis_url, tmp_path, SLUIS_BACKEND=upstream.url) as (port, _):
        for host in hosts:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET /before HTTP/1.1\r\nHost: " + host + b"\r\n" + jar +
                          b"\r\nConnection: close\r\n\r\n")
                answer = b""
                while chunk := s.recv(65536):
                    answer += chunk
            location = re.search(rb"\r\nlocation: ([^\r]*)", answer, re.IGNORECASE)
            link = re.search(rb'href="([^"]*)"', answer)
            seen[host.decode()] = (location.group(1).decode() if location else "",
                                   link.group(1).decode() if link else "")
    figure("Host -> (Location, link in the page)", seen)
    for host, (location, link) in seen.items():
        if host == "sluis.test:8080":
            assert (location, link) == ("http://sluis.test:8080/after",) * 2
        else:
            assert "evil" not in location + link and '"' not in location
            assert location == upstream.url + "/after"


def test_readiness_and_metrics_tell_a_stranger_nothing(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    stranger = {"x-forwarded-for": "203.0.113.7"}
    with gateway_process(dead, tmp_path, SLUIS_TRUSTED_PROXIES="127.0.0.1") as (port, _):
        base = f"http://127.0.0.1:{port}"
        ready = httpx.get(base + "/_sluis/readyz")
        from_stranger = httpx.get(base + "/_sluis/metrics", headers=stranger)
        from_here = httpx.get(base + "/_sluis/metrics")
    with gateway_process(redis_url, tmp_path, SLUIS_METRICS_TOKEN="scrape-token-0123") as (
            port, _):
        base = f"http://127.0.0.1:{port}"
        no_token = httpx.get(base + "/_sluis/metrics")
        wrong = httpx.get(base + "/_sluis/metrics", headers={"authorization": "Bearer x"})
        right = httpx.get(base + "/_sluis/metrics",
                          headers={"authorization": "Bearer scrape-token-0123"})
    figure("readyz with Redis down", [ready.status_code, ready.text])
    figure("metrics: a visitor through a trusted proxy, the machine itself",
           [from_stranger.status_code, from_here.status_code])
    figure("metrics with a token: none, wrong, right",
           [no_token.status_code, wrong.status_code, right.status_code])
    assert ready.status_code == 503 and ready.json() == {"status": "unavailable",
                                                         "redis": "unreachable"}
    assert dead.rsplit(":", 1)[1].split("/")[0] not in ready.text
    assert from_stranger.status_code == 403 and "sluis_" not in from_stranger.text
    assert from_here.status_code == 200 and "sluis_build_info" in from_here.text
    assert [no_token.status_code, wrong.status_code, right.status_code] == [401, 401, 200]
    assert "sluis_build_info" in right.text
