"""Sluis: a virtual waiting room and admission-control gateway."""

__version__ = "0.1.0"
