"""The bridge listens on 127.0.0.1 only, and a taken port is a loud failure, never a silent move."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from live_bridge import LiveBridge


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux /proc/net/tcp")
def test_listens_on_loopback_only(tmp_path: Path) -> None:
    bridge = LiveBridge(tmp_path).start()
    try:
        assert bridge.proc is not None
        # /proc/net/tcp lists listening sockets (state 0A) by hex address: 0100007F is 127.0.0.1.
        port_hex = f"{bridge.port:04X}"
        rows = [ln.split() for ln in Path("/proc/net/tcp").read_text().splitlines()[1:]]
        rows += (
            [ln.split() for ln in Path("/proc/net/tcp6").read_text().splitlines()[1:]]
            if Path("/proc/net/tcp6").exists()
            else []
        )
        ours = [cols[1] for cols in rows if cols[3] == "0A" and cols[1].endswith(":" + port_hex)]
        assert ours == ["0100007F:" + port_hex]
        # Reaching it through another local address fails.
        other = socket.gethostbyname(socket.gethostname())
        if not other.startswith("127."):
            with socket.socket() as s:
                s.settimeout(2)
                assert s.connect_ex((other, bridge.port)) != 0
    finally:
        bridge.stop()


def test_taken_port_is_a_loud_failure(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        bridge = LiveBridge(tmp_path, port=port)
        proc = subprocess.run(
            [sys.executable, "-m", "bridge", "serve", "--port", str(port)],
            cwd=REPO,
            env={**bridge.env, "KINCHART_PASSPHRASE_FILE": str(bridge.passfile)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2
    assert f"Port {port}" in proc.stderr and "already in use" in proc.stderr
