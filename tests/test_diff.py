"""`proftriage diff` on real traces: a trace with itself and with the same trace written in another valid
spelling is all zeros; a copy with one kernel scaled names that kernel first, with the injected delta,
and nothing else as significant. Expectations come from the raw trace files, not from the diff code."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from pipeline.classify import display_name
from pipeline.cli import main
from tests.conftest import TRACES, load_json_exact, us_to_ns
from tracegen.respell import dumps_respelled, load_exact, scale_kernel, to_absolute, to_relative, write_text

SELF_ROOTS = {
    "sglang-extend-1-step": TRACES / "sglang/qwen3-8b-mi300x-extend-eager-bs15",
    "vllm-piecewise-graph": TRACES / "vllm/gpt-oss-20b-mi300x-mixed-piecewisegraph",
    "hta-resnet-5-steps": TRACES / "other/hta-ns-resolution-v100-resnet-training",
    "hta-2-ranks": TRACES / "other/hta-2rank-sendrecv",
    "gpu-only-no-steps": TRACES / "other/gpu-only-mi210-no-cpu-events",
}
RESNET = TRACES / "other/hta-ns-resolution-v100-resnet-training"
SGLANG_EXTEND = TRACES / "sglang/qwen3-8b-mi300x-extend-eager-bs15"


def run_diff(capsys: pytest.CaptureFixture, *args: str) -> dict:
    assert main(["diff", *map(str, args), "--format", "json", "--cutoff", "0", "-q"]) == 0
    return orjson.loads(capsys.readouterr().out)


def assert_all_zero(diff: dict) -> None:
    """Zero delta everywhere and nothing significant."""
    assert diff["stages"]
    for stage in diff["stages"]:
        assert stage["present"] == "both" and stage["delta_ns"] == 0 and stage["significant"] is False
        assert stage["significant_count"] == 0
        assert all(t["delta"] in (0, None) for t in stage["totals"].values()), stage["totals"]
        assert stage["coverage"]["delta_site_share"] in (0, None)
        assert stage["fusions"] == [] and stage["launch_groups"] == []
        for row in stage["kernels"] + stage["families"]:
            assert row["delta_ns"] == 0 and row["change"] == "same" and row["significant"] is False, row
        assert all(k.get("match") == "site" for k in stage["kernels"])


def raw_gpu_time_ns(root: Path) -> int:
    """Summed GPU activity time of every trace file of a root, from the raw JSON."""
    return sum(us_to_ns(e["dur"]) for path in root.glob("*.json.gz") for e in load_json_exact(path)["traceEvents"]
               if isinstance(e, dict) and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset"))


@pytest.mark.parametrize("name", sorted(SELF_ROOTS))
def test_a_trace_diffed_with_itself_is_all_zeros(name: str, capsys: pytest.CaptureFixture) -> None:
    root = SELF_ROOTS[name]
    diff = run_diff(capsys, root, root)
    assert_all_zero(diff)
    assert diff["variant"]["root"] == diff["base"]["root"] + "@variant"  # two copies, never one set of rows
    for stage in diff["stages"]:  # every kernel row of both sides is listed, each exactly once
        assert sum(k["base_total_ns"] for k in stage["kernels"]) == stage["totals"]["kernel_time_ns"]["base"]
    in_stages, raw = sum(s["totals"]["kernel_time_ns"]["base"] for s in diff["stages"]), raw_gpu_time_ns(root)
    if name == "gpu-only-no-steps":  # no step annotations: every activity is in the one stage
        assert in_stages == raw
    else:  # activities outside the steps, and other ranks than the default view's, are not in the stages
        assert 0 < in_stages <= raw


def test_noise_is_unknown_with_one_step_and_known_with_several(capsys: pytest.CaptureFixture) -> None:
    [one] = run_diff(capsys, SGLANG_EXTEND, SGLANG_EXTEND)["stages"]
    assert one["base_steps"] == one["variant_steps"] == 1 and one["noise_ns"] is None
    assert "one step per side" in one["noise_note"] and "noise unknown" in one["summary"]
    [five] = run_diff(capsys, RESNET, RESNET)["stages"]
    assert five["basis"] == "per_step" and five["base_steps"] == 5 and five["noise_ns"] > 0
    [none] = run_diff(capsys, SELF_ROOTS["gpu-only-no-steps"], SELF_ROOTS["gpu-only-no-steps"])["stages"]
    assert none["basis"] == "total" and "no step annotations" in none["noise_note"]


@pytest.mark.parametrize("case", ["relative-to-absolute", "absolute-to-relative"])
def test_the_same_trace_in_another_spelling_diffs_to_zero(case: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    root = SGLANG_EXTEND if case == "relative-to-absolute" else RESNET
    src = next(root.glob("*.json.gz"))
    obj = load_exact(src)
    other = to_absolute(obj) if case == "relative-to-absolute" else to_relative(obj, 1712170000000000000)
    copy = write_text(dumps_respelled(other), tmp_path / root.name / src.name)
    text = gzip.open(copy, "rt").read(4096)
    assert '" :  ' in text and "\t" in text  # really another spelling
    first_ts = next(e["ts"] for e in obj["traceEvents"] if "ts" in e)
    assert next(e["ts"] for e in load_exact(copy)["traceEvents"] if "ts" in e) != first_ts
    diff = run_diff(capsys, root, copy.parent)
    assert_all_zero(diff)
    assert diff["warnings"] == []


def _one_row_kernel(doc: dict) -> str:
    """The raw kernel name with the most time whose display name no other raw name shares."""
    times: dict[str, Decimal] = {}
    for e in doc["traceEvents"]:
        if isinstance(e, dict) and e.get("cat") == "kernel":
            times[e["name"]] = times.get(e["name"], Decimal(0)) + Decimal(e["dur"])
    shown: dict[str, int] = {}
    for name in times:
        shown[display_name(name)] = shown.get(display_name(name), 0) + 1
    return max((n for n in times if shown[display_name(n)] == 1), key=lambda n: times[n])


def test_an_injected_regression_is_the_top_row_and_the_only_significant_one(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture) -> None:
    src = next(RESNET.glob("*.json.gz"))
    obj = load_exact(src)
    name = _one_row_kernel(obj)
    factor = Decimal("1.25")
    scaled = scale_kernel(obj, name, factor)
    before = sum(us_to_ns(e["dur"]) for e in obj["traceEvents"] if isinstance(e, dict) and e.get("name") == name
                 and e.get("cat") == "kernel")
    after = sum(us_to_ns(e["dur"]) for e in scaled["traceEvents"] if isinstance(e, dict) and e.get("name") == name
                and e.get("cat") == "kernel")
    copy = write_text(dumps_respelled(scaled), tmp_path / RESNET.name / src.name)
    [stage] = run_diff(capsys, RESNET, copy.parent)["stages"]
    steps = stage["base_steps"]
    injected = (after - before) / steps  # per step, from the raw trace
    top = stage["kernels"][0]
    assert top["name"] == display_name(name) and top["change"] == "slower" and top["significant"]
    assert top["delta_ns"] == pytest.approx(injected, rel=0.01)
    assert [k["name"] for k in stage["kernels"] if k["significant"]] == [display_name(name)]
    assert all(k["delta_ns"] == 0 for k in stage["kernels"][1:])
    assert stage["delta_ns"] == pytest.approx(injected, rel=0.01)
    assert stage["significant_count"] == 1 and "1 significant change" in stage["summary"]


def test_markdown_has_a_summary_line_per_stage_and_rows_by_delta(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    src = next(RESNET.glob("*.json.gz"))
    obj = load_exact(src)
    name = _one_row_kernel(obj)
    copy = write_text(dumps_respelled(scale_kernel(obj, name, Decimal(2))), tmp_path / RESNET.name / src.name)
    assert main(["diff", str(RESNET), str(copy.parent), "-q"]) == 0
    text = capsys.readouterr().out
    assert "- all +" in text and "1 significant change" in text and "per step)" in text
    table = text.split("### Kernels", 1)[1].split("### Families", 1)[0]
    assert "| 1 | `" + display_name(name)[:20] in table
    assert "rows whose change is under the 1.0 % per-row cutoff are hidden" in table


def test_bad_sides_are_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["diff", str(tmp_path / "nope"), str(RESNET), "-q"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["diff", str(TRACES), str(RESNET), "-q"]) == 2
    err = capsys.readouterr().err
    assert "trace roots" in err and "give one" in err
    assert main(["diff", str(RESNET), str(RESNET), "--stage", "decode", "-q"]) == 2
    assert "--stage decode" in capsys.readouterr().err
