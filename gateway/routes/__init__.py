"""What Sluis serves itself under /_sluis/."""
