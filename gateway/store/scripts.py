"""The Lua scripts, loaded from package files and registered once per client."""

from __future__ import annotations

from importlib import resources

from redis.commands.core import AsyncScript

from gateway.store.connect import Client

# Scripts that use the shared helpers get them placed before their body.
_WITH_PRELUDE = ("join", "status", "admit", "expire", "renew", "draw", "configure",
                 "inventory")


def source(name: str) -> str:
    lua = resources.files("gateway.store") / "lua"
    body = (lua / f"{name}.lua").read_text(encoding="utf-8")
    if name in _WITH_PRELUDE:
        return (lua / "_prelude.lua").read_text(encoding="utf-8") + "\n" + body
    return body


class Scripts:
    """Each script bound to one client: EVALSHA, loading the script again on NOSCRIPT."""

    def __init__(self, client: Client) -> None:
        def load(name: str) -> AsyncScript:
            return client.register_script(source(name))

        self.join = load("join")
        self.status = load("status")
        self.admit = load("admit")
        self.expire = load("expire")
        self.renew = load("renew")
        self.draw = load("draw")
        self.configure = load("configure")
        self.end_session = load("end_session")
        self.lease = load("lease")
        self.outcomes = load("outcomes")
        self.breaker = load("breaker")
        self.drain = load("drain")
        self.sample = load("sample")
        self.view = load("view")
        self.inventory = load("inventory")
        self.networks = load("networks")
