"""Shared fixtures: the real traces in tests/data and helpers to ingest them."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
TRACES = DATA / "traces"
REAL_TRACE_FILES = sorted(TRACES.glob("*/*/*.json.gz"))
REAL_ROOTS = sorted({p.parent for p in REAL_TRACE_FILES})


def load_json_exact(path: Path) -> dict:
    """Independent reader for recounts: stdlib json with Decimal floats (exact ns)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh, parse_float=Decimal)


def us_to_ns(value) -> int:
    """Exact µs (Decimal or int) → ns."""
    return int(Decimal(value) * 1000)


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    path = tmp_path / "spool"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's state (warehouse, bundles) inside its tmp dir."""
    monkeypatch.setenv("PROFTRIAGE_STATE_DIR", str(tmp_path / "state"))


def analyze_all(conn) -> list[str]:
    """`proftriage analyze` of every root in the warehouse (facts, then the stored report)."""
    from pipeline.report.triage import analyze

    roots = [r for (r,) in conn.execute("SELECT root FROM trace_roots ORDER BY root").fetchall()]
    for root in roots:
        analyze(conn, root)
    return roots


def ingest_generated_pair(mapping: dict, formal: dict, framework: str, tmp_path: Path, spool: Path):
    """Write a generated mapping/formal decode pair (tracegen.make_pair) as the framework names its files,
    ingest it as one root into an in-memory warehouse; return (warehouse, root key)."""
    from pipeline.discover import pair_root
    from pipeline.ingest import ingest_root
    from pipeline.store import Warehouse
    from tracegen import file_name, write_trace

    mp = write_trace(mapping, tmp_path / "m" / file_name(framework, stage="decode", role="mapping"))
    fm = write_trace(formal, tmp_path / "f" / file_name(framework, stage="decode", role="formal"))
    wh, root = Warehouse(None), pair_root(mp, fm)
    ingest_root(root, wh, spool)
    return wh, root.key


EAGER_EXTEND = TRACES / "sglang/qwen3-8b-mi300x-extend-eager-bs15/sglang_Qwen3-8B_prefilldecode.json.gz"


def big_ingest_root(tmp_path: Path) -> Path:
    """A root whose parse takes a while (the real eager extend trace's events four times, ~60 MB):
    long enough to interrupt a command in the middle."""
    import orjson

    doc = orjson.loads(gzip.decompress(EAGER_EXTEND.read_bytes()))
    doc["traceEvents"] = doc["traceEvents"] * 4
    root = tmp_path / "data" / "big"
    root.mkdir(parents=True)
    (root / "big.trace.json").write_bytes(orjson.dumps(doc))
    return root
