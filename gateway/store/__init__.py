"""The store: the only code that talks to Redis."""

from gateway.store.errors import StoreUnavailable
from gateway.store.redis_store import (
    AdmitResult,
    Code,
    NotLeader,
    Place,
    RoomSnapshot,
    RoomView,
    Store,
    UnfairChange,
)

__all__ = ["AdmitResult", "Code", "NotLeader", "Place", "RoomSnapshot", "RoomView", "Store",
           "StoreUnavailable", "UnfairChange"]
