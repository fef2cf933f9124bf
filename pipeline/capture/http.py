"""Tiny JSON-over-HTTP client on urllib: every request bounded in time and size, errors readable.

* Each request has a **total** deadline (connect, send, status line, headers and body
  together): `timeout`, shortened to what is left of the command's own deadline
  (`command_deadline`, set by `capture` from ``--timeout`` and by `probe`). A watchdog shuts
  the socket down when it passes, so a server that drips one byte a second cannot hold us.
* A body is read in chunks up to MAX_BODY_BYTES; a larger one is refused (`BadReply`), never
  held in memory.
* A reply that is not HTTP (a bad status line, a header line over 64 KiB, over 100 headers, a
  body cut short) is `BadReply`, whose message names the request and the kind of problem but
  never quotes the server's bytes.

`Unreachable` (and its subclass `BadReply`) is what a caller may tolerate per request;
`OutOfTime` (the command's deadline passed) is not, and ends the command (exit 2).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterator

from pipeline.capture.errors import CaptureError

MAX_BODY_BYTES = 16 << 20  # server info and generation answers are a few KiB
_CHUNK = 1 << 16
_deadline: ContextVar[tuple[float, str] | None] = ContextVar("capture_deadline", default=None)


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, raw text and parsed JSON (None when not JSON)."""

    status: int
    text: str
    data: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Unreachable(CaptureError):
    """Connection refused, reset or timed out before a complete HTTP answer."""


class BadReply(Unreachable):
    """The server answered, but not with HTTP, or with a body over MAX_BODY_BYTES."""


class OutOfTime(CaptureError):
    """The command's own deadline (``--timeout``) passed."""


@contextmanager
def command_deadline(seconds: float | None, what: str) -> Iterator[None]:
    """Bound every request (and trace wait) inside the block to `seconds` in all; nested
    deadlines only ever shorten the outer one. None: no bound of its own."""
    outer = _deadline.get()
    if seconds is None:
        yield
        return
    end = time.monotonic() + seconds
    token = _deadline.set((end, what) if outer is None or end < outer[0] else outer)
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left(doing: str) -> float | None:
    """Seconds left of the command's deadline (None: unbounded); `OutOfTime` once it passed."""
    bound = _deadline.get()
    if bound is None:
        return None
    left = bound[0] - time.monotonic()
    if left <= 0:
        raise OutOfTime(f"{bound[1]} ran out of time (its --timeout) {doing}")
    return left


def join(base: str, route: str) -> str:
    """``http://h:p`` + ``/route`` without doubled slashes."""
    return base.rstrip("/") + "/" + route.lstrip("/")


def _decode(raw: bytes) -> tuple[str, Any]:
    text = raw.decode("utf-8", errors="replace")
    try:
        return text, json.loads(text) if text.strip() else None
    except (ValueError, RecursionError):
        return text, None


class _Watchdog:
    """Shuts down every socket a request opened once its deadline passes."""

    def __init__(self, seconds: float) -> None:
        self.fired, self._socks, self._lock = False, [], threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            if self.fired:
                _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._socks:
                _shut(sock)

    def __enter__(self) -> "_Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _opener(dog: _Watchdog) -> urllib.request.OpenerDirector:
    """urllib's opener (proxies, redirects) whose connections report their sockets to `dog`."""

    def tracked(base: type) -> type:
        class Tracked(base):  # type: ignore[misc, valid-type]
            def connect(self) -> None:
                super().connect()
                dog.track(self.sock)

        return Tracked

    class Plain(urllib.request.HTTPHandler):
        def http_open(self, req):  # noqa: ANN001 - urllib's signature
            return self.do_open(tracked(http.client.HTTPConnection), req)

    class Secure(urllib.request.HTTPSHandler):
        def https_open(self, req):  # noqa: ANN001
            return self.do_open(tracked(http.client.HTTPSConnection), req, context=self._context)

    return urllib.request.build_opener(Plain(), Secure())


def _read_capped(resp: Any, what: str) -> bytes:
    declared = resp.headers.get("Content-Length") if resp.headers else None
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadReply(f"{what} failed: the answer announces {int(declared):,} bytes, over the "
                       f"{MAX_BODY_BYTES >> 20} MiB limit")
    parts, total = [], 0
    while chunk := resp.read(_CHUNK):
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            raise BadReply(f"{what} failed: the answer is over the {MAX_BODY_BYTES >> 20} MiB limit")
        parts.append(chunk)
    return b"".join(parts)


def call(method: str, base: str, route: str, payload: Any = None, timeout: float = 30.0) -> Reply:
    """Send one request; HTTP errors come back as a `Reply`, network failures raise `Unreachable`.

    The whole request takes at most `timeout` seconds (less when the command's deadline is
    nearer); `OutOfTime` when that deadline has already passed."""
    url = join(base, route)
    what = f"{method} {url}"
    left = time_left(f"before {what}")
    limit = timeout if left is None else min(timeout, left)
    body = None if payload is None else json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json"} if body is not None else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    with _Watchdog(limit) as dog:
        try:
            reply = _exchange(_opener(dog), req, limit, what)
        except BadReply:
            raise
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
            raise _failure(err, what, limit, left, dog.fired) from None
        if dog.fired:  # the body ended because the watchdog cut it: not a complete answer
            raise _failure(TimeoutError(), what, limit, left, True)
    return reply


def _exchange(opener: urllib.request.OpenerDirector, req: urllib.request.Request, limit: float,
              what: str) -> Reply:
    try:
        resp = opener.open(req, timeout=limit)
    except urllib.error.HTTPError as err:
        with err:
            return Reply(err.code, *_decode(_read_capped(err, what)))
    with resp:
        return Reply(resp.status, *_decode(_read_capped(resp, what)))


def _failure(err: Exception, what: str, limit: float, left: float | None, fired: bool) -> CaptureError:
    """The error to raise for `err`: the command's deadline, this request's, or what went wrong."""
    if fired or isinstance(err, (socket.timeout, TimeoutError)) or \
            isinstance(getattr(err, "reason", None), (socket.timeout, TimeoutError)):
        if left is not None and left <= limit:
            return OutOfTime(f"{_deadline.get()[1]} ran out of time (its --timeout) during {what}")
        return Unreachable(f"{what} failed: no complete answer within {limit:g} s (request deadline)")
    if isinstance(err, http.client.HTTPException) and not isinstance(err, ConnectionError):
        return BadReply(f"{what} failed: the answer is not valid HTTP ({type(err).__name__})")
    reason = getattr(err, "reason", None) or err
    if isinstance(reason, http.client.HTTPException) and not isinstance(reason, ConnectionError):
        return BadReply(f"{what} failed: the answer is not valid HTTP ({type(reason).__name__})")
    if isinstance(err, ValueError):
        return Unreachable(f"{what} failed: {err}")
    return Unreachable(f"{what} failed: {getattr(reason, 'strerror', None) or reason} (timeout {limit:g} s)")


def short(text: str, limit: int = 300) -> str:
    """One-line, truncated rendering of a response body for error messages (control
    characters shown as '?', so a server cannot write to the terminal)."""
    flat = " ".join("".join(c if c.isprintable() or c.isspace() else "?" for c in text[: 4 * limit]).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
