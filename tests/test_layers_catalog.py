"""The two catalogs of issue 18, one test per entry: layer-slot groups and kernel → upstream call site."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from pipeline.align.catalog import PROJECTION, catalog_site, lookup, site_entries
from pipeline.attribute import attribute_files, ok_file_ids
from pipeline.classify import classify
from pipeline.ingest import ingest_inputs
from pipeline.layers import assign_layers
from pipeline.layers.groups import GEMM, base_group, group_labels, group_rules, rule_of
from pipeline.store import Warehouse
from tests.conftest import TRACES

EAGER_ROOTS = {  # corpus traces whose eager kernels carry their Python stack, and their framework / model
    "sglang/qwen3-8b-mi300x-extend-eager-bs15": ("sglang", "Qwen3-8B"),
    "vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0": ("vllm", "gpt-oss-120b"),
    "vllm/gpt-oss-20b-mi300x-mixed-piecewisegraph": ("vllm", "gpt-oss-20b"),
}
PACKAGE = {"sglang": "sglang/", "vllm": "vllm/", "trtllm": "tensorrt_llm/"}


# ---------------------------------------------------------------------------------------------
# layer_groups.toml
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", group_rules(), ids=lambda r: r.id)
def test_group_rule(rule) -> None:
    """Each example lands in the rule's group through this very rule."""
    assert rule.group in group_labels() or rule.group == GEMM
    assert (rule.pattern is None) != (rule.family is None) and rule.source and rule.examples
    for name in rule.examples:
        assert rule_of(name, classify(name)) == rule.id, name
        assert base_group(name, classify(name)) == rule.group, name


def test_group_labels_cover_the_issue_table() -> None:
    labels = set(group_labels().values())
    assert {"attention", "qkv/o GEMM", "q/k-norm + rope", "router/top-k", "expert GEMM", "MoE finalize",
            "all-reduce/communication", "norm", "activation", "KV-cache store", "other"} <= labels


# ---------------------------------------------------------------------------------------------
# kernel_sites.toml
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def eager_kernels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """Eager (non-graph) kernels of the corpus traces with Python stacks, with layer keys: {root: records}."""
    spool = tmp_path_factory.mktemp("spool")
    wh = Warehouse(None)
    out = {}
    for rel in EAGER_ROOTS:
        [summary] = ingest_inputs([TRACES / rel], wh, spool)
        with wh.connect() as conn:
            records = attribute_files(conn, ok_file_ids(conn, summary.root))
        assign_layers(records)
        out[rel] = [r for r in records if not r["is_graph"]]
    return out


@pytest.mark.parametrize("entry", site_entries(), ids=lambda e: e.id)
def test_site_entry_format(entry) -> None:
    assert set(entry.frameworks) <= set(PACKAGE) and entry.examples and entry.checked
    assert all(entry.file.startswith(PACKAGE[f]) for f in entry.frameworks) and entry.file.endswith(".py")
    owner_repo, path = entry.upstream.split(" ", 1)
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", owner_repo) and path.endswith(".py")
    assert catalog_site(entry, "qkv").startswith("catalog: ") and catalog_site(entry, "qkv").endswith("(qkv_proj)")


@pytest.mark.parametrize("entry", site_entries(), ids=lambda e: e.id)
def test_site_entry_examples_resolve_to_it(entry) -> None:
    role = entry.roles[0] if entry.roles else None
    model = entry.models[0] if entry.models else None
    for fw in entry.frameworks:
        for name in entry.examples:
            assert lookup(name, fw, role, model) is entry, (fw, name)


@pytest.mark.parametrize("entry", site_entries(), ids=lambda e: e.id)
def test_site_entry_agrees_with_the_corpus_stacks(entry, eager_kernels) -> None:
    """Where a corpus trace launches this entry's kernels eagerly, their Python stack holds the site's file
    (or, behind a custom op, their op is one and the file is on that trace's stacks)."""
    matched: dict[str, list[dict]] = defaultdict(list)
    for rel, records in eager_kernels.items():
        fw, model = EAGER_ROOTS[rel]
        for r in records:
            if lookup(r["name"], fw, r.get("slot_role"), model) is entry:
                matched[rel].append(r)
    on_stack = lambda r: any(f.startswith(tuple(p + ":" for p in entry.files)) for f in r["stack"] or ())  # noqa: E731
    for rel, rows in matched.items():
        if entry.behind_custom_op:
            assert all(r["cpu_op"] and "::" in r["cpu_op"] and not r["cpu_op"].startswith("aten::") for r in rows)
            assert any(on_stack(r) for r in eager_kernels[rel]), rel
        else:
            assert sum(map(on_stack, rows)) >= 0.9 * len(rows), (rel, len(rows))


def test_corpus_eager_kernels_that_the_catalog_claims_are_backed(eager_kernels) -> None:
    """Every entry that matches corpus kernels was checked above; the corpus exercises most entries."""
    used = {lookup(r["name"], EAGER_ROOTS[rel][0], r.get("slot_role"), EAGER_ROOTS[rel][1])
            for rel, rs in eager_kernels.items() for r in rs} - {None}
    assert len(used) >= 12


def test_projection_names_cover_the_slot_roles() -> None:
    assert set(PROJECTION) == {"qkv", "o", "gate_up", "down", "router", "mlp"}
