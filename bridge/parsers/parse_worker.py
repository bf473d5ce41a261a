"""One parser process that can be stopped: the bridge's handle on it, and the loop it runs.

It is a fresh interpreter (`python -c`, which never runs the bridge's `__main__` again, as multiprocessing's
'spawn' and 'forkserver' would) in a session of its own, so Ctrl+C in the terminal is the bridge's alone. It
talks over two pipes, one pickled message each way per capture, and holds nothing else of the bridge's: no
key, no vault, no socket. It exits when the bridge closes its pipe, and if the bridge dies mid-parse, its
own alarm ends it soon after the bridge would have.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

#: What a worker sends instead of a parse when it ran out of its address space.
OUT_OF_MEMORY = "out of memory"
#: What a worker sends once it has imported the parsers (its start is not counted against a page's time).
READY = "ready"
#: How long a worker may take to start (a loaded machine may take seconds to import the parsers).
START_SECONDS = 60.0

_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding the `bridge` package


class WorkerProcess:
    def __init__(self, memory_bytes: int, alarm_seconds: float) -> None:
        child_reads, to_child = os.pipe()  # (read end, write end)
        from_child, child_writes = os.pipe()
        # None of the bridge's own settings (the vault's folder, a passphrase file's path) is passed on.
        env = {k: v for k, v in os.environ.items() if not k.startswith("KINCHART_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from bridge.parsers.parse_worker import main; main()",
                    str(child_reads),
                    str(child_writes),
                    str(memory_bytes),
                    str(alarm_seconds),
                ],
                pass_fds=(child_reads, child_writes),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # a traceback could quote a page
                env=env,
                start_new_session=True,
            )
        except BaseException:
            for fd in (child_reads, to_child, from_child, child_writes):
                os.close(fd)
            raise
        os.close(child_reads)
        os.close(child_writes)
        self._send = Connection(to_child, readable=False)
        self._recv = Connection(from_child, writable=False)
        self._ready = False

    def wait_ready(self) -> bool:
        """Wait until it has started; False if it did not (it died, or took over START_SECONDS)."""
        if not self._ready:
            try:
                self._ready = self._recv.poll(START_SECONDS) and self._recv.recv() == READY
            except (EOFError, OSError):
                return False
        return self._ready

    def send(self, message: Any) -> None:
        self._send.send(message)

    def poll(self, seconds: float) -> bool:
        return self._recv.poll(seconds)

    def recv(self) -> Any:
        return self._recv.recv()

    def stop(self, kill: bool = False) -> None:
        """Kill it, or let it finish (it exits when its pipe closes); either way, reap it."""
        if kill:
            self.process.kill()
        self._send.close()
        try:
            self.process.wait(timeout=None if kill else 5)
        except subprocess.TimeoutExpired:  # pragma: no cover - it ignored the closed pipe
            self.process.kill()
            self.process.wait()
        self._recv.close()


def main() -> None:
    """The worker: parse each capture received until the pipe from the bridge closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reads, writes, memory_bytes, alarm_seconds = (
        int(sys.argv[1]),
        int(sys.argv[2]),
        int(sys.argv[3]),
        float(sys.argv[4]),
    )
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not on this platform
        pass
    from bridge.parsers.budget import parse_inline

    inbox = Connection(reads, writable=False)
    outbox = Connection(writes, readable=False)
    outbox.send(READY)
    while True:
        try:
            url, title, frames = inbox.recv()
        except (EOFError, OSError):
            return
        capture = {"url": url, "title": title, "frames": [{"url": u, "html": h} for u, h in frames]}
        # The bridge kills a parse at its budget; this alarm (default action: terminate) is for when the
        # bridge is gone and cannot.
        signal.setitimer(signal.ITIMER_REAL, alarm_seconds)
        try:
            reply: Any = parse_inline(capture)
        except MemoryError:
            reply = OUT_OF_MEMORY
        signal.setitimer(signal.ITIMER_REAL, 0)
        outbox.send(reply)
        if reply == OUT_OF_MEMORY:
            return  # a heap that ran out is not worth keeping
