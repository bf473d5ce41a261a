"""A dashboard session over real HTTP: unlock with the passphrase, then GET pages and POST forms with
the CSRF token, exact Origin and Sec-Fetch-Site a browser would send, inside the session's address
prefix (`/s/<secret>/...`) the unlock redirect gave, as a browser following the dashboard's links does."""

from __future__ import annotations

import re
from typing import Any

import aiohttp


class DashboardClient:
    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session, self.port = session, port
        self.origin = f"http://127.0.0.1:{port}"
        self.csrf = ""
        self.prefix = ""  # "/s/<secret>" once logged in

    def url(self, path: str) -> str:
        """A dashboard path inside this session's prefix (the open doors and the API stay outside)."""
        outside = ("/unlock", "/setup", "/static/", "/api/", "/s/")
        return self.origin + (path if path.startswith(outside) else self.prefix + path)

    def _headers(self, post: bool) -> dict[str, str]:
        h = {"Host": f"127.0.0.1:{self.port}"}
        if post:
            h.update({"Origin": self.origin, "Sec-Fetch-Site": "same-origin"})
        return h

    async def get(self, path: str) -> tuple[int, str]:
        async with self.session.get(self.url(path), headers=self._headers(False), allow_redirects=False) as r:
            text = await r.text()
            m = re.search(r'name="csrf" value="([^"]+)"', text)
            if m:
                self.csrf = m.group(1)
            return r.status, text

    async def post(self, path: str, data: dict[str, Any], follow: bool = False) -> tuple[int, str, str]:
        form = {"csrf": self.csrf, **data}
        async with self.session.post(
            self.url(path), data=form, headers=self._headers(True), allow_redirects=follow
        ) as r:
            return r.status, await r.text(), r.headers.get("Location", "")

    async def login(self, passphrase: str) -> None:
        await self.get("/unlock")
        status, _, location = await self.post("/unlock", {"passphrase": passphrase})
        assert status == 303 and re.fullmatch(r"/s/[\w-]{32}/", location), (status, location)
        self.prefix = location.rstrip("/")
