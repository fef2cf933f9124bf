"""Sniffing: what a file's first ~64 KiB say it is (never a parse), and its kind/status from name + sniff."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

from pipeline.discover.infer import _framework_from_name
from pipeline.discover.records import _Sniff

SNIFF_BYTES = 64 * 1024
_RAW_CHUNK = 16 * 1024
_RAW_CAP = 4 * 1024 * 1024
_open_binary = open  # indirection so tests can count the bytes sniffing reads
_KINETO_HEADER_KEYS = {"schemaVersion", "deviceProperties", "distributedInfo",
                       "baseTimeNanoseconds", "displayTimeUnit"}
# A string (to its closing quote, or to the end of the sniffed text when it is cut there: an
# unterminated string must not be rescanned from each later quote, which was quadratic) or one
# structural character.
_TOKEN_RE = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)|[{}\[\]:,]')
_TRACE_SUFFIX_RE = re.compile(r"\.(pt\.)?trace\.json(\.gz)?$")
_MERGED_RE = re.compile(r"^merged-.+\.trace\.json(\.gz)?$")


def sniff(path: Path) -> str | None:
    """'kineto', 'layerwise' or None, from at most the first ~64 KiB (gzip-aware)."""
    return _sniff(Path(path)).kind


def _kind_status(name: str, snf: _Sniff) -> tuple[str | None, str, str | None]:
    """(kind, status, reason); kind None means: not a trace, leave it out."""
    name_kind = "merged" if _MERGED_RE.search(name) else (
        "kineto" if _name_says_trace(name) else None)
    if snf.kind == "layerwise":
        return "layerwise", "ok", None
    if snf.kind == "kineto":
        return name_kind or "kineto", "ok", None
    if not snf.decided:  # header unreadable: trust the name, ingest reports the error
        return name_kind, "ok", snf.note
    if name_kind:  # named like a trace, but the content says otherwise
        return name_kind, "rejected", f"not a trace: {snf.note}"
    return None, "", None


def _name_says_trace(name: str) -> bool:
    return bool(_TRACE_SUFFIX_RE.search(name) or _framework_from_name(name))


def _read_head(path: Path) -> tuple[bytes, bool]:
    """First SNIFF_BYTES of the (decompressed) content and whether that is all of it."""
    with _open_binary(path, "rb") as fh:
        buf = fh.read(SNIFF_BYTES + 1)
        if buf[:2] != b"\x1f\x8b":
            return buf[:SNIFF_BYTES], len(buf) <= SNIFF_BYTES
        dec = zlib.decompressobj(wbits=31)
        out, raw_total = bytearray(), len(buf)
        while len(out) <= SNIFF_BYTES and not dec.eof:
            if not buf:
                buf = fh.read(_RAW_CHUNK) if raw_total <= _RAW_CAP else b""
                raw_total += len(buf)
                if not buf:
                    break  # truncated gzip (or cap reached): sniff what we have
            try:
                out += dec.decompress(buf, SNIFF_BYTES + 1 - len(out))
            except zlib.error:
                if not out:
                    raise
                break
            buf = dec.unconsumed_tail
        complete = dec.eof and not dec.unused_data and not fh.read(1)
        return bytes(out[:SNIFF_BYTES]), complete and len(out) <= SNIFF_BYTES


def _sniff(path: Path) -> _Sniff:
    try:
        data, complete = _read_head(path)
    except (OSError, zlib.error, EOFError) as exc:
        return _Sniff(None, False, "", f"header unreadable: {exc}")
    text = data.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    if not text:
        why = "empty file" if complete else "truncated before any data"
        return _Sniff(None, False, "", f"header unreadable: {why}")
    if text[0] == "[":
        ok = _looks_like_event_list(text)
        return _Sniff("kineto" if ok else None, True, text,
                      None if ok else "JSON array without trace events")
    if text[0] != "{":
        return _Sniff(None, True, text, "not a JSON object or array")
    return _classify_object(text, complete)


def _classify_object(text: str, complete: bool) -> _Sniff:
    keys, context_keys = _object_keys(text)
    if "traceEvents" in keys:
        return _Sniff("kineto", True, text)
    steps = any(k == "prefill" or re.fullmatch(r"decode_\d+", k) for k in keys)
    if "context" in keys and (steps or (not complete and
                                        {"engine_args", "torch_version"} & context_keys)):
        return _Sniff("layerwise", True, text)
    if not complete and _KINETO_HEADER_KEYS & keys:
        return _Sniff("kineto", True, text, "traceEvents beyond the sniffed header")
    shown = ", ".join(sorted(keys)[:6]) or "none"
    return _Sniff(None, True, text, f"JSON object without traceEvents (top keys: {shown})")


def _object_keys(text: str) -> tuple[set[str], set[str]]:
    """Top-level keys of a JSON object prefix (up to ``traceEvents``), and the keys directly inside `context`."""
    keys: set[str] = set()
    context_keys: set[str] = set()
    stack: list[str] = []
    expect_key, current = False, None
    for m in _TOKEN_RE.finditer(text):
        tok = m.group()
        if m.end() == len(text) and tok[0] == '"' and (len(tok) < 2 or tok[-1] != '"' or tok[-2] == "\\"):
            break  # a string cut by the end of the sniffed text
        if tok in "{[":
            stack.append(tok)
            expect_key = tok == "{"
        elif tok in "}]":
            stack.pop()
            if not stack:
                break
        elif tok == ",":
            expect_key = stack[-1] == "{"
        elif tok == ":":
            expect_key = False
        elif expect_key:
            key = _unquote(tok)
            if len(stack) == 1:
                keys.add(key)
                current = key
                if key == "traceEvents":  # enough to classify; the events need no tokenising
                    break
            elif len(stack) == 2 and current == "context":
                context_keys.add(key)
            expect_key = False
    return keys, context_keys


def _unquote(token: str) -> str:
    if "\\" not in token and len(token) >= 2 and token[0] == token[-1] == '"':
        return token[1:-1]
    try:
        return json.loads(token)
    except ValueError:
        return token.strip('"')


def _looks_like_event_list(text: str) -> bool:
    body = text[1:].lstrip()
    return body.startswith("{") and re.search(r'"ph"\s*:', body[:4096]) is not None
