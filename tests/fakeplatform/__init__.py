"""A test double of a hosted registration platform (an outside system Sluis cannot change)."""
