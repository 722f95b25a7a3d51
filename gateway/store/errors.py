"""The one error a Redis failure becomes at the store boundary."""


class StoreUnavailable(RuntimeError):
    """Redis cannot be reached (down, restarting, failing over, too slow)."""
