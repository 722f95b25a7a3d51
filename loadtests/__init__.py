"""Rehearsing an opening: a Locust surge against a running Sluis, and its report."""
