"""A generated trace as other captures write it: Kineto's event order, no Python stacks, TokenSpeed.

- ``kineto_order``: the metadata rows (``"ph": "M"``: process and thread names) after every other
  event, where torch.profiler writes them (every real file under ``tests/data/traces`` that has
  them holds them in its last few KiB); ``make_trace`` puts them first. Nothing else moves.
- ``without_stacks``: no ``python_function`` events, as a capture with ``with_stack=False``.
- ``tokenspeed_trace``: an SGLang trace of ``make_trace`` in TokenSpeed's spelling
  (lightseekorg/tokenspeed, which keeps an SGLang-like scheduler / runner / layers layout under
  its own package): the scheduler's process title ``tokenspeed::scheduler_<dp>``
  (``python/tokenspeed/runtime/engine/event_loop.py``), and every ``sglang/srt`` frame moved to the
  TokenSpeed module of the same job (``TOKENSPEED_FILES``, each path checked in the stored upstream
  copy). Ops and kernels stay: TokenSpeed calls ``sgl_kernel`` ops too. File names: TokenSpeed's
  profiler writes SGLang's ``<profile_id>-TP-<rank>[-EXTEND|-DECODE].trace.json.gz``
  (``tracegen.sglang_rank_file``).
"""

from __future__ import annotations

import re

SGLANG_SRT = "/sgl-workspace/sglang/python/sglang/srt/"
TOKENSPEED_RUNTIME = "/opt/tokenspeed/python/tokenspeed/runtime/"
# sglang/srt file (as make_trace writes frames) → python/tokenspeed/runtime file of the same job
TOKENSPEED_FILES = {
    "managers/scheduler.py": "engine/event_loop.py",
    "managers/tp_worker.py": "execution/model_executor.py",
    "model_executor/model_runner.py": "execution/model_runner.py",
    "model_executor/cuda_graph_runner.py": "execution/cuda_graph_wrapper.py",
    "models/llama.py": "models/llama.py",
    "layers/linear.py": "layers/linear.py",
    "layers/layernorm.py": "layers/layernorm.py",
    "layers/activation.py": "layers/activation.py",
    "layers/rotary_embedding.py": "layers/rotary_embedding.py",
    # SGLang's RadixAttention wrapper and backend base class → TokenSpeed's backend base class
    "layers/radix_attention.py": "layers/attention/backends/base.py",
    "layers/attention/base_attn_backend.py": "layers/attention/backends/base.py",
    "layers/attention/flashattention_backend.py": "layers/attention/backends/flash_attention.py",
}
_FRAME_RE = re.compile(r"^(?P<file>[^()]+\.py)(?P<rest>\(\d+\): .*)$")


def kineto_order(obj: dict) -> dict:
    """`obj` with its metadata rows after every other event (torch.profiler's order)."""
    events = obj["traceEvents"]
    return {**obj, "traceEvents": [e for e in events if e.get("ph") != "M"] + [e for e in events if e.get("ph") == "M"]}


def without_stacks(obj: dict) -> dict:
    """`obj` as captured with ``with_stack=False``: no ``python_function`` events."""
    return {**obj, "traceEvents": [e for e in obj["traceEvents"] if e.get("cat") != "python_function"]}


def tokenspeed_trace(obj: dict, dp: int = 0) -> dict:
    """An SGLang trace of ``make_trace`` in TokenSpeed's spelling (process title, Python frames)."""
    events = []
    for e in obj["traceEvents"]:
        if e.get("ph") == "M" and e.get("name") == "process_name" and str(e["args"]["name"]).startswith("sglang::"):
            e = {**e, "args": {**e["args"], "name": f"tokenspeed::scheduler_{dp}"}}
        elif e.get("cat") == "python_function" and str(e["name"]).startswith(SGLANG_SRT):
            e = {**e, "name": _tokenspeed_frame(e["name"])}
        events.append(e)
    out = {**obj, "traceEvents": events}
    if isinstance(obj.get("traceName"), str):
        out["traceName"] = obj["traceName"].replace("sglang", "tokenspeed")
    return out


def _tokenspeed_frame(name: str) -> str:
    m = _FRAME_RE.match(name[len(SGLANG_SRT):])
    if m is None or m["file"] not in TOKENSPEED_FILES:
        raise ValueError(f"no TokenSpeed module for the SGLang frame {name!r}: add it to TOKENSPEED_FILES")
    return TOKENSPEED_RUNTIME + TOKENSPEED_FILES[m["file"]] + m["rest"]
