"""Slot-wise attribution of graph replays: mapping trace, eager steps, another root (cross_root) — against
tracegen ground truth — and the cross-root refusals."""

from __future__ import annotations

from pathlib import Path

import re

import orjson
import pytest

from pipeline.align.cross_root import attribute_cross_root
from pipeline.attribute import attribute_files, ok_file_ids
from pipeline.frames import choose_site
from pipeline.ingest import ingest_inputs
from pipeline.layers import assign_layers
from pipeline.report.triage import triage_root
from pipeline.store import Warehouse
from tracegen import BASE_NS, GroundTruth, ModelSpec, file_name, make_pair, make_trace_with_truth, write_trace
from tests.conftest import ingest_generated_pair

MOE = {"moe": True, "dense_layers": 1, "shell": True}


def _raw(frame: str) -> str:
    """'pkg/a.py:12 f' (generator ground truth) → 'pkg/a.py(12): f' (trace frame name)."""
    m = re.match(r"^(.*?\.py):(\d+) (.*)$", frame)
    return f"{m[1]}({m[2]}): {m[3]}" if m else frame


def _true_site(truth: GroundTruth, r: dict) -> str | None:
    t = truth.get(r)
    return choose_site([_raw(f) for f in t.stack]) if t else None


def _graph_share(records: list[dict], ok) -> float:
    graph = [r for r in records if r["is_graph"]]
    return sum(r["dur_ns"] for r in graph if ok(r)) / sum(r["dur_ns"] for r in graph)


@pytest.mark.parametrize("framework", ["sglang", "vllm"])
def test_mapping_pair_by_slots_gives_the_true_site(framework: str, tmp_path: Path, spool: Path) -> None:
    mapping, formal, truth = make_pair(ModelSpec(layers=5, framework=framework, **MOE), steps=3, seed=5)
    wh, root = ingest_generated_pair(mapping, formal, framework, tmp_path, spool)
    with wh.connect() as conn:
        report = triage_root(conn, root)
        rows = conn.execute("SELECT k.ev, k.stream, k.ts_ns, k.dur_ns, k.site, k.attribution, k.is_graph "
                            "FROM kernel_facts k JOIN trace_files f USING (file_id) WHERE f.role = 'formal'").fetchall()
    [stage] = report["stages"]
    assert stage["alignment"]["method"] == "layer slots" and stage["alignment"]["by_time"] >= 0.99
    records = [dict(zip(("ev", "stream", "ts_ns", "dur_ns", "site", "attribution", "is_graph"), r)) for r in rows]
    assert _graph_share(records, lambda r: r["attribution"] == "mapped" and r["site"] == _true_site(truth, r)) >= 0.99


def test_eager_steps_map_the_graph_steps_of_the_same_trace(tmp_path: Path, spool: Path) -> None:
    """SGLang extends eagerly and decodes as graph replays: the extend steps lend their sites by slot."""
    obj, truth = make_trace_with_truth(ModelSpec(layers=5, **MOE), steps=3, mode="graph", eager_prefill_steps=2)
    write_trace(obj, tmp_path / "root" / file_name("sglang", stage="decode"))
    wh = Warehouse(None)
    [summary] = ingest_inputs([tmp_path / "root"], wh, spool)
    with wh.connect() as conn:
        report = triage_root(conn, summary.root)
        records = attribute_files(conn, ok_file_ids(conn, summary.root))  # fresh: graph replays without a site
    decode = next(s for s in report["stages"] if s["stage"] == "decode")
    assert decode["alignment"]["source"] == "eager steps of this trace"
    assert decode["alignment"]["method"] == "layer slots" and decode["alignment"]["by_time"] >= 0.99
    assert decode["coverage"]["by_attribution_ns"]["mapped"] >= 0.99 * sum(
        r["dur_ns"] for r in records if r["is_graph"])


def _root(tmp_path: Path, name: str, mode: str, layers: int, base_shift_s: int, **extra) -> tuple[Path, GroundTruth]:
    """A generated SGLang root of model acme/moe-demo, captured `base_shift_s` seconds after the others' base."""
    obj, truth = make_trace_with_truth(ModelSpec(layers=layers, **{**MOE, **extra}), steps=2, mode=mode, seed=7)
    obj["baseTimeNanoseconds"] = BASE_NS + base_shift_s * 1_000_000_000
    root = tmp_path / name
    write_trace(obj, root / file_name("sglang", stage="decode"))
    (root / "server_args.json").write_bytes(orjson.dumps({"model_path": "acme/moe-demo"}))
    return root, truth


def test_cross_root_takes_the_most_recent_eager_root_and_says_why_others_were_refused(tmp_path: Path,
                                                                                         spool: Path) -> None:
    eager, _ = _root(tmp_path, "eager-old", "eager", 6, 0)
    refused_layers, _ = _root(tmp_path, "eager-4-layers", "eager", 4, 30)
    refused_slots, _ = _root(tmp_path, "eager-dense", "eager", 6, 40, moe=False)
    refused_graph, _ = _root(tmp_path, "graph-other", "graph", 6, 50)
    graph, truth = _root(tmp_path, "graph", "graph", 6, 60)
    wh = Warehouse(None)
    ingest_inputs([eager, refused_layers, refused_slots, refused_graph, graph], wh, spool)
    with wh.connect() as conn:
        key = next(r for (r,) in conn.execute("SELECT root FROM trace_roots").fetchall() if r.endswith("graph"))
        report = triage_root(conn, key)
        records = conn.execute("SELECT ev, stream, ts_ns, dur_ns, site, attribution, is_graph, input_dims "
                               "FROM kernel_facts WHERE root = ?", [key]).fetchall()
    [stage] = report["stages"]
    cross = stage["cross_root"]
    assert cross["source_root"].endswith("eager-old") and cross["layers"] == 6 and cross["by_time"] >= 0.99
    reasons = {r["root"].rsplit("/", 1)[-1]: r["reason"] for r in cross["refused"]}
    assert list(reasons) == ["graph-other", "eager-dense", "eager-4-layers"]  # most recent first
    assert reasons["eager-4-layers"].startswith("4 layers per forward pass")
    assert reasons["eager-dense"].startswith("layer slots differ")
    assert reasons["graph-other"].startswith("no eager forward pass")
    rows = [dict(zip(("ev", "stream", "ts_ns", "dur_ns", "site", "attribution", "is_graph", "input_dims"), r))
            for r in records]
    assert _graph_share(rows, lambda r: r["attribution"] == "cross_root"
                        and r["site"] == "cross_root: " + _true_site(truth, r)) >= 0.99
    assert all(r["input_dims"] for r in rows if r["attribution"] == "cross_root")


def test_cross_root_takes_source_records_from_the_caller(tmp_path: Path, spool: Path) -> None:
    """`sources` (root → kernel records) stands for the stored facts: the lead can feed them."""
    eager, _ = _root(tmp_path, "eager-old", "eager", 6, 0)
    graph, truth = _root(tmp_path, "graph", "graph", 6, 60)
    wh = Warehouse(None)
    ingest_inputs([eager, graph], wh, spool)
    with wh.connect() as conn:
        keys = {r.rsplit("/", 1)[-1]: r for (r,) in conn.execute("SELECT root FROM trace_roots").fetchall()}
        source = attribute_files(conn, ok_file_ids(conn, keys["eager-old"]))
        assign_layers(source)
        target = attribute_files(conn, ok_file_ids(conn, keys["graph"]))
        assign_layers(target)
        result = attribute_cross_root(conn, keys["graph"], target, sources={keys["eager-old"]: source})
    assert result["decode"]["source_root"] == keys["eager-old"]
    assert _graph_share(target, lambda r: r["site"] == "cross_root: " + _true_site(truth, r)) >= 0.99


def test_an_eager_extend_maps_piecewise_extends_and_graph_decodes_of_the_same_trace(tmp_path: Path,
                                                                                    spool: Path) -> None:
    """The production shape of issue 18 (SGLang): a long extend runs eagerly, shorter extends replay piecewise
    graphs around eager attention, decode replays a full graph — one trace, no graph-off capture."""
    obj, truth = make_trace_with_truth(ModelSpec(layers=5, **MOE), steps=2, mode="graph", eager_prefill_steps=1,
                                       piecewise_prefill_steps=2)
    write_trace(obj, tmp_path / "root" / file_name("sglang", stage="decode"))
    wh = Warehouse(None)
    [summary] = ingest_inputs([tmp_path / "root"], wh, spool)
    with wh.connect() as conn:
        report = triage_root(conn, summary.root)
        rows = conn.execute("SELECT ev, stream, ts_ns, dur_ns, site, attribution, is_graph, stage "
                            "FROM kernel_facts WHERE root = ?", [summary.root]).fetchall()
    records = [dict(zip(("ev", "stream", "ts_ns", "dur_ns", "site", "attribution", "is_graph", "stage"), r))
               for r in rows]
    for stage in ("prefill", "decode"):
        mine = [r for r in records if r["stage"] == stage]
        assert any(r["is_graph"] for r in mine), stage
        assert _graph_share(mine, lambda r: r["attribution"] == "mapped" and r["site"] == _true_site(truth, r)) \
            >= 0.99, stage
        part = next(s for s in report["stages"] if s["stage"] == stage)
        assert part["layers"]["count"] == 5 and part["alignment"]["source"] == "eager steps of this trace"
