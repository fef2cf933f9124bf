"""One recorded op call (``Input Dims``, ``Input type``, ``Concrete Inputs``) and the cost types.

`OpCall.parse` reads the JSON text the warehouse stores (``cpu_ops.input_dims`` and the two
``args`` lists); `Cost` is what a model returns, `NoModel` says why there is none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.roofline.dtypes import dtype_key, is_tensor_type, itemsize


@dataclass(frozen=True)
class Cost:
    """FLOPs and HBM bytes of one op instance; ``dtype`` names the roof its FLOPs run at."""

    flops: int
    bytes: int
    dtype: str | None
    model: str
    note: str | None = None


@dataclass(frozen=True)
class NoModel:
    """Why an op instance has no cost (never guessed)."""

    reason: str


class ShapeError(ValueError):
    """The recorded inputs do not fit the model's argument layout (the message says how)."""


@dataclass(frozen=True)
class OpCall:
    """The recorded inputs of one CPU op."""

    name: str
    dims: tuple[Any, ...]
    types: tuple[str, ...]
    concrete: tuple[str, ...]

    @classmethod
    def parse(cls, name: str, dims_json: str | None, types_json: str | None, concrete_json: str | None) -> "OpCall":
        dims = orjson.loads(dims_json) if dims_json else []
        types = orjson.loads(types_json) if types_json else []
        concrete = orjson.loads(concrete_json) if concrete_json else []
        return cls(name, tuple(dims), tuple(str(t) for t in types), tuple(str(c) for c in concrete))

    # --- arguments

    def has(self, i: int) -> bool:
        return 0 <= i < len(self.dims)

    def is_tensor(self, i: int) -> bool:
        """Argument `i` is a tensor of a known dtype with integer dims (0-dim included)."""
        return (self.has(i) and i < len(self.types) and is_tensor_type(self.types[i])
                and isinstance(self.dims[i], list) and all(isinstance(d, int) for d in self.dims[i]))

    def shape(self, i: int) -> list[int]:
        if not self.is_tensor(i):
            raise ShapeError(f"argument {i} of {self.name} is not a recorded tensor "
                             f"(type {self._type(i)!r}, dims {self.dims[i] if self.has(i) else 'absent'})")
        return self.dims[i]

    def _type(self, i: int) -> str:
        return self.types[i] if i < len(self.types) else "absent"

    def type_of(self, i: int) -> str:
        self.shape(i)
        return self.types[i]

    def numel(self, i: int) -> int:
        return math.prod(self.shape(i))

    def nbytes(self, i: int) -> int:
        return self.numel(i) * itemsize(self.type_of(i))

    def dtype(self, i: int) -> str:
        return dtype_key(self.type_of(i))

    def tensors(self) -> list[int]:
        """Indexes of the recorded tensor arguments."""
        return [i for i in range(len(self.dims)) if self.is_tensor(i)]

    def value(self, i: int) -> str | None:
        """The concrete value of a scalar argument as recorded ('' or absent → None)."""
        if i < 0 or i >= len(self.concrete) or self.concrete[i] == "":
            return None
        return self.concrete[i]

    def int_value(self, i: int) -> int | None:
        v = self.value(i)
        if v is None:
            return None
        try:
            return int(v)
        except ValueError:
            raise ShapeError(f"argument {i} of {self.name} is {v!r}, not an integer") from None

    def bool_value(self, i: int) -> bool | None:
        v = self.value(i)
        if v is None:
            return None
        if v not in ("True", "False"):
            raise ShapeError(f"argument {i} of {self.name} is {v!r}, not a bool")
        return v == "True"

    def int_list(self, i: int) -> list[int] | None:
        """A ScalarList argument such as ``'[-1]'`` (None when not recorded)."""
        v = self.value(i)
        if v is None:
            return None
        try:
            out = orjson.loads(v)
        except orjson.JSONDecodeError:
            raise ShapeError(f"argument {i} of {self.name} is {v!r}, not a list of integers") from None
        return [out] if isinstance(out, int) else list(out)
