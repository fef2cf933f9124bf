"""The device peaks catalog: matching real device names, dense figures, the PROFTRIAGE_PEAKS override."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pipeline.roofline.devices import DTYPES, PeaksFileError, catalog_specs, device_specs, match_device
from tests.conftest import REAL_TRACE_FILES

# One deviceProperties name per catalog entry (as torch / the profiler report them), with the
# fields an entry's `requires` reads; every entry must be reached by one.
NAMES = {
    "v100-sxm2": ("Tesla V100-SXM2-32GB", {}),
    "v100s-pcie": ("Tesla V100S-PCIE-32GB", {}),
    "v100-pcie": ("Tesla V100-PCIE-16GB", {}),
    "a100-pcie-80gb": ("NVIDIA A100 80GB PCIe", {}),
    "a100-pcie-40gb": ("NVIDIA A100-PCIE-40GB", {}),
    "a100-sxm-80gb": ("NVIDIA A100-SXM4-80GB", {}),
    "a100-sxm-40gb": ("NVIDIA A100-SXM4-40GB", {}),
    "h100-nvl": ("NVIDIA H100 NVL", {}),
    "h100-pcie": ("NVIDIA H100 PCIe", {}),
    "h100-sxm": ("NVIDIA H100 80GB HBM3", {}),
    "h200-nvl": ("NVIDIA H200 NVL", {}),
    "h200-sxm": ("NVIDIA H200", {}),
    "gb300": ("NVIDIA GB300", {}),
    "b300": ("NVIDIA B300 SXM6 AC", {}),
    "gb200": ("NVIDIA GB200", {}),
    "b200": ("NVIDIA B200", {}),
    "mi355x": ("AMD Instinct MI355X", {}),
    "mi325x": ("AMD Instinct MI325X", {}),
    "mi300x": ("AMD Instinct MI300X", {}),
    "mi250x-gcd": ("AMD Instinct MI250X/MI250", {"numSms": 110}),
    "mi250-gcd": ("AMD Instinct MI250X/MI250", {"numSms": 104}),
    "mi210": ("AMD Instinct MI210", {"numSms": 104}),
}
# NVIDIA's datasheet headline BF16 figures, printed "with sparsity" (typed from the cited pages):
# the catalog must hold half of each.
SPARSE_BF16_HEADLINE = {"h100-sxm": 1979, "h100-pcie": 1513, "h100-nvl": 1671, "h200-sxm": 1979, "h200-nvl": 1671,
                        "b200": 36000 / 8, "gb200": 360000 / 72, "b300": 36000 / 8, "gb300": 360000 / 72}


def test_every_catalog_entry_is_reached_by_its_device_name() -> None:
    assert set(NAMES) == {s.key for s in catalog_specs()}
    for key, (name, props) in NAMES.items():
        d = match_device({"name": name, **props})
        assert d.matched and d.spec.key == key, (name, d.spec.key if d.spec else d.note)
        assert d.matched_by == "name"


@pytest.mark.parametrize("spec", catalog_specs(), ids=lambda s: s.key)
def test_entry_cites_a_vendor_page_and_says_how_dense_was_read(spec) -> None:
    assert "https://" in spec.source and ("nvidia.com" in spec.source or "amd.com" in spec.source)
    assert spec.dense and spec.hbm_tbps > 0
    assert set(spec.tflops) <= set(DTYPES) and spec.tflops
    t = spec.tflops
    # dense tensor-core rates of every listed part: FP16 = BF16, TF32 = BF16 / 2, FP8 = 2 x BF16
    if "fp16" in t and "bf16" in t:
        assert t["fp16"] == t["bf16"]
    if "tf32" in t:
        assert t["tf32"] == pytest.approx(t["bf16"] / 2, rel=2e-3)
    if "fp8" in t:
        assert t["fp8"] == pytest.approx(2 * t["bf16"], rel=2e-3)
    if "fp4" in t:
        assert t["fp4"] >= 2 * t["fp8"] * (1 - 2e-3)
    if spec.key in SPARSE_BF16_HEADLINE:
        assert t["bf16"] == pytest.approx(SPARSE_BF16_HEADLINE[spec.key] / 2)


# The scale-up fabric per GPU as the vendors print it, both directions summed, GB/s (typed from the cited
# pages): the catalog holds one direction. Parts without a switched fabric have no link peak.
LINK_BOTH_WAYS_GBPS = {"v100-sxm2": 300, "a100-sxm-80gb": 600, "a100-sxm-40gb": 600, "h100-sxm": 900, "h200-sxm": 900,
                       "b200": 1800, "gb200": 1800, "b300": 1800, "gb300": 1800, "mi300x": 896, "mi325x": 896,
                       "mi355x": 7 * 153.6}


@pytest.mark.parametrize("spec", catalog_specs(), ids=lambda s: s.key)
def test_link_peak_is_one_direction_of_the_printed_fabric_bandwidth(spec) -> None:
    if spec.key not in LINK_BOTH_WAYS_GBPS:
        assert spec.link_tbps is None and not spec.link
        return
    assert spec.link_tbps == pytest.approx(LINK_BOTH_WAYS_GBPS[spec.key] / 2 / 1000)
    assert spec.link and spec.link_tbps < spec.hbm_tbps


def _corpus_devices() -> list[tuple[str, dict]]:
    out = []
    for path in REAL_TRACE_FILES:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            doc = json.load(fh)
        for props in doc.get("deviceProperties") or [None]:
            out.append((f"{path.parent.name}/{path.name}", props))
    return out


@pytest.mark.parametrize("where,props", _corpus_devices(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_device_of_the_corpus_is_matched_or_says_why(where: str, props: dict | None) -> None:
    d = match_device(props)
    if props is None:  # HTA's sampled two-rank traces carry no deviceProperties
        assert not d.matched and "no deviceProperties" in d.note
        return
    assert d.matched, (where, props.get("name"), d.note)
    if props["name"]:
        assert d.matched_by == "name"
    else:  # vLLM's ROCm traces: empty name, gfx942 / 304 CUs / 192 GiB
        assert d.spec.key == "mi300x" and d.matched_by == "properties" and "name is empty" in d.note


def test_an_unknown_device_is_reported_and_models_nothing() -> None:
    d = match_device({"name": "NVIDIA GeForce RTX 4090", "numSms": 128})
    assert not d.matched and "not in the device catalog" in d.note
    assert d.peak_tflops("bf16") is None and d.hbm_tbps is None
    assert d.as_json()["peaks"] is None
    empty = match_device({"name": "", "computeMajor": 9, "computeMinor": 4, "numSms": 80, "totalGlobalMem": 1 << 36})
    assert not empty.matched


def test_peaks_override_replaces_figures_and_adds_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    peaks = tmp_path / "peaks.toml"
    peaks.write_text(
        '[h100-sxm]\nsource = "cuBLAS bf16 8192^3 on node x"\nhbm_tbps = 2.9\ntflops = { bf16 = 750.0 }\n\n'
        '[rtx-4090]\nmodel = "NVIDIA RTX 4090"\nmatch = ["RTX 4090"]\nsource = "measured"\nhbm_tbps = 1.0\n'
        'tflops = { bf16 = 165.0 }\n', encoding="utf-8")
    monkeypatch.setenv("PROFTRIAGE_PEAKS", str(peaks))
    h100 = match_device({"name": "NVIDIA H100 80GB HBM3"})
    assert h100.hbm_tbps == 2.9 and h100.peak_tflops("bf16") == 750.0
    assert h100.peak_tflops("fp8") == 1979.0 and h100.link_tbps == 0.45  # not overridden: the catalog's
    assert "cuBLAS bf16" in h100.spec.source and str(peaks) in h100.spec.source
    new = match_device({"name": "NVIDIA GeForce RTX 4090"})
    assert new.matched and new.spec.key == "rtx-4090" and new.peak_tflops("bf16") == 165.0
    assert len(device_specs()) == len(catalog_specs()) + 1


@pytest.mark.parametrize("text,problem", [
    ("[h100-sxm]\nhbm_tbps = 2.9\n", "must be a table with a `source`"),
    ("[h100-sxm]\nsource = 'x'\ntflops = { bf17 = 1.0 }\n", "unknown dtype keys"),
    ("not toml [", "cannot read the peaks file"),
])
def test_a_bad_peaks_file_is_named_with_its_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    text: str, problem: str) -> None:
    peaks = tmp_path / "bad.toml"
    peaks.write_text(text, encoding="utf-8")
    monkeypatch.setenv("PROFTRIAGE_PEAKS", str(peaks))
    with pytest.raises(PeaksFileError) as err:
        device_specs()
    assert str(peaks) in str(err.value) and problem in str(err.value)
