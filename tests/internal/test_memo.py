"""The bounded memo: holds at most `limit` entries, forgets all at once when full."""

from __future__ import annotations

import pytest

from gateway.common.memo import Memo


def test_a_memo_never_holds_more_than_its_limit_and_keeps_what_fits() -> None:
    memo: Memo[str, int] = Memo(3)
    for i in range(10):
        assert memo.put(f"k{i}", i) == i
        assert len(memo) <= 3
        assert memo.get(f"k{i}") == i
    assert memo.get("k0") is None  # forgotten when it filled up


def test_updating_a_known_key_when_full_forgets_nothing() -> None:
    memo: Memo[str, int] = Memo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    memo.put("a", 3)
    assert dict(memo) == {"a": 3, "b": 2}


def test_a_memo_without_room_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Memo(0)
