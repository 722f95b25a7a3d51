"""Rewriting the upstream's own addresses, in headers and in streamed bodies (pure)."""

from __future__ import annotations

import gzip
import zlib

import brotli

from backends.rewrite import Rewriter, decodable, rewritable

PUBLIC = b"https://inschrijven.stad.be"
PAGE = (b'<a href="https://stad.kwandoo.be/kampen">x</a>\n<img src="//stad.kwandoo.be/a.png">'
        b' {"u":"https:\\/\\/stad.kwandoo.be\\/api"}\nhttps://stad.kwandoo.be.evil.test/ '
        b"https://stad.kwandoo.bestuff/ HTTPS://STAD.KWANDOO.BE:443/x end\n"
        b"http://stad.kwandoo.be\n")
EXPECTED = (b'<a href="https://inschrijven.stad.be/kampen">x</a>\n'
            b'<img src="//inschrijven.stad.be/a.png"> {"u":"https:\\/\\/inschrijven.stad.be\\/api"}'
            b"\nhttps://stad.kwandoo.be.evil.test/ https://stad.kwandoo.bestuff/ "
            b"https://inschrijven.stad.be/x end\nhttps://inschrijven.stad.be\n")


def test_a_body_is_rewritten_the_same_however_it_is_cut_into_chunks() -> None:
    rw = Rewriter("https://stad.kwandoo.be")
    for size in range(1, len(PAGE) + 1):
        body = rw.body(PUBLIC, None)
        out = b"".join(body.feed(PAGE[i:i + size]) for i in range(0, len(PAGE), size))
        assert out + body.finish() == EXPECTED, size


def test_a_gzip_body_is_decoded_rewritten_and_sent_plain() -> None:
    rw = Rewriter("https://stad.kwandoo.be")
    packed = gzip.compress(PAGE * 1000)
    body = rw.body(PUBLIC, b"gzip")
    out = b"".join(body.feed(packed[i:i + 100]) for i in range(0, len(packed), 100))
    assert out + body.finish() == EXPECTED * 1000


def test_a_small_compressed_chunk_never_expands_all_at_once() -> None:
    rw = Rewriter("https://stad.kwandoo.be")
    bomb = zlib.compress(b"a" * 50_000_000)
    body = rw.body(PUBLIC, b"deflate")
    total = sum(len(body.feed(bomb[i:i + 4096])) for i in range(0, len(bomb), 4096))
    assert total + len(body.finish()) == 50_000_000


def test_a_chunk_that_ends_a_line_is_sent_whole() -> None:
    body = Rewriter("https://stad.kwandoo.be").body(PUBLIC, None)
    assert body.feed(b"data: https://stad.kwandoo.be/a\n\n") == (
        b"data: https://inschrijven.stad.be/a\n\n")
    assert body.feed(b"data: https://stad.kwandoo") == b""  # might go on as the host
    assert body.feed(b".be/b\n\n") == b"data: https://inschrijven.stad.be/b\n\n"


def test_a_brotli_body_is_decoded_in_bounded_steps() -> None:
    rw = Rewriter("https://stad.kwandoo.be")
    packed = brotli.compress(PAGE * 1000)
    body = rw.body(PUBLIC, b"br")
    out = b"".join(body.feed(packed[i:i + 100]) for i in range(0, len(packed), 100))
    assert out + body.finish() == EXPECTED * 1000
    bomb = brotli.compress(b"a" * 50_000_000)
    body = rw.body(PUBLIC, b"br")
    largest = total = 0
    for piece in body.decoder.pieces(bomb) if body.decoder else ():
        largest, total = max(largest, len(piece)), total + len(piece)
    assert total == 50_000_000 and largest < 4 * 1024 * 1024


def test_the_proxy_reads_gzip_deflate_and_br_and_no_other_encoding() -> None:
    assert all(decodable(e) for e in (None, b"identity", b"gzip", b"x-gzip", b"deflate", b"br"))
    assert not any(decodable(e) for e in (b"zstd", b"compress", b"gzip, br", b"x-unknown"))


def test_redirects_refresh_and_cookies_land_on_the_public_host() -> None:
    rw = Rewriter("https://stad.kwandoo.be/shop")
    assert rw.url(b"https://stad.kwandoo.be/shop/basket?x=1", PUBLIC) == PUBLIC + b"/basket?x=1"
    assert rw.url(b"/shop/basket", PUBLIC) == b"/basket"
    assert rw.url(b"/shop?page=2", PUBLIC) == b"/?page=2"
    assert rw.url(b"/shopping", PUBLIC) == b"/shopping"
    assert rw.header(b"refresh", b"5; URL='/shop/a'", PUBLIC) == b"5; URL='/a'"
    assert rw.header(b"refresh", b"0;https://stad.kwandoo.be/shop/b", PUBLIC) == (
        b"0;" + PUBLIC + b"/b")
    assert rw.url(b"https://elders.be/x", PUBLIC) == b"https://elders.be/x"
    assert rw.url(b"0; url=https://stad.kwandoo.be/shop/a", PUBLIC) == b"0; url=" + PUBLIC + b"/a"
    assert rw.set_cookie(b"s=1; Domain=.kwandoo.be; Path=/shop/; HttpOnly") == (
        b"s=1; Path=/; HttpOnly")
    with_domain = Rewriter("https://stad.kwandoo.be", cookie_domain="stad.be")
    assert with_domain.set_cookie(b"s=1; domain=stad.kwandoo.be; Secure") == (
        b"s=1; Domain=stad.be; Secure")


def test_a_cookie_domain_naming_the_upstream_or_its_parent_is_rewritten_and_others_stay() -> None:
    rw = Rewriter("https://stad.kwandoo.be", own_origin="https://winkel.stad.example")
    for domain in (b"stad.kwandoo.be", b".kwandoo.be", b"STAD.Kwandoo.BE", b"winkel.stad.example",
                   b"stad.example"):
        assert rw.set_cookie(b"s=1; Domain=" + domain + b"; Secure") == b"s=1; Secure", domain
    for domain in (b"inschrijven.stad.be", b"ndoo.be", b"andere.kwandoo.be"):
        cookie = b"s=1; Domain=" + domain + b"; Secure"
        assert rw.set_cookie(cookie) == cookie, domain
    public = Rewriter("https://stad.kwandoo.be", cookie_domain="stad.be")
    assert public.set_cookie(b"s=1; Domain=kwandoo.be") == b"s=1; Domain=stad.be"
    assert public.set_cookie(b"s=1; Domain=elders.be") == b"s=1; Domain=elders.be"


def test_security_policies_and_links_name_the_public_host() -> None:
    rw = Rewriter("https://stad.kwandoo.be/shop")
    policy = (b"default-src 'self' https://stad.kwandoo.be; img-src stad.kwandoo.be:443 "
              b"*.kwandoo.be https://cdn.example/stad.kwandoo.be; "
              b"report-uri https://stad.kwandoo.be/shop/csp")
    assert rw.header(b"content-security-policy", policy, PUBLIC) == (
        b"default-src 'self' https://inschrijven.stad.be; img-src inschrijven.stad.be "
        b"*.kwandoo.be https://cdn.example/stad.kwandoo.be; "
        b"report-uri https://inschrijven.stad.be/csp")
    assert rw.header(b"content-security-policy-report-only", b"img-src stad.kwandoo.be",
                     PUBLIC) == b"img-src inschrijven.stad.be"
    link = (b"</shop/a.css>; rel=preload, <https://stad.kwandoo.be/shop/b.js>; rel=preload, "
            b"<https://cdn.example/c.js>; rel=preload")
    assert rw.header(b"link", link, PUBLIC) == (
        b"</a.css>; rel=preload, <https://inschrijven.stad.be/b.js>; rel=preload, "
        b"<https://cdn.example/c.js>; rel=preload")


def test_every_textual_type_is_rewritten_and_nothing_else() -> None:
    for mime in (b"text/html; charset=utf-8", b"text/calendar", b"text/plain", b"text/csv",
                 b"text/event-stream", b"TEXT/CSS", b"application/javascript",
                 b"application/ecmascript", b"application/json", b"application/vnd.api+json",
                 b"application/problem+json", b"application/manifest+json",
                 b"application/ld+json", b"application/xml", b"application/rss+xml",
                 b"image/svg+xml", b"application/x-ndjson"):
        assert rewritable(mime), mime
    for mime in (b"image/png", b"application/pdf", b"application/octet-stream", b"font/woff2",
                 b"application/zip", b"video/mp4", b""):
        assert not rewritable(mime), mime
    assert not rewritable(None)
