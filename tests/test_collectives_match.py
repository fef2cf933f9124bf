"""Matching rules and the catalog (`pipeline/catalog/collectives.toml`) on hand-built records: keys
(process group, stream), order within a step, unmatched occurrences, metadata mismatches, the
end-alignment rule, and one test per `[[op]]` / `[dtype]` entry against NCCL-tests' formulas and
the C types' sizes."""

from __future__ import annotations

import struct

import pytest

from pipeline.analyze.collectives import analyze_collectives
from pipeline.collectives import load_config
from pipeline.collectives.match import clock_check, match_collectives, parse_ranks
from pipeline.collectives.metrics import busbw_factor

CFG = load_config()
NAME = "ncclDevKernel_AllReduce_Sum_bf16_RING_LL"


def rec(file_id: int, ev: int, ts: int, dur: int, *, step: int | None = 0, stream: int = 7, name: str = NAME,
        family: str = "communication", **meta) -> dict:
    return {"file_id": file_id, "ev": ev, "kind": "kernel", "name": name, "display_name": name, "family": family,
            "ts_ns": ts, "dur_ns": dur, "stream": stream, "step": step, "launch_ts_ns": None, **meta}


RANK_OF = {10: 0, 11: 1, 12: 2}


def test_order_within_a_step_and_the_figures() -> None:
    """Two steps; per step the k-th occurrence matches the k-th. Hand figures: instance 1 durations
    (100, 40, 70) → transfer 40, waits (60, 0, 30); instance 2 (50, 50, 90) → transfer 50, waits
    (0, 0, 40); instance 3 (step 1) (30, 20, 20) → transfer 20, waits (10, 0, 0)."""
    records = [
        rec(10, 1, 1000, 100), rec(11, 1, 1060, 40), rec(12, 1, 1030, 70),
        rec(10, 2, 2000, 50), rec(11, 2, 2000, 50), rec(12, 2, 1960, 90),
        rec(10, 3, 5000, 30, step=1), rec(11, 3, 5010, 20, step=1), rec(12, 3, 5010, 20, step=1),
    ]
    out = analyze_collectives(records, {"rank_of": RANK_OF, "rank": 0, "world_size": 3})
    [row] = out["collectives"]
    assert row["instances"] == 3 and row["transfer_ns"] == 40 + 50 + 20
    assert [(p["rank"], p["time_ns"], p["wait_ns"]) for p in row["per_rank"]] == [
        (0, 180, 70), (1, 110, 0), (2, 180, 70)]
    # ends: 1100/1100/1100, 2050/2050/2050, 5030/5030/5030 → aligned; late = last start: r1, r0/r1 tie → r0, r1/r2 → r1
    assert row["ends_aligned"] is True
    assert [p["late_count"] for p in row["per_rank"]] == [1, 2, 0]
    assert row["late_rank"] == 1 and row["late_share"] == 2 / 3
    assert row["group"] == "stream 7" and row["group_size"] == 3 and row["partial_group"] is False


def test_extra_occurrences_are_unmatched_and_mismatched_metadata_is_dropped() -> None:
    meta = dict(coll_name="allreduce", coll_in_nelems=1024, coll_out_nelems=1024, coll_dtype="BFloat16",
                coll_pg="3", coll_pg_ranks="[0, 1]", coll_group_size=2)
    other = {**meta, "coll_in_nelems": 2048, "coll_out_nelems": 2048}
    records = [
        rec(10, 1, 100, 10, **meta), rec(11, 1, 100, 10, **meta),
        rec(10, 2, 200, 10, **meta), rec(11, 2, 200, 10, **other),  # sizes disagree: dropped
        rec(10, 3, 300, 10, **meta),  # rank 0 only: unmatched
    ]
    [row] = analyze_collectives(records, {"rank_of": RANK_OF, "rank": 0})["collectives"]
    assert (row["instances"], row["mismatched"], row["unmatched"]) == (1, 1, 1)
    assert row["group"] == "process group 3 [0, 1]" and row["collective"] == "allreduce"
    assert row["bytes"] == 1024 * 2  # bf16


def test_streams_join_the_key_only_when_every_rank_agrees() -> None:
    same = [rec(10, 1, 0, 10, stream=84), rec(11, 1, 0, 10, stream=84),
            rec(10, 2, 50, 10, stream=203), rec(11, 2, 50, 10, stream=203)]
    rows = analyze_collectives(same, {"rank_of": RANK_OF})["collectives"]
    assert sorted(r["stream"] for r in rows) == [84, 203] and all(r["instances"] == 1 for r in rows)
    differ = [rec(10, 1, 0, 10, stream=84), rec(11, 1, 0, 10, stream=90)]
    [row] = analyze_collectives(differ, {"rank_of": RANK_OF})["collectives"]
    assert row["stream"] is None and row["group"] is None and row["instances"] == 1


def test_process_group_ranks_restrict_the_members() -> None:
    meta = dict(coll_name="allreduce", coll_pg="5", coll_pg_ranks="[1, 2]")
    records = [rec(11, 1, 0, 10, **meta), rec(12, 1, 0, 12, **meta), rec(10, 1, 0, 10)]  # rank 0: another key
    rows = analyze_collectives(records, {"rank_of": RANK_OF})["collectives"]
    [row] = [r for r in rows if r["process_group"] == "5"]
    assert row["ranks"] == [1, 2] and len(rows) == 1  # rank 0's kernel alone is no instance
    assert parse_ranks("[0, 1, ..., 7]") is None and parse_ranks("[0, 3]") == (0, 3)


@pytest.mark.parametrize("offset,aligned", [(0, True), (10_000, True), (10_001 * 2, False)])
def test_end_alignment_tolerance(offset: int, aligned: bool) -> None:
    """Two ranks, transfer 20 µs (0.25 × 20 µs = 5 µs < 10 µs): each end is offset/2 from the median;
    within 10 µs → aligned."""
    records = [rec(10, i, 1_000_000 * i, 20_000) for i in range(1, 11)]
    records += [rec(11, i, 1_000_000 * i + offset, 20_000) for i in range(1, 11)]
    [m] = match_collectives(records, RANK_OF)
    clock_check(m, CFG["clock"])
    assert m.comparable is aligned
    assert all(i.late == (1 if offset else 0) for i in m.instances) if aligned else all(
        i.late is None for i in m.instances)


# ---------------------------------------------------------------------------- catalog entries

# NVIDIA/nccl-tests doc/PERFORMANCE.md, "Summary": busbw = algbw × factor, by hand for n = 8
PERFORMANCE_MD = {"allreduce": 2 * 7 / 8, "allgather": 7 / 8, "reducescatter": 7 / 8, "alltoall": 7 / 8,
                  "broadcast": 1.0, "reduce": 1.0, "sendrecv": 1.0}


@pytest.mark.parametrize("op", CFG["op"], ids=[op["kind"] for op in CFG["op"]])
def test_op_entry(op: dict) -> None:
    assert "ProcessGroupNCCL.cpp" in op["source"] and "PERFORMANCE.md" in op["source"]
    for name in op["names"]:
        assert busbw_factor(name, 8, CFG) == (op["kind"], pytest.approx(PERFORMANCE_MD[op["kind"]]))
    assert busbw_factor(op["names"][0], None, CFG) == (op["kind"], None)


def test_ops_are_disjoint_and_unknown_names_have_no_factor() -> None:
    names = [n for op in CFG["op"] for n in op["names"]]
    assert len(names) == len(set(names))
    assert busbw_factor("barrier", 8, CFG) == (None, None)


# sizeof of each c10 ScalarType's C type (struct format characters; bfloat16 and float8 by their bit width)
C_SIZES = {"Byte": "B", "Char": "b", "Short": "h", "Int": "i", "Long": "q", "Half": "e", "Float": "f", "Double": "d",
           "ComplexHalf": "ee", "ComplexFloat": "ff", "ComplexDouble": "dd", "Bool": "?", "UInt16": "H",
           "UInt32": "I", "UInt64": "Q"}
BITS = {"BFloat16": 16, "Float8_e5m2": 8, "Float8_e4m3fn": 8, "Float8_e5m2fnuz": 8, "Float8_e4m3fnuz": 8}


@pytest.mark.parametrize("name", sorted(CFG["dtype"]["bytes"]))
def test_dtype_entry(name: str) -> None:
    size = CFG["dtype"]["bytes"][name]
    expected = struct.calcsize("=" + C_SIZES[name]) if name in C_SIZES else BITS[name] // 8
    assert size == expected
    assert "ScalarType.h" in CFG["dtype"]["source"]
