"""`make bench`: the gateway measured against a bare Starlette app in the same run."""
