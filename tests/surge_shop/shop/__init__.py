"""The ticket shop: a small Django site that knows nothing of Sluis (default settings,
CSRF and sessions on), as a city's real shop would be."""
