"""Kernel name → display name, matching key and family (catalog: `catalog/kernel_families.toml`).

The catalog is an ordered rule list; the first rule whose pattern matches wins. A rule matches
the *key* (qualified name, no parameters, no template arguments, demangled) unless it says
``match_on = "full"``: then it is tried only for kernels whose key matches its ``key`` gate, and
matches the whole raw name (template arguments included). See ``docs/kernel-families.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from pipeline.paths import read_catalog

FAMILIES: tuple[str, ...] = (
    "gemm", "attention", "moe", "communication", "norm", "rope", "activation",
    "kv_cache", "quantize", "sampling", "memory", "elementwise", "reduce", "other",
)
DEFAULT_FAMILY = "other"
DEFAULT_RULE = "default"
CATALOG_NAME = "kernel_families.toml"
MAX_DISPLAY = 120
DISPLAY_TAIL = 40  # a long display name keeps its head and this many closing characters (Tensile / CUTLASS /
# trtllm-gen names put the distinguishing tile, epilogue and architecture at the end)
KEY_MATCH_LEN = 160  # a kernel's identity is in the head of its key; caps regex cost

_WS = re.compile(r"\s+")
_HEX = re.compile(r"(?<!\w)0x[0-9a-fA-F]+")
_BIGNUM = re.compile(r"(?<![\w.])\d{7,}[uUlL]*\b")
_ANON = re.compile(r"\(anonymous namespace\)::|<unnamed>::|\{anonymous\}::")
_PARENS = re.compile(r"\([^()]*\)")
_ANGLES = re.compile(r"<[^<>]*>")
_LAMBDA = re.compile(r"::\{lambda\b[^{}]*\}|::operator\(\)\(\)(?: const)?")
_BRACES = re.compile(r"::\{[^{}]*\}")
_TOP_STOP = re.compile(r"[,<>)]")
_RAW_PREFIXES = ("Memcpy ", "Memset ")


# ---------------------------------------------------------------- name normalisation


def _light(raw: str) -> str:
    """Collapse whitespace and drop anonymous namespaces (cheap: matching only)."""
    s = raw.strip()
    if "  " in s or "\t" in s or "\n" in s:
        s = _WS.sub(" ", s)
    if "anonymous" in s or "<unnamed>" in s:
        s = _ANON.sub("", s)
    return s


def _clean(raw: str) -> str:
    """`_light` plus masking of hex addresses and large numeric ids (for display)."""
    s = _light(raw)
    if "0x" in s:
        s = _HEX.sub("0x…", s)
    return _BIGNUM.sub("#", s)


def _drop_groups(s: str, pat: re.Pattern[str]) -> str:
    """Remove innermost `pat` groups until none is left."""
    n = 1
    while n:
        s, n = pat.subn("", s)
    return s


def _is_mangled(s: str) -> bool:
    return s.startswith("_Z") and " " not in s


def _source_name(s: str, i: int) -> tuple[str, int] | None:
    """Parse an Itanium <source-name> (length-prefixed identifier) at `i`."""
    j = i
    while j < len(s) and s[j].isdigit():
        j += 1
    if j == i:
        return None
    n = int(s[i:j])
    if n == 0 or j + n > len(s):
        return None
    return s[j:j + n], j + n


def _demangle(s: str) -> tuple[str, list[str], bool]:
    """Qualified name, identifiers found in the template args, whether args exist."""
    i = 3 if s.startswith("_ZL") else 2
    nested = s[i:i + 1] == "N"
    parts: list[str] = []
    if nested:
        i += 1
        while s[i:i + 1] in ("K", "V", "r"):
            i += 1
        if s.startswith("St", i):
            parts, i = ["std"], i + 2
    while (got := _source_name(s, i)) is not None:
        parts.append(got[0])
        i = got[1]
        if not nested:
            break
    has_args = s[i:i + 1] == "I"
    hints = _template_hints(s[i:], set(parts)) if has_args else []
    name = "::".join(parts) if parts else s.split(".")[0]
    return name, hints, has_args


_HINT = re.compile(r"(?<=[NIEZ_])(\d+)")


def _template_hints(tail: str, skip: set[str], limit: int = 2) -> list[str]:
    """First class-like identifiers inside mangled template arguments."""
    out: list[str] = []
    for m in _HINT.finditer(tail):
        got = _source_name(tail, m.start())
        if got is None:
            continue
        ident = got[0]
        if len(ident) < 4 or not re.fullmatch(r"[A-Za-z_]\w*", ident):
            continue
        if ident in skip or ident in out:
            continue
        out.append(ident)
        if len(out) == limit:
            break
    return out


def _head_token(s: str) -> str:
    """The qualified-name token of a demangled signature, template args kept."""
    depth_a = depth_p = 0
    start = 0
    for i, ch in enumerate(s):
        if ch == "(":
            if depth_a == 0 and depth_p == 0 and i > start:
                return s[start:i].strip()
            depth_p += 1
        elif ch == ")":
            depth_p = max(0, depth_p - 1)
        elif depth_p:
            continue
        elif ch == "<":
            depth_a += 1
        elif ch == ">":
            depth_a = max(0, depth_a - 1)
        elif ch == "," and depth_a == 0:
            return s[start:i].strip()
        elif ch == " " and depth_a == 0:
            start = i + 1
    return s[start:].strip()


def _key_of(s: str) -> str:
    """Key of a cleaned, demangled name: params, template args, return type dropped."""
    if "<" not in s and "(" not in s:
        return s.split(" ")[-1] if s.startswith("void ") else s
    t = _drop_groups(s, _PARENS)
    t = _drop_groups(_BRACES.sub("", t), _ANGLES)
    m = _TOP_STOP.search(t)
    if m:
        t = t[:m.start()]
    t = t.strip()
    return t.split(" ")[-1] if t else s


@lru_cache(maxsize=None)
def kernel_key(raw: str) -> str:
    """Matching key: qualified kernel name without parameters or template arguments."""
    s = _light(raw)
    if s.startswith(_RAW_PREFIXES):
        return s
    if _is_mangled(s):
        return _demangle(s)[0]
    return _key_of(s)


# ---------------------------------------------------------------- display names


def _split_args(s: str) -> list[str]:
    """Split a template argument list at top-level commas."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(s):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(s[start:i].strip())
            start = i + 1
    out.append(s[start:].strip())
    return [a for a in out if a]


def _split_targs(tok: str) -> tuple[str, str | None]:
    """`ns::f<args>` → (`ns::f`, `args`); (`tok`, None) when no trailing args."""
    if not tok.endswith(">"):
        return tok, None
    depth = 0
    for i in range(len(tok) - 1, -1, -1):
        if tok[i] == ">":
            depth += 1
        elif tok[i] == "<":
            depth -= 1
            if depth == 0:
                return _drop_groups(tok[:i], _ANGLES), tok[i + 1:-1]
    return tok, None


_PRIMITIVE = re.compile(
    r"(?:-?\d+\w*|true|false|void|bool|char\*?|(?:signed |unsigned )?(?:char|short|int|long)"
    r"|float\d*|double|__nv_bfloat16|__half|__hip_bfloat16|(?:c10::|cutlass::)?(?:BFloat16|Half"
    r"|bfloat16_t|half_t|Float8_\w+))$"
)
_OPERATOR_TAIL = re.compile(r"::operator\b.*$")
_INFORMATIVE = re.compile(r"(?:Functor|Ops?|[Kk]ernel|_cuda|_impl|Params)$")


def _pick(args: list[str]) -> str:
    """The most telling nested argument: a functor/op/kernel, else a non-primitive type."""
    bases = [_split_targs(a)[0] for a in args]
    for arg, base in zip(args, bases):
        if _INFORMATIVE.search(base):
            return arg
    for arg, base in zip(args, bases):
        if not _PRIMITIVE.match(base.strip()):
            return arg
    return args[0]


def _short_arg(arg: str, level: int) -> str:
    """Shorten one template argument: last name component, one telling nested arg."""
    arg = _drop_groups(_LAMBDA.sub("", arg), _PARENS).replace(" const", "").strip()
    arg = _OPERATOR_TAIL.sub("", arg)
    base, inner = _split_targs(arg)
    base = base.split("::")[-1] if "::" in base else base
    if inner is None:
        return base
    args = _split_args(inner)
    if level >= 2 or not args:
        return f"{base}<…>"
    more = ", …" if len(args) > 1 else ""
    return f"{base}<{_short_arg(_pick(args), level + 1)}{more}>"


def _truncate(s: str) -> str:
    """At most MAX_DISPLAY characters: the head, an ellipsis, and the last DISPLAY_TAIL characters."""
    return s if len(s) <= MAX_DISPLAY else s[:MAX_DISPLAY - 1 - DISPLAY_TAIL].rstrip("…") + "…" + s[-DISPLAY_TAIL:]


@lru_cache(maxsize=None)
def display_name(raw: str) -> str:
    """Canonical short name: qualified name plus a shortened template argument list."""
    s = _clean(raw)
    if s.startswith(_RAW_PREFIXES) or ("<" not in s and "(" not in s and not _is_mangled(s)):
        return _truncate(s)
    if _is_mangled(s):
        name, hints, has_args = _demangle(s)
        if has_args:
            name += f"<{', '.join(hints)}, …>" if hints else "<…>"
        return _truncate(name)
    base, targs = _split_targs(_head_token(s))
    if targs is None:
        return _truncate(_key_of(s))
    args = ", ".join(_short_arg(a, 0) for a in _split_args(targs))
    return _truncate(f"{_key_of(base)}<{args}>")


# ---------------------------------------------------------------- classification


@dataclass(frozen=True)
class Rule:
    """One catalog rule (`key` gates a full-name rule to the kernels it is about)."""

    id: str
    family: str
    pattern: str
    match_on: str
    key: str | None
    source: str
    examples: tuple[str, ...]


def load_rules() -> list[Rule]:
    """The catalog rules, in order."""
    return [
        Rule(
            id=r["id"], family=r["family"], pattern=r["pattern"],
            match_on=r.get("match_on", "key"), key=r.get("key"),
            source=r.get("source", ""), examples=tuple(r.get("examples", ())),
        )
        for r in read_catalog(CATALOG_NAME)["rule"]
    ]


def _lower_pattern(pattern: str) -> str:
    """Lower-case a regex's literals, keeping escapes (``\\D``, ``\\W``…) intact."""
    out, escaped = [], False
    for ch in pattern:
        out.append(ch if escaped else ch.lower())
        escaped = ch == "\\" and not escaped
    return "".join(out)


def _compile(pattern: str) -> re.Pattern[str]:
    """Case-insensitive match as a case-sensitive regex over lower-cased text (much faster)."""
    return re.compile(_lower_pattern(pattern), re.DOTALL)


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    gate: re.Pattern[str] | None  # full rules: key gate; key rules: None
    pattern: re.Pattern[str]


@lru_cache(maxsize=1)
def _compiled() -> tuple[_Compiled, ...]:
    """The catalog, compiled once."""
    return tuple(
        _Compiled(r, _compile(r.key or "") if r.match_on == "full" else None, _compile(r.pattern))
        for r in load_rules()
    )


@lru_cache(maxsize=None)
def _key_plan(key: str) -> tuple[int | None, tuple[int, ...]]:
    """First key rule matching `key`, and the earlier full-name rules gated open by it."""
    text = key[:KEY_MATCH_LEN].lower()
    gated: list[int] = []
    for i, c in enumerate(_compiled()):
        if c.gate is None:
            if c.pattern.search(text):
                return i, tuple(gated)
        elif c.gate.search(text):
            gated.append(i)
    return None, tuple(gated)


@lru_cache(maxsize=None)
def _rule_index(raw: str) -> int | None:
    first, gated = _key_plan(kernel_key(raw))
    if gated:
        rules, text = _compiled(), _light(raw).lower()
        for i in gated:
            if rules[i].pattern.search(text):
                return i
    return first


@lru_cache(maxsize=None)
def rule_id(raw: str) -> str:
    """Id of the catalog rule that classifies `raw` (``"default"`` when none does)."""
    idx = _rule_index(raw)
    return DEFAULT_RULE if idx is None else _compiled()[idx].rule.id


@lru_cache(maxsize=None)
def classify(raw: str) -> str:
    """Kernel family of a raw kernel name (one of `FAMILIES`)."""
    idx = _rule_index(raw)
    return DEFAULT_FAMILY if idx is None else _compiled()[idx].rule.family


@dataclass(frozen=True)
class OpHint:
    """A catalog op hint: the launching torch op names the family of an `other` kernel."""

    id: str
    family: str
    pattern: re.Pattern[str]
    source: str
    examples: tuple[str, ...]
    kernels: tuple[str, ...]


@lru_cache(maxsize=None)
def load_op_hints() -> tuple[OpHint, ...]:
    """The catalog's ``[[op_hint]]`` entries, in order."""
    return tuple(
        OpHint(id=h["id"], family=h["family"], pattern=re.compile(h["pattern"], re.I), source=h["source"],
               examples=tuple(h.get("examples", ())), kernels=tuple(h.get("kernels", ())))
        for h in read_catalog(CATALOG_NAME).get("op_hint", ())
    )


@lru_cache(maxsize=None)
def classify_with_op(raw: str, op: str | None) -> str:
    """`classify`, except that a kernel whose own name says `other` takes its op's hinted family."""
    family = classify(raw)
    if family != DEFAULT_FAMILY or not op:
        return family
    return next((h.family for h in load_op_hints() if h.pattern.search(op)), family)


def classify_many(names: Iterable[str]) -> list[str]:
    """`classify` over many names."""
    return [classify(n) for n in names]


def coarse_category(family: str) -> str:
    """Overlap category: communication, memory, or compute."""
    return family if family in ("communication", "memory") else "compute"
