"""Tiny JSON-over-HTTP client on urllib with explicit timeouts and readable errors."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from pipeline.capture.errors import CaptureError


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
    """Connection refused, reset or timed out before any HTTP status."""


def join(base: str, route: str) -> str:
    """``http://h:p`` + ``/route`` without doubled slashes."""
    return base.rstrip("/") + "/" + route.lstrip("/")


def _decode(raw: bytes) -> tuple[str, Any]:
    text = raw.decode("utf-8", errors="replace")
    try:
        return text, json.loads(text) if text.strip() else None
    except ValueError:
        return text, None


def call(method: str, base: str, route: str, payload: Any = None, timeout: float = 30.0) -> Reply:
    """Send one request; HTTP errors come back as a `Reply`, network failures raise `Unreachable`."""
    url = join(base, route)
    body = None if payload is None else json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json"} if body is not None else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Reply(resp.status, *_decode(resp.read()))
    except urllib.error.HTTPError as err:
        return Reply(err.code, *_decode(err.read() or b""))
    except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        raise Unreachable(f"{method} {url} failed: {reason} (timeout {timeout:g} s)") from err


def short(text: str, limit: int = 300) -> str:
    """One-line, truncated rendering of a response body for error messages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
