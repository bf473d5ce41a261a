"""Kinchart's local bridge: vault, parsers, family record, server and command line."""

__version__ = "0.1.0"
