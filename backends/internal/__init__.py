"""The internal booking engine: camps and swim slots that can never be overbooked."""
