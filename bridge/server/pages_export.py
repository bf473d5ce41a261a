"""The dashboard's export page. (Being written: see bridge/exports/.)"""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
