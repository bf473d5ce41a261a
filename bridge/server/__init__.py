"""The bridge's HTTP server: the capture API for the extension and the dashboard for the caregiver."""

from .app import PortTaken, init_app, run

__all__ = ["PortTaken", "init_app", "run"]
