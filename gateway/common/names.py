"""What a room name and a visitor id may look like: the cookies, the admission token,
the personal links and the rooms file all check names against these."""

from __future__ import annotations

import re

# Lower case, digits, - and _; at most 63 characters (it goes into Redis keys and URLs).
ROOM_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# An opaque random id, URL-safe base64 (never personal data).
VISITOR_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
