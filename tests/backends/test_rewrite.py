"""Rewriting the upstream's own addresses, in headers and in streamed bodies (pure)."""

from __future__ import annotations

import gzip
import zlib

from backends.rewrite import Rewriter, rewritable

PUBLIC = b"https://inschrijven.stad.be"
PAGE = (b'<a href="https://stad.kwandoo.be/kampen">x</a> <img src="//stad.kwandoo.be/a.png">'
        b' {"u":"https:\\/\\/stad.kwandoo.be\\/api"} https://stad.kwandoo.be.evil.test/ '
        b"https://stad.kwandoo.bestuff/ HTTPS://STAD.KWANDOO.BE:443/x end")
EXPECTED = (b'<a href="https://inschrijven.stad.be/kampen">x</a> '
            b'<img src="//inschrijven.stad.be/a.png"> {"u":"https:\\/\\/inschrijven.stad.be\\/api"}'
            b" https://stad.kwandoo.be.evil.test/ https://stad.kwandoo.bestuff/ "
            b"https://inschrijven.stad.be/x end")


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


def test_redirects_refresh_and_cookies_land_on_the_public_host() -> None:
    rw = Rewriter("https://stad.kwandoo.be/shop")
    assert rw.url(b"https://stad.kwandoo.be/shop/basket?x=1", PUBLIC) == PUBLIC + b"/basket?x=1"
    assert rw.url(b"/shop/basket", PUBLIC) == b"/basket"
    assert rw.url(b"https://elders.be/x", PUBLIC) == b"https://elders.be/x"
    assert rw.url(b"0; url=https://stad.kwandoo.be/shop/a", PUBLIC) == b"0; url=" + PUBLIC + b"/a"
    assert rw.set_cookie(b"s=1; Domain=.kwandoo.be; Path=/shop/; HttpOnly") == (
        b"s=1; Path=/; HttpOnly")
    with_domain = Rewriter("https://stad.kwandoo.be", cookie_domain="stad.be")
    assert with_domain.set_cookie(b"s=1; domain=stad.kwandoo.be; Secure") == (
        b"s=1; Domain=stad.be; Secure")


def test_only_text_types_are_rewritten() -> None:
    assert rewritable(b"text/html; charset=utf-8") and rewritable(b"application/javascript")
    assert not rewritable(b"image/png") and not rewritable(b"application/pdf")
    assert not rewritable(None)
