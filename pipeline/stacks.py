"""Python stacks from ``Python id`` / ``Python parent id`` chains, walked once per frame.

Kernels launched from the same code path share one stack: every frame gets a *stack id*
(equal ids ⇒ equal stacks) by extending its parent's id with its own name, so each frame's
chain is walked once however many kernels sit under it, and callers compute per-stack fields
(display names, site) once per distinct id.
"""

from __future__ import annotations

from typing import Iterable

MAX_STACK = 256  # innermost frames kept of a deeper (or cyclic) chain
EMPTY = 0  # stack id of the empty stack
_DEEP = -1  # memo marker: the chain is longer than MAX_STACK, walk it explicitly

FrameKey = tuple[int, str, int]  # (file_id, pid, python_id)


class StackIndex:
    """Python frames of some files, walkable from any frame to its root."""

    def __init__(self, rows: list[tuple]):
        """`rows`: ``(file_id, pid, python_id, parent_id, name, end_ns)``; a repeated key keeps the last row."""
        self._frames = {(f, p, i): (parent, name, end) for f, p, i, parent, name, end in rows}
        self._memo: dict[FrameKey, int] = {}
        self._nodes: dict[tuple[int, str], int] = {}  # (parent stack id, innermost name) -> stack id
        self._parent: list[int] = [EMPTY]
        self._name: list[str] = [""]
        self._depth: list[int] = [0]
        self._names: dict[int, tuple[str, ...]] = {EMPTY: ()}
        self._deep: dict[tuple[str, ...], int] = {}

    def enclosing(self, file_id: int, pid: str, python_id: int | None, ts_ns: int) -> int | None:
        """`python_id` or its nearest ancestor whose interval still holds `ts_ns`."""
        cur, hops = python_id, 0
        while cur is not None and hops < MAX_STACK:
            frame = self._frames.get((file_id, pid, cur))
            if frame is None:
                return None
            if frame[2] is None or frame[2] >= ts_ns:
                return cur
            cur, hops = frame[0], hops + 1
        return None

    def stack_id(self, file_id: int, pid: str, python_id: int | None) -> int:
        """Id of the stack ending at `python_id` (raw names via `names`); EMPTY for None or a missing frame."""
        if python_id is None:
            return EMPTY
        key = (file_id, pid, python_id)
        sid = self._memo.get(key)
        if sid is None:
            sid = self._walk(key)
        return sid if sid != _DEEP else self._deep_id(key)

    def anchor_stack_ids(self, anchors: Iterable[tuple[int, str, int | None, int]]) -> list[int]:
        """`stack_id` of `enclosing` for each ``(file_id, pid, python_id, ts_ns)``, in one loop."""
        frames, memo, out = self._frames, self._memo, []
        for file_id, pid, cur, ts_ns in anchors:
            hops = 0
            while cur is not None and hops < MAX_STACK:  # `enclosing`, inlined
                frame = frames.get((file_id, pid, cur))
                if frame is None:
                    cur = None
                elif frame[2] is None or frame[2] >= ts_ns:
                    break
                else:
                    cur, hops = frame[0], hops + 1
            else:
                out.append(EMPTY)
                continue
            key = (file_id, pid, cur)
            sid = memo.get(key)
            if sid is None:
                parent = frame[0]
                known = EMPTY if parent is None else memo.get((file_id, pid, parent))
                if known is not None and known != _DEEP:  # the usual case: the caller's frame is known
                    sid = memo[key] = self._node(known, frame[1])
                else:
                    sid = self._walk(key)
            out.append(sid if sid != _DEEP else self._deep_id(key))
        return out

    def names(self, sid: int) -> tuple[str, ...]:
        """Raw frame names of stack `sid`, outermost → innermost."""
        out = self._names.get(sid)
        if out is None:
            out = self._names[sid] = self.names(self._parent[sid]) + (self._name[sid],)
        return out

    def _walk(self, key: FrameKey) -> int:
        """Walk up from `key` to a known frame, a root or a missing parent; memoise the path."""
        file_id, pid = key[0], key[1]
        path: list[tuple[FrameKey, str]] = []
        cur, base = key, EMPTY
        while True:
            frame = self._frames.get(cur)
            if frame is None:  # sliced traces keep parent ids that point outside the file
                break
            path.append((cur, frame[1]))
            if frame[0] is None:
                break
            cur = (file_id, pid, frame[0])
            known = self._memo.get(cur)
            if known is not None:
                base = known
                break
            if len(path) > MAX_STACK:  # too deep, or a cycle
                base = _DEEP
                break
        sid = base
        for frame_key, name in reversed(path):
            if sid != _DEEP:
                sid = self._node(sid, name)
            self._memo[frame_key] = sid  # _DEEP also marks frames whose depth was not measured
        return sid

    def _node(self, parent: int, name: str) -> int:
        sid = self._nodes.get((parent, name))
        if sid is not None:
            return sid
        if self._depth[parent] >= MAX_STACK:
            return _DEEP
        sid = self._nodes[(parent, name)] = len(self._parent)
        self._parent.append(parent)
        self._name.append(name)
        self._depth.append(self._depth[parent] + 1)
        return sid

    def _deep_id(self, key: FrameKey) -> int:
        """Id of the innermost MAX_STACK names of a chain too deep (or cyclic) to share prefixes."""
        names: list[str] = []
        cur: int | None = key[2]
        while cur is not None and len(names) < MAX_STACK:
            frame = self._frames.get((key[0], key[1], cur))
            if frame is None:
                break
            names.append(frame[1])
            cur = frame[0]
        out = tuple(reversed(names))
        sid = self._deep.get(out)
        if sid is None:
            sid = self._deep[out] = len(self._parent)
            self._parent.append(EMPTY)
            self._name.append("")
            self._depth.append(len(out))
            self._names[sid] = out
        return sid
