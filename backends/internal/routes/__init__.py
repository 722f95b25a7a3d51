"""The engine's HTTP routes: parents' pages, the JSON API, operators' pages, health."""
