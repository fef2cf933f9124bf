"""Streaming reader for Kineto (Chrome-trace) JSON: yields raw byte batches of whole events.

The file is read in fixed-size chunks (gzip decompressed on the fly). The `traceEvents` array
is cut at event boundaries — a closing brace, a comma and an opening brace followed by a
quoted key, which cannot occur inside a JSON string — so every batch is a comma-separated
run of complete event objects that `orjson` parses on its own. Memory stays bounded by the
chunk size whatever the file size. The top-level keys before and after the array are
collected into `header`, whatever they hold: a `traceEvents` key nested in a value before the
array is skipped. After the array, a list of objects holds event boundaries too: a cut there
makes a middle batch that holds the array's end, which no converter accepts; its failure
says where the array ends (`ArrayEndInBatch`) and the file is read again, cut before it
(`iter_batches(array_end=…)`), so no check costs anything on a file that parses. Every byte
is looked at a bounded number of times (the header scan searches only what arrived since
the last read), and absurd sizes are refused with a message: a header over MAX_HEADER_BYTES
before the array, one event (or the document's end) over MAX_EVENT_BYTES.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import orjson

CHUNK_BYTES = 16 << 20
READ_BYTES = 1 << 20  # one read; a batch is handed over as soon as CHUNK_BYTES have arrived
_KEY = b'"traceEvents"'
_KEY_RE = re.compile(rb'"traceEvents"\s*:\s*\[')
_KEY_PENDING_RE = re.compile(rb'"traceEvents"\s*(?::\s*)?\Z')  # the key, its ':' and '[' still to come
_NAME_RE = re.compile(rb'"name"\s*:\s*"((?:[^"\\]|\\.){0,80})')
_TOKEN_RE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')  # a whole string, or a bracket outside strings
_WS = b" \t\r\n"
# Longest header we accept before the events array starts (Kineto's are a few KiB per GPU).
MAX_HEADER_BYTES = 64 << 20
# Largest single event (or the document's end after the array) we accept; real ones are < 64 KiB.
MAX_EVENT_BYTES = 64 << 20


class TraceReadError(Exception):
    """A trace file could not be read; the message names the file and the problem."""


class ArrayEndInBatch(TraceReadError):
    """A middle batch is not valid JSON because the events array ends inside it, at decompressed
    byte `end` (a cut landed in a list of objects after the array): read again, cut before it."""

    def __init__(self, message: str, end: int):
        super().__init__(message)
        self.end = end


@dataclass
class Batch:
    """A run of complete events: ``data`` is ``ev1, ev2, …`` without the surrounding brackets."""

    number: int
    data: bytes
    offset: int  # decompressed byte offset of data[0] in the file
    tail: bool = False  # last batch: also holds the document's closing part
    first_index: int = 0  # position of data's first event within batch `number`


@dataclass
class ReaderState:
    header: dict = field(default_factory=dict)
    bytes_in: int = 0  # decompressed bytes consumed
    bare: bool = False  # the file is a bare JSON array of events


def open_trace(path: Path) -> BinaryIO:
    """Open `path` for binary reading, transparently gunzipping by magic number."""
    fh = open(path, "rb")
    magic = fh.read(2)
    fh.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    return fh


def _read(fh: BinaryIO, path: Path, size: int) -> bytes:
    try:
        return fh.read(size)
    except EOFError as exc:
        raise TraceReadError(f"{path}: truncated gzip stream ({exc})") from exc
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise TraceReadError(f"{path}: unreadable gzip data ({exc})") from exc


def _header_from_prefix(prefix: bytes, path: Path) -> dict:
    """Parse the top-level keys written before ``"traceEvents": [``."""
    body = prefix.rstrip(_WS)
    if body.endswith(b","):
        body = body[:-1]
    try:
        value = orjson.loads(body + b"}")
    except orjson.JSONDecodeError as exc:
        raise TraceReadError(f"{path}: invalid JSON before traceEvents ({exc})") from exc
    return value if isinstance(value, dict) else {}


def _find_events_start(fh: BinaryIO, path: Path, state: ReaderState, chunk_bytes: int) -> bytes:
    """Consume the header; return the buffer positioned at the first event (or ']').

    Linear in the header's size: the buffer grows in place and each read is searched once
    (from where the previous search stopped, less the key's length)."""
    buf, start, searched = bytearray(), -1, 0
    nest = [-1, 0]  # bracket scan of the header, only once a key is nested: [position, depth]
    while True:
        chunk = _read(fh, path, min(chunk_bytes, READ_BYTES))
        state.bytes_in += len(chunk)
        buf += chunk
        if start < 0:  # only blanks so far (cleared after each read): find the first other byte
            start = len(buf) - len(buf.lstrip(_WS))
            if start == len(buf):
                if not chunk:
                    raise TraceReadError(f"{path}: empty file")
                buf.clear()
                start = -1
                continue
            if buf[start:start + 1] == b"[":  # bare array of events
                state.bare = True
                return bytes(buf[start + 1:]).lstrip(_WS)
            if buf[start:start + 1] != b"{":
                raise TraceReadError(f"{path}: not a JSON object or array (starts with {bytes(buf[start:start + 20])!r})")
        found, searched = _find_key(buf, searched)
        while found is not None:
            header = _top_level_header(buf, start, found.start(), path, nest)
            if header is not None:
                state.header = header
                return bytes(buf[found.end():]).lstrip(_WS)
            found, searched = _find_key(buf, found.end())  # that key was nested in a value
        if len(buf) > MAX_HEADER_BYTES:
            raise TraceReadError(f"{path}: no traceEvents array in the first {MAX_HEADER_BYTES >> 20} MiB "
                                 "(a header that large is not a Kineto trace's)")
        if not chunk:
            raise TraceReadError(f"{path}: no traceEvents array found (not a Kineto trace)")


def _top_level_header(buf: bytearray, start: int, key: int, path: Path, nest: list[int]) -> dict | None:
    """The header before the ``"traceEvents"`` key at `key`; None when that key is nested in a
    header value. The first key is taken when the text before it parses (the usual case: no
    scan); otherwise, and for every later key, the bracket depth decides (a linear scan)."""
    if nest[0] < 0:
        try:
            return _header_from_prefix(bytes(buf[start:key]), path)
        except TraceReadError:
            nest[:] = [start, 0]
            if _depth_at(buf, nest, key) == 1:
                raise
            return None
    return _header_from_prefix(bytes(buf[start:key]), path) if _depth_at(buf, nest, key) == 1 else None


def _depth_at(buf: bytearray, nest: list[int], at: int) -> int:
    """Bracket depth outside strings at `at` (a key's opening quote), going on from where the
    scan in `nest` stopped: each byte is scanned once."""
    pos, depth = nest
    for token in _TOKEN_RE.finditer(buf, pos, at):
        char = buf[token.start()]
        if char != 0x22:  # '"'
            depth += 1 if char in b"[{" else -1
    nest[:] = [at, depth]
    return depth


def _find_key(buf: bytearray, searched: int) -> tuple[re.Match | None, int]:
    """``"traceEvents": [`` at or after `searched`; else (None, where the next search starts)."""
    pos = max(0, searched - len(_KEY))
    while (at := buf.find(_KEY, pos)) >= 0:
        match = _KEY_RE.match(buf, at)
        if match:
            return match, at
        if _KEY_PENDING_RE.match(buf, at):  # cut after the key: look here again once more arrived
            return None, at + len(_KEY)
        pos = at + 1
    return None, len(buf)


def _is_boundary(buf: bytes, open_pos: int) -> int:
    """If ``buf[open_pos] == '{'`` starts an event after ``}`` ws ``,`` ws, return the index of that '}' else -1."""
    nxt = open_pos + 1
    while nxt < len(buf) and buf[nxt] in _WS:
        nxt += 1
    if nxt >= len(buf) or buf[nxt] != 0x22:  # '"'
        return -1
    i = open_pos - 1
    while i >= 0 and buf[i] in _WS:
        i -= 1
    if i < 0 or buf[i] != 0x2C:  # ','
        return -1
    i -= 1
    while i >= 0 and buf[i] in _WS:
        i -= 1
    return i if i >= 0 and buf[i] == 0x7D else -1  # '}'


def find_split(buf: bytes, end: int | None = None) -> tuple[int, int] | None:
    """Last event boundary in ``buf[:end]``: (index after the closing '}', index of the next '{')."""
    pos = len(buf) if end is None else end
    while True:
        pos = buf.rfind(b"{", 0, pos)
        if pos <= 0:
            return None
        close = _is_boundary(buf, pos)
        if close >= 0:
            return close + 1, pos


def array_close(data: bytes) -> int | None:
    """Index of the first ']' or '}' outside strings that closes more than `data` opened (for a
    batch: where the events array ends), or None. A bracket scan, ~25 ms per MB: run only on a
    batch that failed to parse."""
    depth = 0
    for token in _TOKEN_RE.finditer(data):
        char = data[token.start()]
        if char != 0x22:  # '"'
            depth += 1 if char in b"[{" else -1
            if depth < 0:
                return token.start()
    return None


def _split_before(buf: bytes, limit: int, end: int | None) -> tuple[int, int] | None:
    """`find_split` before `limit` (else anywhere), and before index `end` when that is in `buf`."""
    if end is not None and end < len(buf):
        return find_split(buf, min(limit, end)) or find_split(buf, end)
    return find_split(buf, limit) or find_split(buf)


def iter_batches(path: Path, state: ReaderState, chunk_bytes: int | None = None,
                 array_end: int | None = None) -> Iterator[Batch]:
    """Yield event batches of roughly `chunk_bytes`; the last batch is the tail.

    `array_end` (decompressed offset of the events array's ']', from `ArrayEndInBatch`): no
    middle batch goes past it. Unknown on a first read, where such a batch fails to parse.

    The tail batch (``Batch.tail``) holds the remaining events *and* the rest of
    the document (``] , "key": value … }``); `parse_tail` handles it.
    """
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    with open_trace(path) as fh:
        buf = _find_events_start(fh, path, state, chunk_bytes)
        offset = state.bytes_in - len(buf)
        number = 0
        eof = False
        while not eof:
            buf, eof = _fill(fh, path, state, buf, chunk_bytes)
            if eof:
                break
            split = _split_before(buf, chunk_bytes, None if array_end is None else array_end - offset)
            if split is None:  # no boundary yet: one huge event (or the document's end); keep reading
                if len(buf) > MAX_EVENT_BYTES:
                    raise TraceReadError(_huge_event(path, buf, offset))
                chunk_bytes *= 2
                continue
            head_end, next_start = split
            yield Batch(number, buf[:head_end], offset)
            number += 1
            offset += next_start
            buf = buf[next_start:]
        yield Batch(number, buf, offset, tail=True)


def _huge_event(path: Path, buf: bytes, offset: int) -> str:
    name = _NAME_RE.search(buf, 0, 1 << 16)
    what = f"event {name.group(1).decode('utf-8', 'replace')!r}…" if name else "an event"
    return (f"{path}: {what} at byte {offset} is larger than {MAX_EVENT_BYTES >> 20} MiB "
            "(no trace event is that large; a name or args of that size is refused)")


def _fill(fh: BinaryIO, path: Path, state: ReaderState, buf: bytes, size: int) -> tuple[bytes, bool]:
    """Read until `buf` holds at least `size` bytes or the file ends; returns (buf, at end).

    Reads READ_BYTES at a time and joins once, so the first batch is ready after one batch
    of input (not two) and nothing is copied more than once.
    """
    parts, have = [buf], len(buf)
    while have < size:
        chunk = _read(fh, path, min(size - have, READ_BYTES))
        if not chunk:
            return b"".join(parts), True
        state.bytes_in += len(chunk)
        parts.append(chunk)
        have += len(chunk)
    return (b"".join(parts) if len(parts) > 1 else buf), False


def split_tail(batch: Batch) -> tuple[Batch | None, Batch]:
    """Cut a tail batch into (its events but the last, the last event + the document's end).

    The first part is a plain middle batch (None when the tail holds a single event); the
    second keeps ``tail=True`` for `parse_tail`; its `first_index` is set by the caller once
    the first part's event count is known. If the document's end
    itself contains an event-like boundary (a list of objects after the array), the first part
    holds the array's end and is not valid on its own (`limits.too_deep` keeps it from DuckDB):
    the caller then parses the whole tail with orjson.
    """
    split = find_split(batch.data)
    if split is None:
        return None, batch
    head_end, next_start = split
    head = Batch(batch.number, batch.data[:head_end], batch.offset)
    rest = Batch(batch.number, batch.data[next_start:], batch.offset + next_start, tail=True)
    return head, rest


def parse_events(batch: Batch, path: Path) -> list:
    """Parse a middle batch into a list of event dicts."""
    try:
        return orjson.loads(b"[" + batch.data + b"]")
    except orjson.JSONDecodeError as exc:
        where = batch.offset + max(exc.pos - 1, 0)
        message = f"{path}: invalid JSON near byte {where}: {exc.msg}"
        end = array_close(batch.data)
        raise (TraceReadError(message) if end is None else ArrayEndInBatch(message, batch.offset + end)) from exc


def parse_tail(batch: Batch, path: Path, bare: bool = False) -> tuple[list, dict]:
    """Parse the tail batch: the last events plus top-level keys after the array."""
    prefix = b'{"traceEvents":['
    try:
        obj = orjson.loads(prefix + batch.data + (b"}" if bare else b""))
    except orjson.JSONDecodeError as exc:
        where = batch.offset + max(exc.pos - len(prefix), 0)
        if where >= batch.offset + len(batch.data) - 1 or exc.msg.startswith("unexpected end"):
            raise TraceReadError(f"{path}: JSON ends early near byte {where} (truncated file?): {exc.msg}") from exc
        raise TraceReadError(f"{path}: invalid JSON near byte {where}: {exc.msg}") from exc
    if not isinstance(obj, dict):
        raise TraceReadError(f"{path}: unexpected top-level structure")
    events = obj.pop("traceEvents")
    return events, obj
