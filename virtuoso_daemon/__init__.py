"""Virtuoso: crypto market intelligence daemon."""

__version__ = "0.1.0"
