"""Profiler type strings (``args."Input type"``) → element size and the dtype key of a roof.

Dtype keys are those of `pipeline/catalog/devices.toml`: ``fp64, fp32, tf32, bf16, fp16, fp8,
fp6, fp4, int8``; integer and bool tensors carry bytes only (``int64`` …).
"""

from __future__ import annotations

# profiler type string → (dtype key, bytes per element)
_TYPES: dict[str, tuple[str, int]] = {
    "double": ("fp64", 8),
    "float": ("fp32", 4),
    "c10::Half": ("fp16", 2),
    "c10::BFloat16": ("bf16", 2),
    "c10::Float8_e4m3fn": ("fp8", 1),
    "c10::Float8_e5m2": ("fp8", 1),
    "c10::Float8_e4m3fnuz": ("fp8", 1),
    "c10::Float8_e5m2fnuz": ("fp8", 1),
    "c10::Float8_e8m0fnu": ("e8m0", 1),
    "c10::Float4_e2m1fn_x2": ("fp4x2", 1),
    "long int": ("int64", 8),
    "long": ("int64", 8),
    "int": ("int32", 4),
    "short int": ("int16", 2),
    "short": ("int16", 2),
    "signed char": ("int8", 1),
    "unsigned char": ("uint8", 1),
    "bool": ("bool", 1),
    "c10::complex<float>": ("complex64", 8),
    "c10::complex<double>": ("complex128", 16),
}
# c10::ScalarType codes (c10/core/ScalarType.h order) as they appear in Concrete Inputs (out_dtype=15)
SCALAR_TYPE_CODES: dict[int, str] = {
    0: "unsigned char", 1: "signed char", 2: "short int", 3: "int", 4: "long int", 5: "c10::Half",
    6: "float", 7: "double", 11: "bool", 15: "c10::BFloat16", 23: "c10::Float8_e5m2",
    24: "c10::Float8_e4m3fn", 25: "c10::Float8_e5m2fnuz", 26: "c10::Float8_e4m3fnuz",
}
FLOAT_KEYS = ("fp64", "fp32", "bf16", "fp16", "fp8")  # widest first: a mixed-dtype GEMM runs at the widest


def is_tensor_type(type_str: str) -> bool:
    """A tensor dtype the models know (not ``Scalar``, ``ScalarList``, ``TensorList`` or ``''``)."""
    return type_str in _TYPES


def itemsize(type_str: str) -> int:
    """Bytes per element of a known tensor type (KeyError otherwise)."""
    return _TYPES[type_str][1]


def dtype_key(type_str: str) -> str:
    """The dtype key of a known tensor type (KeyError otherwise)."""
    return _TYPES[type_str][0]


def widest(keys: list[str]) -> str | None:
    """The widest floating dtype among `keys` (None when there is none)."""
    for k in FLOAT_KEYS:
        if k in keys:
            return k
    return None
