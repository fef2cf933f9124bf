"""Generated nights of a nightly matrix: one SGLang decode capture of one configuration per night,
laid out as the capture tool lays out a night (``<data root>/<YYYY-MM-DD>/sglang/<run>/`` with the
trace and its ``capture.json``), each on its own clock (``baseTimeNanoseconds`` set so the first GPU
activity falls at 03:00 UTC of its night) and with its own run-to-run jitter (seed). A night may
carry an injected regression: the kernels of one op last `factor` × longer.

`python -m assets.demo` writes two nights (the second with a regression) for the Dagster
`regressions` asset; the tests diff them.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tracegen import START_NS, ModelSpec, make_trace_with_truth, sglang_rank_file, write_trace

FIRST_NIGHT = dt.date(2026, 1, 5)
CAPTURE_HOUR = 3
MODEL = "Llama-demo"
RUN = "llama-demo-decode-bs16"
FIRST_GPU_OFFSET_NS = 60_000  # the writer's first kernel starts ~this long after START_NS
DEMO_REGRESSION = (("act", 3.0),)  # the second demo night: SiLU-and-mul three times slower


def night_date(index: int) -> dt.date:
    """The date of night `index` (0 = the first)."""
    return FIRST_NIGHT + dt.timedelta(days=index)


def night_epoch_ns(index: int) -> int:
    """03:00 UTC of night `index`, in epoch ns."""
    when = dt.datetime.combine(night_date(index), dt.time(CAPTURE_HOUR), tzinfo=dt.timezone.utc)
    return int(when.timestamp()) * 1_000_000_000


def make_night(index: int, *, op_scale: tuple[tuple[str, float], ...] = (), steps: int = 5, layers: int = 4,
               seed: int | None = None) -> dict:
    """The Kineto object of night `index` (eager decode steps, so every kernel has its site)."""
    spec = ModelSpec(layers=layers, op_scale=op_scale)
    obj, _ = make_trace_with_truth(spec, steps=steps, mode="eager", stage="decode",
                                   seed=100 + index if seed is None else seed)
    obj["baseTimeNanoseconds"] = night_epoch_ns(index) - START_NS - FIRST_GPU_OFFSET_NS
    return obj


def capture_record(index: int, file_name: str, steps: int) -> dict:
    """`capture.json` of a night, as `pipeline.capture.manifest.write_manifest` writes it."""
    start = dt.datetime.fromtimestamp(night_epoch_ns(index) / 1e9, dt.timezone.utc)
    return {"framework": "sglang", "model": MODEL, "stage": "decode", "role": "single", "rank": 0,
            "server_args": {"model_path": f"/models/{MODEL}", "tp_size": 1, "cuda_graph_max_bs": 32,
                            "chunked_prefill_size": 8192, "host": "127.0.0.1", "port": 30000 + index},
            "server_info": {"version": "0.5.2"}, "workload": {"batch_size": 16, "input_len": 1024, "num_steps": steps},
            "started_at": start.isoformat(timespec="seconds"),
            "finished_at": (start + dt.timedelta(seconds=40)).isoformat(timespec="seconds"),
            "files": [file_name], "tool": "proftriage"}


def write_night(data_root: Path, index: int, *, op_scale: tuple[tuple[str, float], ...] = (),
                steps: int = 5, layers: int = 4) -> Path:
    """Write night `index` under `data_root`; returns its trace root directory."""
    root = Path(data_root) / night_date(index).isoformat() / "sglang" / RUN
    name = sglang_rank_file(str(night_epoch_ns(index) // 1_000_000_000), 0, stage="DECODE")
    write_trace(make_night(index, op_scale=op_scale, steps=steps, layers=layers), root / name)
    (root / "capture.json").write_text(json.dumps(capture_record(index, name, steps), indent=2) + "\n",
                                       encoding="utf-8")
    return root


def existing_nights(data_root: Path) -> list[int]:
    """Indexes of the nights already under `data_root`."""
    out = []
    for path in Path(data_root).glob(f"*/sglang/{RUN}"):
        try:
            out.append((dt.date.fromisoformat(path.parent.parent.name) - FIRST_NIGHT).days)
        except ValueError:
            continue
    return sorted(i for i in out if i >= 0)
