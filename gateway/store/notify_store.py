"""The store's part of e-mail to parents near the front: sign-ups and the worker's pass
over them (lua/notify_register.lua, lua/notify_pass.lua). Like the rest of the store,
callers get plain values or `StoreUnavailable`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from importlib import resources

from redis.commands.core import AsyncScript

from gateway.store.redis_store import NotLeader, Store, _text, _translate


def _source(name: str) -> str:
    lua = resources.files("gateway.store") / "lua"
    return (lua / "_prelude.lua").read_text(encoding="utf-8") + "\n" + (
        lua / f"{name}.lua").read_text(encoding="utf-8")


class Signed(IntEnum):
    """What became of a sign-up (lua/notify_register.lua)."""

    KEPT = 1
    FORGOTTEN = 2
    NO_PLACE = 0
    CLOSED = -1
    ALREADY_SENT = -2
    ADDRESS_LIMIT = -3


@dataclass(frozen=True, slots=True)
class Due:
    visitor: str
    signup: str  # gateway/notify.py: Signup.encode()
    turn: bool  # already admitted: it is their turn, not only near


@dataclass(frozen=True, slots=True)
class PassResult:
    due: list[Due]
    ended: int
    kept: int
    cleared: bool


class NotifyStore:
    """Sign-ups kept in the room's hash-tagged keys; scripts bound to the store's client."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.client = store.client
        self._register: AsyncScript = self.client.register_script(_source("notify_register"))
        self._pass: AsyncScript = self.client.register_script(_source("notify_pass"))

    @_translate
    async def sign_up(self, room: str, visitor: str, signup: str, address_key: str, *,
                      per_address: int, window_ms: int, max_keep_ms: int) -> Signed:
        """Keep `signup` for this waiting visitor (replacing an earlier one)."""
        k = self.store.keys(room)
        res = await self._register(
            keys=[k.settings, k.state, k.queue, k.prequeue, k.active, k.notify_addresses,
                  k.notify_watch, k.notify_by_address],
            args=["keep", visitor, signup, address_key, per_address, window_ms, max_keep_ms])
        return Signed(int(res))

    @_translate
    async def forget(self, room: str, visitor: str) -> Signed:
        """Delete this visitor's address if its message has not gone yet."""
        k = self.store.keys(room)
        res = await self._register(
            keys=[k.settings, k.state, k.queue, k.prequeue, k.active, k.notify_addresses,
                  k.notify_watch, k.notify_by_address],
            args=["forget", visitor, "", "", 0, 0, 0])
        return Signed(int(res))

    @_translate
    async def watched(self, room: str, start: int, count: int) -> list[str]:
        """`count` of the visitors who signed up, from rank `start`."""
        rows = await self.client.zrange(self.store.keys(room).notify_watch, start,
                                        start + count - 1)
        return [_text(v) or "" for v in rows]

    @_translate
    async def run_pass(self, room: str, worker: str, visitors: list[str], *, due_position: int,
                       hold_ms: int, per_minute: int) -> PassResult:
        """lua/notify_pass.lua over `visitors`; NotLeader when the lease is not ours."""
        k = self.store.keys(room)
        names = [k.settings, k.state, k.queue, k.prequeue, k.active, k.leader,
                 k.notify_addresses, k.notify_watch, k.notify_by_address, k.notify_sent]
        index: dict[str, int] = {}
        args: list[str | int] = [worker, due_position, hold_ms, per_minute]
        for visitor in visitors:
            bucket = k.seen(visitor)
            i = index.get(bucket)
            if i is None:
                names.append(bucket)
                i = index[bucket] = len(names)
            args += [visitor, i]
        res = await self._pass(keys=names, args=args)
        if int(res[0]) < 0:
            raise NotLeader("lease lost")
        due = [Due(_text(res[i]) or "", _text(res[i + 1]) or "", int(res[i + 2]) == 1)
               for i in range(3, len(res), 3)]
        return PassResult(due=due, ended=int(res[0]), kept=int(res[1]), cleared=bool(res[2]))
