"""A time and size budget for parsing one capture, so that no page can hold a save (or every other save) for
long.

Lexbor, the HTML tree builder under every parser, has inputs on which its work grows with the square of their
size: 200,000 distinct attributes on one element took 135 s, 10,000 unknown elements followed by 10,000
headings 1 s; the nesting guard (`nesting.py`) bounds only the nesting of the tags it lists. So:

- a capture whose HTML is larger than `Budget.max_chars` is not parsed at all;
- a small one (at most `Budget.inline_chars`, every fixture page but ten) is parsed in the calling thread:
  the worst case known at that size takes about 0.1 s, less than a process hop would add to a bulk import;
- any other is parsed in a worker process (`parse_worker.py`: a fresh interpreter, never a fork of the
  multi-threaded bridge) that is killed once it has worked `Budget.seconds` on it, or it runs out of its
  address space (`Budget.memory_bytes`). A small pool of them serves several callers at once; a busy or
  killed one never delays another caller while the pool has room, and a killed one is replaced.

A page over budget is kept as a document: a generic `document` record with the text a bounded, linear
method finds, and a warning and error that give the reason. The capture itself is stored by the caller
either way.
"""

from __future__ import annotations

import atexit
import html as html_lib
import logging
import os
import re
import threading
from dataclasses import dataclass, replace
from typing import Any

from bridge.records import Document, ParseResult

from . import generic
from .nesting import flatten_capture
from .page import Page
from .parse_worker import OUT_OF_MEMORY, WorkerProcess
from .registry import ParserInfo, parse_page

log = logging.getLogger(__name__)

Parsed = tuple[ParserInfo, ParseResult, str | None]


@dataclass(frozen=True)
class Budget:
    #: How long a worker may parse one capture before it is killed.
    seconds: float = 10.0
    #: Captures with more HTML (characters, over all frames) are not parsed: 4 times the 2 MB page of
    #: bench/roundtrip.py, half the largest request body the bridge accepts.
    max_chars: int = 16 * 1024 * 1024
    #: Captures with at most this much HTML are parsed in the calling thread (see the module docstring).
    inline_chars: int = 32 * 1024
    #: A worker's address space; beyond it the parse fails and the page is kept as a document.
    memory_bytes: int = 3 * 1024**3
    #: Workers parsing at once; a caller finding them all busy waits for one (at most `seconds`).
    workers: int = 4
    #: Workers kept waiting for work between captures.
    idle_workers: int = 2


def budget_from_environment() -> Budget:
    """The default budget, with KINCHART_PARSE_SECONDS and KINCHART_PARSE_MAX_MB applied."""
    budget = Budget()
    seconds = os.environ.get("KINCHART_PARSE_SECONDS")
    if seconds:
        budget = replace(budget, seconds=float(seconds))
    max_mb = os.environ.get("KINCHART_PARSE_MAX_MB")
    if max_mb:
        budget = replace(budget, max_chars=int(float(max_mb) * 1024 * 1024))
    return budget


# --------------------------------------------------------------------------- the parse itself


def parse_inline(capture: dict[str, Any]) -> Parsed:
    """Parse in this thread, never raising: an unexpected parser crash becomes a generic parse plus the
    error. (What a worker runs too.)"""
    capture = flatten_capture(capture)
    page = Page.from_capture(capture)
    try:
        info, result = parse_page(page)
        return info, result, None
    except MemoryError:  # the budget's to handle (a worker reports it); a second parse would not fit either
        raise
    except Exception as exc:  # a parser bug must not lose the capture
        log.warning("parser crashed on capture (%s)", type(exc).__name__)
        result = generic.parse(Page.from_capture(capture))
        error = f"{type(exc).__name__}: {exc}"
        result.warnings.insert(0, f"the parser failed ({error}); the page was kept as a document")
        return ParserInfo(generic.NAME, generic.VERSION), result, error


def html_chars(capture: dict[str, Any]) -> int:
    return sum(len(f.get("html") or "") for f in capture.get("frames") or [])


def parse_within_budget(capture: dict[str, Any], budget: Budget | None = None) -> Parsed:
    """The capture's parse, or, when it is over budget, the page kept as a document with the reason.
    Safe to call from several threads at once."""
    budget = budget or current_budget()
    size = html_chars(capture)
    if size > budget.max_chars:
        mb = size / (1024 * 1024)
        return kept_as_document(
            capture,
            f"this page is too large to read ({mb:.1f} MB of HTML; the limit is "
            f"{budget.max_chars / (1024 * 1024):.0f} MB); it was kept as a document",
            "parse budget: page too large",
        )
    if size <= budget.inline_chars:
        return parse_inline(capture)
    for _ in range(3):
        try:
            return _pool(budget).parse(capture)
        except PoolClosed:  # reconfigured meanwhile: the next pool takes it
            continue
    return kept_as_document(
        capture, "the bridge was stopping; the page was kept as a document", "parse budget: stopping"
    )


# --------------------------------------------------------------------------- over budget: a document

_RAW_TEXT = ("script", "style", "template", "noscript", "svg", "math", "textarea", "title")
_RAW_START = re.compile(rf"<({'|'.join(_RAW_TEXT)})(?=[\s>/])", re.I)
_RAW_END = {name: re.compile(rf"</{name}\s*>", re.I) for name in _RAW_TEXT}
# `[^<>]` rather than `[^>]`: a '<' with no '>' after it is then passed over once, not rescanned from
# every '<' before it (linear on any input).
_BREAK = re.compile(r"</?(?:p|div|br|li|tr|h[1-6]|table|section|article|ul|ol|dl|dt|dd|pre)\b[^<>]*>", re.I)
_TAG = re.compile(r"<[/!?a-zA-Z][^<>]*>")
_SPACES = re.compile(r"[^\S\n]+")  # every kind of space but the line break: `_LINES` then never backtracks
_LINES = re.compile(r"\s*\n\s*")

#: How much HTML the fallback reads, and how much text it keeps.
FALLBACK_READ_CHARS = 512 * 1024  # about 0.3 s at worst (every character a "<")
FALLBACK_TEXT_CHARS = 100_000


def bounded_text(capture: dict[str, Any]) -> str | None:
    """The readable text of the first `FALLBACK_READ_CHARS` of the capture's HTML, by regular expressions
    that are linear in what they read (no tree is built): a page that defeated the parser cannot defeat
    this. Scripts, styles and other raw text are left out."""
    left = FALLBACK_READ_CHARS
    chunks: list[str] = []
    for frame in capture.get("frames") or []:
        html = str(frame.get("html") or "")[: max(left, 0)]
        left -= len(html)
        pos = 0
        unclosed: set[str] = set()  # no end after one of these: none after any later one either
        while pos < len(html):
            start = _RAW_START.search(html, pos)
            chunks.append(html[pos : start.start() if start else len(html)])
            if start is None:
                break
            name = start.group(1).lower()
            end = None if name in unclosed else _RAW_END[name].search(html, start.end())
            if end is None:
                unclosed.add(name)
                pos = start.end()
            else:
                pos = end.end()
        chunks.append("\n")
    text = _TAG.sub(" ", _BREAK.sub("\n", "".join(chunks)))
    text = _LINES.sub("\n", _SPACES.sub(" ", html_lib.unescape(text))).strip()
    return text[:FALLBACK_TEXT_CHARS] or None


def kept_as_document(capture: dict[str, Any], warning: str, error: str) -> Parsed:
    title = capture.get("title")
    result = ParseResult(
        vendor="generic",
        page_kind="unknown",
        records=[Document(title=str(title) if title else None, occurred_at=None, text=bounded_text(capture))],
        warnings=[warning],
    )
    return ParserInfo(generic.NAME, generic.VERSION), result, error


# --------------------------------------------------------------------------- the worker processes


def _start_worker(budget: Budget) -> WorkerProcess:
    return WorkerProcess(budget.memory_bytes, alarm_seconds=2 * budget.seconds + 5)


_STOPPED = object()  # what a worker that died instead of answering "sent"


class PoolClosed(Exception):
    """The pool was closed (reconfigured or shut down) before it could take the capture."""


class _Overrun(Exception):
    def __init__(self, warning: str, error: str) -> None:
        super().__init__(error)
        self.warning = warning
        self.error = error


class ParsePool:
    """Worker processes parsing captures under the time budget; see the module docstring."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self._cond = threading.Condition()
        self._idle: list[WorkerProcess] = []
        self._alive = 0  # idle, busy or starting
        self._closed = False

    def parse(self, capture: dict[str, Any]) -> Parsed:
        payload = (
            str(capture.get("url") or ""),
            capture.get("title"),
            [
                (str(f.get("url") or capture.get("url") or ""), str(f.get("html") or ""))
                for f in capture.get("frames") or []
            ],
        )
        try:
            return self._parse(payload)
        except _Overrun as over:
            return kept_as_document(capture, over.warning, over.error)

    def _parse(self, payload: Any) -> Parsed:
        for attempt in range(2):
            try:
                worker = self._acquire()
            except OSError:
                log.warning("a parser process could not be started")
                raise _Overrun(
                    "this page could not be read (no parser process could be started); "
                    "it was kept as a document",
                    "parse budget: no parser process",
                ) from None
            try:
                if not worker.wait_ready():
                    raise BrokenPipeError
                worker.send(payload)
            except OSError:  # it did not start, or died while idle (nothing was parsed): another one
                self._discard(worker)
                if attempt:
                    raise _Overrun(
                        "this page could not be read (the parser process did not start); "
                        "it was kept as a document",
                        "parse budget: no parser process",
                    ) from None
                continue
            except BaseException:
                self._discard(worker)
                raise
            return self._reply(worker)
        raise AssertionError("unreachable")  # pragma: no cover

    def _reply(self, worker: WorkerProcess) -> Parsed:
        try:
            reply = worker.recv() if worker.poll(self.budget.seconds) else None
        except (EOFError, OSError):
            reply = _STOPPED
        except BaseException:
            self._discard(worker)
            raise
        if reply is None:
            self._discard(worker)
            log.warning("a page took over %s s to parse; its parser process was stopped", self.budget.seconds)
            raise _Overrun(
                f"this page took too long to read (over {self.budget.seconds:g} s); it was kept as a document",
                f"parse budget: over {self.budget.seconds:g} s",
            )
        if reply is _STOPPED:
            self._discard(worker)
            raise _Overrun(
                "reading this page stopped the parser process; it was kept as a document",
                "parse budget: the parser process stopped",
            )
        if reply == OUT_OF_MEMORY:
            self._discard(worker)
            raise _Overrun(
                "this page needed more memory to read than is allowed; it was kept as a document",
                "parse budget: out of memory",
            )
        self._release(worker)
        info, result, error = reply
        return info, result, error

    def _acquire(self) -> WorkerProcess:
        with self._cond:
            while True:
                if self._closed:
                    raise PoolClosed
                if self._idle:
                    return self._idle.pop()
                if self._alive < self.budget.workers:
                    self._alive += 1
                    break
                self._cond.wait()
        try:
            return _start_worker(self.budget)
        except BaseException:
            with self._cond:
                self._alive -= 1
                self._cond.notify()
            raise

    def _release(self, worker: WorkerProcess) -> None:
        with self._cond:
            keep = not self._closed and len(self._idle) < self.budget.idle_workers
            if keep:
                self._idle.append(worker)
            else:
                self._alive -= 1
            self._cond.notify()
        if not keep:
            worker.stop()

    def _discard(self, worker: WorkerProcess) -> None:
        worker.stop(kill=True)
        with self._cond:
            self._alive -= 1
            self._cond.notify()
            replace_it = not self._closed and not self._idle and self._alive < self.budget.workers
            if replace_it:
                self._alive += 1
        if replace_it:  # the next large page should not wait for a process to start
            try:
                spare = _start_worker(self.budget)
            except OSError:  # the next caller tries again
                log.warning("a parser process could not be started")
                with self._cond:
                    self._alive -= 1
                    self._cond.notify()
                return
            self._release(spare)

    def warm_up(self) -> None:
        """Start the idle workers now rather than at the first large page; return once they can parse."""
        with self._cond:
            starting = 0 if self._closed else max(0, self.budget.idle_workers - self._alive)
            self._alive += starting
        started: list[WorkerProcess] = []
        try:
            for _ in range(starting):
                started.append(_start_worker(self.budget))
        finally:
            with self._cond:
                self._alive -= starting - len(started)
                self._cond.notify_all()
        for worker in started:
            if worker.wait_ready():
                self._release(worker)
            else:
                worker.stop(kill=True)
                with self._cond:
                    self._alive -= 1
                    self._cond.notify()

    def close(self) -> None:
        """Stop the idle workers now, and each busy one as soon as its caller is done with it."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._alive -= len(idle)
            self._cond.notify_all()
        for worker in idle:
            worker.stop()

    @property
    def processes(self) -> int:
        """Worker processes alive (idle, busy or starting)."""
        with self._cond:
            return self._alive


# --------------------------------------------------------------------------- the process-wide pool

_lock = threading.Lock()
_budget: Budget | None = None
_the_pool: ParsePool | None = None


def current_budget() -> Budget:
    global _budget
    with _lock:
        if _budget is None:
            _budget = budget_from_environment()
        return _budget


def _pool(budget: Budget) -> ParsePool:
    global _the_pool
    with _lock:
        if _the_pool is None or _the_pool.budget != budget:
            if _the_pool is not None:
                _the_pool.close()
            _the_pool = ParsePool(budget)
        return _the_pool


def configure(budget: Budget | None) -> None:
    """Use `budget` from now on (None: the default, from the environment); stops the current workers."""
    global _budget, _the_pool
    with _lock:
        _budget = budget
        pool, _the_pool = _the_pool, None
    if pool is not None:
        pool.close()


def warm_up() -> None:
    """Start the worker processes now (for `kinchart serve`, so the first large page does not wait)."""
    _pool(current_budget()).warm_up()


def shutdown() -> None:
    """Stop every worker process (at exit, or when the bridge stops)."""
    global _the_pool
    with _lock:
        pool, _the_pool = _the_pool, None
    if pool is not None:
        pool.close()


atexit.register(shutdown)
