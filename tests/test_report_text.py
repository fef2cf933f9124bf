"""What the markdown report says (issue 22): near misses, alignment source, the same-stream
measures, the overlap legend, recommendations, outside-step activity, names in code spans."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from pipeline.ingest import ingest_inputs
from pipeline.render.markdown import PART_WIDTH, render_report_markdown
from pipeline.report.read import TriageOptions
from pipeline.report.triage import triage_root
from pipeline.store import Warehouse
from pipeline.report.headline import fmt_ns
from tests.conftest import TRACES, load_json_exact, us_to_ns
from tracegen import ModelSpec, file_name, make_pair, make_trace_with_truth, write_trace

B200 = TRACES / "vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0"


def _report(path: Path, spool: Path) -> dict:
    wh = Warehouse(None)
    summaries = ingest_inputs([path], wh, spool)
    with wh.connect() as conn:
        return triage_root(conn, summaries[0].root, TriageOptions(overlap_limit=None))


@pytest.fixture(scope="module")
def b200(tmp_path_factory) -> tuple[dict, str]:
    report = _report(B200, tmp_path_factory.mktemp("spool"))
    return report, render_report_markdown(report)


def _section(text: str, title: str) -> str:
    """The lines of the first section whose heading ends with `title`, up to the next heading."""
    start = next(i for i, ln in enumerate(text.splitlines()) if ln.startswith("#") and ln.endswith(title))
    lines = text.splitlines()[start + 1:]
    end = next((i for i, ln in enumerate(lines) if ln.startswith("#")), len(lines))
    return "\n".join(lines[:end])


def test_near_miss_lines_never_end_in_an_empty_missing(b200) -> None:
    report, text = b200
    misses = report["stages"][0]["near_misses"]
    lines = [ln for ln in text.splitlines() if ln.startswith("- `") and " — " in ln and "never adjacent" in ln
             or ln.startswith("- `") and "; missing " in ln]
    assert misses and len(lines) == len(misses)
    for line, miss in zip(lines, misses):
        assert not re.search(r"missing\s*$", line)
        if miss["level"] == "low":  # every part is there: the line says so instead of listing nothing
            assert miss["missing"] == [] and "every part occurs" in line and "never adjacent in stream order" in line
    assert "low: every part occurs in the stage, but never two of them adjacent" in text


def test_alignment_headline_names_the_stored_source(tmp_path: Path, spool: Path) -> None:
    # one trace: eager prefill steps, then graph-replayed decode steps mapped from them
    obj, _ = make_trace_with_truth(ModelSpec(layers=2), steps=2, mode="graph", stage="decode", eager_prefill_steps=1)
    path = write_trace(obj, tmp_path / "one" / file_name("sglang", stage="decode", role="single"))
    [decode] = [s for s in _report(path.parent, spool)["stages"] if s["alignment"]]
    assert decode["alignment"]["source"] == "eager steps of this trace"
    assert "from the eager steps of this trace" in decode["headline"] and "mapping trace" not in decode["headline"]
    # a mapping/formal pair: the mapping trace
    mapping, formal, _ = make_pair(ModelSpec(layers=2), steps=2)
    root = tmp_path / "pair"
    write_trace(mapping, root / file_name("sglang", stage="decode", role="mapping"))
    write_trace(formal, root / file_name("sglang", stage="decode", role="formal"))
    [decode] = [s for s in _report(root, spool / "2")["stages"] if s["alignment"]]
    assert decode["alignment"]["source"].startswith("mapping trace")
    assert f"from the {decode['alignment']['source']}" in decode["headline"]


def test_no_pointer_to_a_section_that_does_not_exist(b200) -> None:
    report, text = b200
    [stage] = report["stages"]
    assert "single stream" in stage["overlap_note"] and "anomalies" not in stage["overlap_note"]
    an = stage["anomalies"]
    assert (f"| anomalies | {an['same_stream_contained']} contained ({fmt_ns(an['same_stream_contained_ns'])}), "
            f"{an['bad_durations']} bad durations |" in text)
    assert f"| same-stream overlap (PDL) | {fmt_ns(stage['pdl_overlap_ns'])} in {stage['pdl_overlaps']} kernels |" in text


def test_overlap_table_has_a_legend_gain_and_recommendations(b200) -> None:
    report, text = b200
    overlap = _section(text, "Overlap opportunities")
    for term in ("**verdict**", "**gain**", "**priority**", "**dep. risk**", "a P0 with less kernel time sorts above"):
        assert term in overlap
    header = next(ln for ln in overlap.splitlines() if ln.startswith("| kernel |"))
    assert "| gain |" in header and header.endswith("| recommendation |")
    for row in report["stages"][0]["overlap"]:
        assert row["recommendation"] in overlap


def test_outside_step_activity_is_in_the_header(b200) -> None:
    report, text = b200
    # from the raw trace: GPU activities outside the step's GPU-side window (gpu_user_annotation)
    events = load_json_exact(next(B200.glob("*.json.gz")))["traceEvents"]
    [step] = [e for e in events if e.get("cat") == "gpu_user_annotation" and e["name"].startswith("execute_context")]
    outside = [e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")
               and not step["ts"] <= e["ts"] <= step["ts"] + step["dur"]]
    assert outside and report["outside_steps"]["kernels"] == len(outside)
    time = fmt_ns(sum(us_to_ns(e["dur"]) for e in outside))
    word = "activity" if len(outside) == 1 else "activities"
    assert f"| outside steps | {len(outside)} GPU {word}, {time} — GPU activity outside every step window" in text


def test_names_sites_and_ops_are_code_spans_without_backslashes(b200) -> None:
    report, text = b200
    kernels = _section(text, "Kernels")
    rows = [ln for ln in kernels.splitlines() if re.match(r"\| \d+ \|", ln)]
    assert rows and all("\\_" not in ln and "\\<" not in ln for ln in rows)
    html = MarkdownIt("commonmark").enable("table").render(kernels)
    first = report["stages"][0]["kernels"][0]
    assert f"<code>{first['site']}</code>" in html and f"<code>{first['cpu_op']}</code>" in html


def test_shortened_names_are_listed_in_full(b200) -> None:
    report, text = b200
    index = _section(text, "Kernel names in full")
    long = [r["name"] for r in report["stages"][0]["kernels"] if len(r["name"]) > PART_WIDTH]
    assert long and all(f"- `{name}`" in index for name in long)
    assert any(name.endswith("swiGlu_dynBatch_sm100f") for name in long)  # the tail that tells two bmm kernels apart


def test_compiled_templates_are_kept_between_processes(b200, tmp_path: Path, monkeypatch) -> None:
    """Templates compiled once are read back from the state directory (no compile), render the same
    text, and a state directory that cannot be created only means no cache."""
    from pipeline.render.markdown import environment

    report, text = b200
    monkeypatch.setenv("PROFTRIAGE_STATE_DIR", str(tmp_path / "state"))
    environment.cache_clear()
    try:
        first = render_report_markdown(report)
        kept = list((tmp_path / "state" / "cache" / "templates").iterdir())
        environment.cache_clear()  # as a new process would start

        def no_compile(*args, **kwargs):
            raise AssertionError("a kept template was compiled again")

        monkeypatch.setattr(environment(), "compile", no_compile)
        second = render_report_markdown(report)
        (tmp_path / "blocked").write_text("")  # a file where the state directory would be
        monkeypatch.setenv("PROFTRIAGE_STATE_DIR", str(tmp_path / "blocked"))
        environment.cache_clear()
        third = render_report_markdown(report)
    finally:
        environment.cache_clear()
    assert first == second == third == text and len(kept) >= 10
