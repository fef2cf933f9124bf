"""Dynamic partitions: one `trace_roots` key per trace root, one `bundles` key per framework × model.

`trace_roots` keys are `TraceRoot.key` (the root's path under the data root, already sanitised by
discovery); `bundles` keys are `pipeline.render.bundle.bundle_key(framework, model)`, e.g.
`sglang/Qwen3-8B`. Both are validated here before they reach an instance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import dagster as dg

from pipeline.render.bundle import bundle_key
from pipeline.discover import TraceRoot

trace_roots = dg.DynamicPartitionsDefinition(name="trace_roots")
bundles = dg.DynamicPartitionsDefinition(name="bundles")

# Characters Dagster reserves in (multi-)partition keys or the CLI range syntax, plus whitespace.
_BAD_KEY = re.compile(r"[|,\[\]\s\x00-\x1f]|\.\.\.")


class InvalidPartitionKey(ValueError):
    """A key that Dagster cannot use safely."""


def validate_key(key: str) -> str:
    """Return `key` unchanged, or raise `InvalidPartitionKey` saying what is wrong with it."""
    if not key or len(key) > 512:
        raise InvalidPartitionKey(f"partition key must be 1..512 characters: {key!r}")
    bad = _BAD_KEY.search(key)
    if bad:
        raise InvalidPartitionKey(f"partition key {key!r} contains {bad.group(0)!r} (| , [ ] ... and whitespace are reserved)")
    return key


def bundle_key_of(root: TraceRoot) -> str:
    """The `bundles` key a trace root belongs to."""
    return validate_key(bundle_key(root.framework, root.model))


def bundle_parts(key: str) -> tuple[str, str]:
    """Split a `bundles` key into (framework, model slug)."""
    framework, sep, model = validate_key(key).partition("/")
    if not sep or not model:
        raise InvalidPartitionKey(f"bundle key {key!r} is not '<framework>/<model>'")
    return framework, model


def model_of_bundle(key: str) -> str:
    """The model slug of a `bundles` key."""
    return bundle_parts(key)[1]


@dataclass(frozen=True)
class Registration:
    """What a discovery pass would add to an instance."""

    roots: list[str]
    bundles: list[str]

    def requests(self) -> list[dg.AddDynamicPartitionsRequest]:
        """`SensorResult.dynamic_partitions_requests` for these keys (empty lists dropped)."""
        out = []
        if self.roots:
            out.append(trace_roots.build_add_request(self.roots))
        if self.bundles:
            out.append(bundles.build_add_request(self.bundles))
        return out


def new_partitions(roots: Iterable[TraceRoot], known_roots: Iterable[str], known_bundles: Iterable[str]) -> Registration:
    """Keys of `roots` (and of their bundles) that are not known yet, validated, in first-seen order."""
    seen_roots, seen_bundles = set(known_roots), set(known_bundles)
    add_roots: list[str] = []
    add_bundles: list[str] = []
    for root in roots:
        key = validate_key(root.key)
        if key not in seen_roots:
            seen_roots.add(key)
            add_roots.append(key)
        bkey = bundle_key_of(root)
        if bkey not in seen_bundles:
            seen_bundles.add(bkey)
            add_bundles.append(bkey)
    return Registration(add_roots, add_bundles)


def register_roots(instance: dg.DagsterInstance, roots: Iterable[TraceRoot]) -> Registration:
    """Add the missing `trace_roots` and `bundles` partitions of `roots` to `instance`."""
    reg = new_partitions(
        list(roots),
        instance.get_dynamic_partitions(trace_roots.name),
        instance.get_dynamic_partitions(bundles.name),
    )
    if reg.roots:
        instance.add_dynamic_partitions(trace_roots.name, reg.roots)
    if reg.bundles:
        instance.add_dynamic_partitions(bundles.name, reg.bundles)
    return reg
