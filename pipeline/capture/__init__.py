"""Live capture: drive a serving framework's profiler routes and leave a trace root.

Entry points: `run_capture` (one server or a mapping/formal pair), `capture_from_matrix_entry`
(for the Dagster layer), `probe_server` (health of the generate path) and
`patch_trtllm_source` (TRT-LLM with-stack override). Pure Python, stdlib HTTP only.
"""

from __future__ import annotations

from pipeline.capture.errors import CaptureError
from pipeline.capture.probe import probe_server
from pipeline.capture.runner import CaptureConfig, capture_from_matrix_entry, run_capture
from pipeline.capture.trtllm_stack import patch_trtllm_source

__all__ = [
    "CaptureConfig",
    "CaptureError",
    "capture_from_matrix_entry",
    "patch_trtllm_source",
    "probe_server",
    "run_capture",
]
