"""A real `kinchart serve` process on loopback, for tests that kill it, restart it or drive it from a browser."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from api_client import DEFAULT_ORIGIN, ApiClient
from api_client import pair as api_pair
from conftest import REPO

PASSPHRASE = "synthetic test passphrase"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveBridge:
    def __init__(self, tmp: Path, port: int | None = None, unlocked: bool = True) -> None:
        self.vault_dir = tmp / "vault"
        self.port = port or free_port()
        self.passfile = tmp / "passphrase.txt"
        self.passfile.write_text(PASSPHRASE)
        self.unlocked = unlocked
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, "KINCHART_VAULT": str(self.vault_dir), "KINCHART_KDF": "fast"}
        if not (self.vault_dir / "kinchart.db").exists():
            subprocess.run(
                [sys.executable, "-m", "bridge", "init"],
                check=True,
                cwd=REPO,
                capture_output=True,
                env={**self.env, "KINCHART_PASSPHRASE_FILE": str(self.passfile)},
            )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveBridge:
        env = dict(self.env)
        if self.unlocked:
            env["KINCHART_PASSPHRASE_FILE"] = str(self.passfile)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", "--port", str(self.port)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"bridge exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}"
                )
            try:
                self.request("GET", "/api/ping")
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("bridge did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: ApiClient | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, dict[str, Any]]:
        """A plain request, or (with `token`, the client `pair` gave) one signed and sealed as the extension
        makes it."""
        if token is not None:
            status, answer = token.call(self.base, method, path, body, timeout)
            return status, answer if isinstance(answer, dict) else {}
        h = {"X-Kinchart-Client": "test/1", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, headers=h, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def pair(self, origin: str = DEFAULT_ORIGIN) -> ApiClient:
        """A client paired with this bridge from `origin` (every API call but ping needs an extension Origin)."""
        from bridge.server.pairing import Pairing

        return api_pair(self.base, Pairing(self.vault_dir).new_code(), origin)
