"""Cost models that need the trace's context: MoE ops without recorded weights (published
architectures, `pipeline/catalog/models.toml`) and collectives (bus bytes over the group).

Expectations are the arithmetic of the documented rules (docs/roofline.md), written out here."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.roofline.architectures import (ModelsFileError, architecture_for, architectures_by_code,
                                             catalog_architectures)
from pipeline.roofline.context import TraceContext, group_size
from pipeline.roofline.models.comm import collective_from_metadata
from pipeline.roofline.models.registry import CONTEXT_MODELS, cost_of, entries, entry_for
from pipeline.roofline.shapes import Cost, NoModel, OpCall
from tests.conftest import TRACES

BF = "c10::BFloat16"
B200_TRACE = TRACES / "vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0/eager_trace.json.gz"


def op(name: str, dims: list, types: list) -> OpCall:
    return OpCall.parse(name, json.dumps(dims), json.dumps(types), json.dumps([""] * len(dims)))


def ctx(model: str | None = "gpt-oss-120b", n: int | None = 8, note: str | None = None) -> TraceContext:
    return TraceContext(model, n, note, architecture_for(model))


# The B200 trace's MoE op: 888 tokens, hidden padded 2880 → 3072, router logits over 128 experts
MOE_FLOPS = 2 * 888 * 4 * (3 * 2880 * 2880) // 8
MOE_BYTES = 2 * 888 * 3072 * 2 + 888 * 128 * 2 + math.ceil(128 * 3 * 2880 * 2880 * 4.25 / 8 / 8)
# name → (dims, types, context, flops, bytes)
CASES = {
    "vllm::moe_forward": ([[888, 3072], [888, 128], []], [BF, BF, ""], ctx(), MOE_FLOPS, MOE_BYTES),
    # all-reduce of 888 × 2880 bf16 over 8 ranks: S · 2 · 7/8
    "symm_mem::multimem_all_reduce_": ([[2557440], [], []], [BF, "", ""], ctx(), 0, 2557440 * 2 * 2 * 7 // 8),
    # vLLM / SGLang custom all-reduce (int fa, Tensor inp, Tensor! out, ...): 16 × 4096 bf16 over 2 ranks
    "_C_custom_ar::all_reduce": ([[], [16, 4096], [16, 4096], [], []], ["Scalar", BF, BF, "Scalar", "Scalar"],
                                 ctx(n=2), 0, 16 * 4096 * 2 * 2 * 1 // 2),
}


def _cases() -> list[tuple[str, tuple]]:
    """A case per name of every context-model entry; a name without its own case shares the case of an
    entry with the same model and argument layout."""
    out = []
    for e in entries():
        if e.model in CONTEXT_MODELS:
            for name in e.names:
                twin = name if name in CASES else next(
                    n for n in CASES if (t := entry_for(n)).model == e.model and t.args == e.args)
                out.append((name, CASES[twin]))
    return out


@pytest.mark.parametrize("name,case", _cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_context_model_entry_costs_what_was_computed_by_hand(name: str, case: tuple) -> None:
    dims, types, context, flops, nbytes = case
    cost = cost_of(op(name, dims, types), context)
    assert isinstance(cost, Cost), cost
    assert (cost.flops, cost.bytes) == (flops, nbytes)


def test_moe_roof_is_the_activation_dtype_and_the_note_names_the_assumptions() -> None:
    cost = cost_of(op("vllm::moe_forward", [[888, 3072], [888, 128], []], [BF, BF, ""]), ctx())
    assert cost.dtype == "bf16" and cost.model == "moe_architecture"
    assert "gpt-oss-120b" in cost.note and "8 rank(s)" in cost.note and "upper bound" in cost.note


@pytest.mark.parametrize("dims,context,why", [
    ([[888, 3072], [888, 32], []], ctx(), "router logits give 32 experts"),
    ([[888, 4000], [888, 128], []], ctx(), "hidden size 4000"),
    ([[888, 3072], [888, 128], []], ctx(model="my-moe-7b"), "'my-moe-7b' is not in"),
    ([[888, 3072], [888, 128], []], ctx(model=None), "model is unknown"),
    ([[888, 3072], [888, 128], []], ctx(n=None, note="process groups of [2, 4] ranks"), "process groups of [2, 4]"),
])
def test_moe_without_a_fitting_architecture_is_not_modelled(dims: list, context: TraceContext, why: str) -> None:
    cost = cost_of(op("vllm::moe_forward", dims, [BF, BF, ""]), context)
    assert isinstance(cost, NoModel) and why in cost.reason


def test_the_moe_ops_of_the_real_b200_trace_fit_gpt_oss_120b() -> None:
    """Every moe_forward of the real trace passes the model's checks (E from the logits, padded H)."""
    with gzip.open(B200_TRACE, "rt", encoding="utf-8") as fh:
        events = json.load(fh)["traceEvents"]
    calls = [e for e in events if e.get("cat") == "cpu_op" and e["name"] == "vllm::moe_forward"]
    assert calls
    for e in calls:
        a = e["args"]
        cost = cost_of(OpCall.parse(e["name"], json.dumps(a["Input Dims"]), json.dumps(a["Input type"]),
                                    json.dumps(a["Concrete Inputs"])), ctx())
        t = a["Input Dims"][0][0]
        assert isinstance(cost, Cost) and cost.flops == 2 * t * 4 * 3 * 2880 * 2880 // 8


@pytest.mark.parametrize("experts,hidden,picked", [
    (128, 3072, "gpt-oss-120b"), (32, 2880, "gpt-oss-20b"), (64, 2880, None)])
def test_a_file_naming_no_model_is_identified_by_its_code_and_the_op_shapes(experts: int, hidden: int,
                                                                            picked: str | None) -> None:
    context = TraceContext(None, 1, None, None, None, architectures_by_code({"gpt_oss", "utils"}))
    cost = cost_of(op("vllm::moe_forward", [[10, hidden], [10, experts], []], [BF, BF, ""]), context)
    if picked is None:
        assert isinstance(cost, NoModel) and "model is unknown" in cost.reason
    else:
        assert isinstance(cost, Cost) and f"{picked}'s published config" in cost.note
        assert "models/gpt_oss.py" in cost.note


def test_two_fitting_architectures_are_not_chosen_between() -> None:
    both = architectures_by_code({"qwen3_moe"})
    twin = TraceContext(None, 1, None, None, None, both + both[:1])
    cost = cost_of(op("vllm::moe_forward", [[10, 2048], [10, 128], []], [BF, BF, ""]), twin)
    assert isinstance(cost, NoModel) and "several catalog models fit" in cost.reason


def test_the_lone_b200_file_reaches_80_percent_from_its_model_code(capsys: pytest.CaptureFixture) -> None:
    assert main(["triage", "--input", str(B200_TRACE), "--format", "json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["root"]["model"] is None
    rl = report["stages"][0]["roofline"]
    assert rl["modelled_share"] >= 0.8


@pytest.mark.parametrize("arch", catalog_architectures(), ids=lambda a: a.name)
def test_every_architecture_is_found_by_its_name_and_cites_its_config(arch) -> None:
    assert architecture_for(arch.name) is arch
    assert architecture_for(f"org/{arch.name}-Instruct") is arch  # a hub id with a suffix
    assert "huggingface.co/" in arch.source and "config.json" in arch.source
    assert str(arch.num_experts) in arch.source and str(arch.top_k) in arch.source
    assert arch.weights_per_expert == 3 * arch.hidden_size * arch.moe_intermediate_size  # all gated (SwiGLU)
    assert arch in architectures_by_code({arch.code})


def test_architecture_names_do_not_shadow_each_other() -> None:
    assert architecture_for("gpt-oss-20b").name == "gpt-oss-20b"
    assert architecture_for("gpt-oss-120b").name == "gpt-oss-120b"
    assert architecture_for("Qwen3-8B") is None


def test_models_override_adds_a_model_before_the_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "models.toml"
    f.write_text('[[model]]\nname = "my-moe"\nmatch = ["my-moe"]\nhidden_size = 64\nmoe_intermediate_size = 32\n'
                 'num_experts = 4\ntop_k = 2\nweight_bits = 16\nsource = "our config.json"\n', encoding="utf-8")
    monkeypatch.setenv("PROFTRIAGE_MODELS", str(f))
    context = TraceContext("my-moe-v2", 1, None, architecture_for("my-moe-v2"))
    cost = cost_of(op("vllm::moe_forward", [[10, 64], [10, 4], []], [BF, BF, ""]), context)
    assert cost.flops == 2 * 10 * 2 * 3 * 64 * 32
    assert cost.bytes == 2 * 10 * 64 * 2 + 10 * 4 * 2 + 4 * 3 * 64 * 32 * 2  # min(4, 20) experts at 16 bits


def test_a_bad_models_file_is_named_with_its_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "models.toml"
    f.write_text('[[model]]\nname = "x"\nmatch = ["x"]\nhidden_size = 0\n', encoding="utf-8")
    monkeypatch.setenv("PROFTRIAGE_MODELS", str(f))
    with pytest.raises(ModelsFileError) as err:
        architecture_for("x")
    assert str(f) in str(err.value)


@pytest.mark.parametrize("info,expected", [
    (None, (1, None)),
    ({"world_size": 4}, (4, None)),
    ({"world_size": 8, "pg_config": [{"pg_size": 8}, {"pg_size": 1}, {"pg_size": 8}]}, (8, None)),
    ({"world_size": 8, "pg_config": [{"pg_size": 2}, {"pg_size": 4}]}, (None, "process groups of [2, 4] ranks")),
])
def test_group_size_is_the_one_size_of_the_multi_rank_groups(info: dict | None, expected: tuple) -> None:
    size, note = group_size(info)
    assert size == expected[0] and (note is None if expected[1] is None else expected[1] in note)


def test_group_size_of_the_real_b200_trace() -> None:
    with gzip.open(B200_TRACE, "rt", encoding="utf-8") as fh:
        info = json.load(fh)["distributedInfo"]
    assert group_size(info) == (8, None)


@pytest.mark.parametrize("meta,n,expected", [
    ({"coll_name": "allreduce", "coll_in_nelems": 1000, "coll_out_nelems": 1000, "coll_dtype": "Float",
      "coll_group_size": 4}, None, 1000 * 4 * 2 * 3 / 4),
    ({"coll_name": "_allgather_base", "coll_in_nelems": 250, "coll_out_nelems": 1000, "coll_dtype": "BFloat16",
      "coll_group_size": None}, 4, 1000 * 2 * 3 / 4),
    ({"coll_name": "send", "coll_in_nelems": 10, "coll_out_nelems": 10, "coll_dtype": "Float"}, 2, 40),
])
def test_nccl_metadata_prices_a_collective_kernel(meta: dict, n: int | None, expected: float) -> None:
    cost = collective_from_metadata({"name": "ncclDevKernel_X", **meta}, TraceContext(group_size=n))
    assert isinstance(cost, Cost) and cost.bytes == round(expected) and cost.flops == 0


def test_a_kernel_without_collective_sizes_is_left_to_its_op() -> None:
    assert collective_from_metadata({"name": "ncclDevKernel_X"}, TraceContext()) is None
