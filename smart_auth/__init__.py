"""Placeholder package: see the issue tracker for its planned scope."""
