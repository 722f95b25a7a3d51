"""A real Django ticket shop behind the proxy, and a surge of parents against it."""
