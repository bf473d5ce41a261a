"""Jinja2 templates with autoescaping everywhere: captured content is hostile input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from bridge import __version__
from bridge.presentation.filters import FILTERS

from .sessions import DashboardPage

TEMPLATES = Path(__file__).parent / "templates"
ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # every template, whatever its name
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


ENV.filters.update(FILTERS)


def render(name: str, status: int = 200, **context: Any) -> web.Response:
    """A dashboard page; its links get the session's prefix on the way out (`sessions.session_urls`)."""
    context.setdefault("version", __version__)
    html = ENV.get_template(name).render(**context)
    return DashboardPage(text=html, status=status, content_type="text/html", charset="utf-8")
