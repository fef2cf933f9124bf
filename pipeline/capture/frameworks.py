"""Per-framework profiler control: start/stop payloads and routes, server info, ranks.

The facts (routes, fields, file names, prerequisites) live in
`pipeline/catalog/capture.toml`, each table citing its upstream file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipeline.capture.errors import CaptureError
from pipeline.capture.http import Reply, Unreachable, call, short
from pipeline.paths import read_catalog

FRAMEWORKS = ("sglang", "vllm", "trtllm", "tokenspeed")


@dataclass(frozen=True)
class Framework:
    """One framework's table from the capture catalog."""

    name: str
    spec: dict[str, Any]

    def __getattr__(self, key: str) -> Any:
        try:
            return self.spec[key]
        except KeyError:
            raise AttributeError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return self.spec.get(key, default)


def common() -> dict[str, Any]:
    """The `[common]` defaults (stage shapes, activities, answer fields)."""
    return read_catalog("capture.toml")["common"]


def framework(name: str) -> Framework:
    """Look a framework up by name; unknown names raise `CaptureError`."""
    table = read_catalog("capture.toml")
    if name not in FRAMEWORKS or name not in table:
        raise CaptureError(f"unknown framework {name!r}; choose one of {', '.join(FRAMEWORKS)}")
    return Framework(name, table[name])


def start_payload(fw: Framework, *, output_dir: str, num_steps: int, stage: str,
                  prefix: str, profile_by_stage: bool = False) -> dict[str, Any]:
    """The `/start_profile` body, restricted to the fields this framework accepts."""
    label = f"{prefix}-{stage}"
    full = {
        "output_dir": output_dir,
        "num_steps": int(num_steps) + int(fw.guard_steps),
        "activities": list(common()["activities"]),
        "with_stack": True,
        "record_shapes": True,
        "profile_by_stage": profile_by_stage,
        "profile_prefix": label,
        "profile_id": label,
    }
    return {k: full[k] for k in fw.start_fields}


def _prereq_error(fw: Framework, url: str, reply: Reply) -> CaptureError:
    route = fw.start_route
    return CaptureError(
        f"{fw.name}: POST {url.rstrip('/')}{route} answered HTTP {reply.status}: "
        f"{short(reply.text) or '(empty body)'}\nPrerequisites: {fw.prerequisites}"
    )


def start_profile(fw: Framework, url: str, payload: dict[str, Any], timeout: float) -> Reply:
    """Arm the profiler; a missing route or an error status raises with the prerequisites."""
    try:
        reply = call("POST", url, fw.start_route, payload, timeout)
        if fw.name == "vllm" and reply.status in (400, 422) and payload:
            reply = call("POST", url, fw.start_route, None, timeout)  # older vLLM takes no body
    except Unreachable as err:
        raise CaptureError(f"{fw.name}: cannot arm the profiler: {err}") from err
    if not reply.ok or _says_failure(reply.data):
        raise _prereq_error(fw, url, reply)
    return reply


def _says_failure(data: Any) -> bool:
    return isinstance(data, dict) and data.get("success") is False


def stop_profile(fw: Framework, url: str, timeout: float, auto_stops: bool) -> str | None:
    """Send `/stop_profile`; returns a note when a tolerated failure happened.

    When the server was given `num_steps` it may already have stopped by itself, so an
    error answer is only a note; otherwise it is fatal.
    """
    try:
        reply = call("POST", url, fw.stop_route, None, timeout)
    except Unreachable as err:
        raise CaptureError(f"{fw.name}: POST {fw.stop_route} failed: {err}") from err
    if reply.ok and not _says_failure(reply.data):
        return None
    what = f"POST {fw.stop_route} answered HTTP {reply.status}: {short(reply.text)}"
    if auto_stops:
        return what + " (tolerated: the server stops by itself after num_steps)"
    raise CaptureError(f"{fw.name}: {what}")


def fetch_server_info(fw: Framework, url: str, timeout: float) -> tuple[str | None, Any]:
    """First info route that answers 2xx: (route, JSON), or (None, None)."""
    for route in fw.info_routes:
        try:
            reply = call("GET", url, route, None, timeout)
        except Unreachable:
            return None, None
        if reply.ok and reply.data is not None:
            return route, reply.data
    return None, None


def find_value(data: Any, key: str) -> Any:
    """A key's value anywhere in nested JSON, or parsed out of a config string."""
    if isinstance(data, dict):
        if key in data and not isinstance(data[key], (dict, list)):
            return data[key]
        items = list(data.values())
    elif isinstance(data, list):
        items = data
    elif isinstance(data, str):
        m = re.search(rf"{re.escape(key)}['\"]?\s*[:=]\s*['\"]?([^'\",)\s}}]+)", data)
        return m.group(1) if m else None
    else:
        return None
    for item in items:
        found = find_value(item, key)
        if found is not None:
            return found
    return None


def expected_ranks(fw: Framework, info: Any) -> int | None:
    """Number of rank files the server should write (product of its parallel sizes)."""
    total, seen = 1, False
    for (key, *_rest) in fw.size_keys:
        value = find_value(info, key)
        if value is not None and str(value).isdigit():
            total, seen = total * int(value), True
    return total if seen else None


def model_name(info: Any) -> str | None:
    """The served model from server info (`model_path`, `served_model_name`, /v1/models)."""
    for key in ("served_model_name", "model_path", "model"):
        value = find_value(info, key)
        if isinstance(value, str) and value:
            return value
    if isinstance(info, dict) and isinstance(info.get("data"), list) and info["data"]:
        return info["data"][0].get("id")
    return None


def rank_of(fw: Framework, name: str) -> int | None:
    """Rank parsed from a trace file name, or None."""
    for pattern in fw.rank_patterns:
        m = re.search(pattern, name)
        if m:
            return int(m.group(1))
    return None


def server_args(info: Any) -> dict[str, Any]:
    """Scalar launch arguments from server info (SGLang nests none; others vary)."""
    if isinstance(info, dict) and isinstance(info.get("server_args"), dict):
        return info["server_args"]
    if isinstance(info, dict):
        return {k: v for k, v in info.items() if isinstance(v, (str, int, float, bool)) or v is None}
    return {}
