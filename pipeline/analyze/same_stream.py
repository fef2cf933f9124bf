"""Same-stream overlap: the part of a GPU activity's record that lies under an earlier activity of
its own stream.

Kernels on one stream run one after another, except under programmatic dependent launch (PDL,
Hopper and Blackwell): a dependent kernel may start while its predecessor on the stream still
runs, and waits for it to finish (`griddepcontrol.wait`), so its record starts early and ends
after the predecessor's. That early part is neither work of its own nor overlap with another
stream; the kernel table and the overlap analysis leave it out of shares and verdicts
(docs/overlap.md, *Same-stream overlap*). A record that ends no later than its predecessor
(*contained*) is not what PDL produces and is counted apart, as an anomaly.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.analyze.table import Kernels, as_table, run_sql

COLUMNS = ["file_id", "device", "stream", "ts_ns", "dur_ns"]


def same_stream_overlap(kernels: Kernels) -> tuple[pa.Array, pa.Array]:
    """Per row of `kernels`: the ns of its record under an earlier activity of its (file, device,
    stream), and whether the whole record lies there (`sql/analyze/same_stream_overlap.sql`)."""
    t = as_table(kernels, COLUMNS)
    if not t.num_rows:
        return pa.array([], pa.int64()), pa.array([], pa.bool_())
    out = run_sql("same_stream_overlap", _kernels=t)
    return out.column("overlap_ns").combine_chunks(), out.column("contained").combine_chunks()


def summary(overlap: pa.Array, contained: pa.Array) -> dict[str, int]:
    """Counts and ns of the PDL-shaped overlaps (record outlasts its predecessor) and the contained ones."""
    has = pc.greater(overlap, 0)
    pdl = pc.and_(has, pc.invert(contained))
    return {
        "pdl_overlaps": pc.sum(pdl.cast(pa.int64()), min_count=0).as_py(),
        "pdl_overlap_ns": pc.sum(overlap.filter(pdl), min_count=0).as_py(),
        "contained": pc.sum(contained.cast(pa.int64()), min_count=0).as_py(),
        "contained_ns": pc.sum(overlap.filter(contained), min_count=0).as_py(),
    }
