"""Facts step: FLOPs and bytes per GPU activity, from the recorded shapes of its launching op.

`assign_costs(conn, records)` adds ``flops, bytes, dtype, cost_model, cost_note`` to every kernel
record (docs/architecture.md keys) in place. It runs after attribution and alignment:

* The op instance is the record's ``cpu_op_ev``. A record whose ``cpu_op_ev`` refers to another
  file (``attribution = 'mapped'`` from a mapping trace, or a later source that sets
  ``cpu_op_file_id``) is looked up in that file: ``cpu_op_file_id`` when the record carries it,
  else the one file among the records whose own kernels were launched by that (ev, op name)
  (ties: the same stage; still ambiguous: no model).
* One op instance's cost is priced once and split over the GPU activities it launched — its
  launch group — in proportion to their durations (largest remainder, so the parts sum to the
  op's figures exactly). Every kernel of the group then shows the op's efficiency. For mapped
  graph replays the group is the kernels of one step that point at the same op instance.
* The models that need more than the op's inputs get the op file's `TraceContext` (model name,
  group size): MoE ops without recorded weights, collectives. A collective kernel carrying NCCL
  metadata is priced from it (``collective_facts`` runs first).
* No model: ``flops``/``bytes`` None and ``cost_note`` says why (no op, shapes not recorded, op
  without a model, host↔device copy, communication without sizes, …).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import duckdb
import pyarrow as pa

from pipeline.gc_pause import paused_gc
from pipeline.paths import read_sql
from pipeline.roofline.context import TraceContext, file_contexts
from pipeline.roofline.models.comm import collective_from_metadata
from pipeline.roofline.models.registry import cost_of
from pipeline.roofline.shapes import Cost, NoModel, OpCall

COST_KEYS = ("flops", "bytes", "dtype", "cost_model", "cost_note")
OpKey = tuple[int, int]  # (file_id, ev) of a CPU op


def _own_ops(records: list[dict]) -> dict[tuple[int, str | None], dict[int, set[str]]]:
    """(ev, op name) → {file: stages} over records whose op lives in their own file."""
    out: dict[tuple[int, str | None], dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for r in records:
        if r.get("cpu_op_ev") is not None and r.get("attribution") != "mapped" and r.get("cpu_op_file_id") is None:
            out[(r["cpu_op_ev"], r.get("cpu_op"))][r["file_id"]].add(r.get("stage"))
    return out


class _OwnOps:
    """`_own_ops` of the records, built on first use (only mapped replays without a named op file
    need it; most traces have none)."""

    def __init__(self, records: list[dict]) -> None:
        self._records, self._built = records, None

    def get(self, key: tuple[int, str | None]) -> dict[int, set[str]]:
        if self._built is None:
            self._built = _own_ops(self._records)
        return self._built.get(key, {})


def _op_file(r: dict, own: _OwnOps) -> int | str:
    """The file holding the record's op instance, or why it cannot be told."""
    if r.get("cpu_op_file_id") is not None:
        return r["cpu_op_file_id"]
    if r.get("attribution") != "mapped":
        return r["file_id"]
    if str(r.get("mapped_from") or "").startswith("eager steps"):
        return r["file_id"]
    files = {f: st for f, st in own.get((r["cpu_op_ev"], r.get("cpu_op"))).items() if f != r["file_id"]}
    if len(files) > 1:
        files = {f: st for f, st in files.items() if r.get("stage") in st}
    if len(files) == 1:
        return next(iter(files))
    return ("the mapped op instance is in no other loaded file" if not files else
            f"the mapped op instance (ev {r['cpu_op_ev']}) is ambiguous across {len(files)} mapping files")


def _group_key(r: dict, op_file: int) -> tuple:
    if r.get("attribution") == "mapped" or op_file != r["file_id"]:
        return (r["file_id"], r.get("step"), op_file, r["cpu_op_ev"])
    return (op_file, r["cpu_op_ev"])


def _no_op_reason(r: dict) -> str:
    if r.get("is_graph") and r.get("attribution") != "mapped":
        return "graph replay not mapped to an eager op: shapes unknown"
    if r.get("family") == "communication":
        return "communication kernel without a CPU op"
    return "no CPU op launched it (unattributed)"


def fetch_ops(conn: duckdb.DuckDBPyConnection, keys: Iterable[OpKey]) -> dict[OpKey, OpCall]:
    """The recorded inputs of the given op instances (`sql/roofline/op_inputs.sql`); each distinct
    signature is parsed once and its `OpCall` shared."""
    keys = list(set(keys))  # the join does not need them in order
    wanted = pa.table({"file_id": pa.array([k[0] for k in keys], pa.int64()),
                       "ev": pa.array([k[1] for k in keys], pa.int64())})
    conn.register("_wanted", wanted)
    try:
        rows = conn.execute(read_sql("roofline/op_inputs.sql")).fetchall()
    finally:
        conn.unregister("_wanted")
    parsed: dict[tuple, OpCall] = {}
    out = {}
    for f, ev, *signature in rows:
        sig = tuple(signature)
        call = parsed.get(sig)
        if call is None:
            call = parsed[sig] = OpCall.parse(*sig)
        out[(f, ev)] = call
    return out


def _host_copy(kernels: list[dict]) -> bool:
    return any(k.get("kind") == "memcpy" and "DtoD" not in (k.get("name") or "") for k in kernels)


def _price(op: OpCall | None, kernels: list[dict], ctx: TraceContext, cache: dict) -> Cost | NoModel:
    if op is None:
        return NoModel("op instance not found in cpu_ops")
    if _host_copy(kernels):
        return NoModel(f"{op.name}: host↔device or peer copy (bound by the host link / interconnect, not modelled)")
    comm = any(k.get("family") == "communication" for k in kernels)
    if comm:
        metadata = collective_from_metadata(kernels[0], ctx)  # NCCL metadata is per kernel, not per signature
        if metadata is not None:
            return metadata
    key = (id(op), comm, id(ctx))  # OpCalls are shared per distinct signature (fetch_ops), contexts per file
    if key not in cache:
        cost = cost_of(op, ctx)
        if isinstance(cost, NoModel) and comm:
            cost = NoModel(f"{op.name}: communication without message sizes (no collective metadata, no op model)")
        cache[key] = cost
    return cache[key]


def split_by_duration(total: int, durations: list[int]) -> list[int]:
    """`total` apportioned to the durations (largest remainder): the parts sum to `total` exactly."""
    weights = durations if sum(durations) > 0 else [1] * len(durations)
    whole = sum(weights)
    parts = [total * w // whole for w in weights]
    rest = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[:rest]:
        parts[i] += 1
    return parts


def _set(records: list[dict], cost: Cost | NoModel) -> None:
    if isinstance(cost, NoModel):
        for r in records:
            r.update(flops=None, bytes=None, dtype=None, cost_model=None, cost_note=cost.reason)
        return
    durations = [max(0, r.get("dur_ns") or 0) for r in records]
    for r, f, b in zip(records, split_by_duration(cost.flops, durations), split_by_duration(cost.bytes, durations)):
        r.update(flops=f, bytes=b, dtype=cost.dtype, cost_model=cost.model, cost_note=cost.note)


def assign_costs(conn: duckdb.DuckDBPyConnection, records: list[dict]) -> None:
    """Add ``flops, bytes, dtype, cost_model, cost_note`` to every record (module docstring)."""
    with paused_gc():
        _assign(conn, records)


def _assign(conn: duckdb.DuckDBPyConnection, records: list[dict]) -> None:
    own = _OwnOps(records)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    op_of_group: dict[tuple, OpKey] = {}
    for r in records:
        if r.get("cpu_op_ev") is None:
            _set([r], NoModel(_no_op_reason(r)))
            continue
        op_file = _op_file(r, own)
        if isinstance(op_file, str):
            _set([r], NoModel(op_file))
            continue
        key = _group_key(r, op_file)
        groups[key].append(r)
        op_of_group[key] = (op_file, r["cpu_op_ev"])
    ops = fetch_ops(conn, op_of_group.values()) if op_of_group else {}
    contexts = file_contexts(conn, sorted({f for f, _ in op_of_group.values()}))
    cache: dict = {}
    for key, kernels in groups.items():
        op_file = op_of_group[key][0]
        _set(kernels, _price(ops.get(op_of_group[key]), kernels, contexts.get(op_file, TraceContext()), cache))
