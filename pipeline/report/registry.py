"""The analyzers a report runs, in order (an analyzer may read what the ones before it produced).

Each entry implements `pipeline.analyze.protocol.Analyzer`; its stage fields are stored in
`report_stages` (a column per field) or, for a list of rows, in `report_<field>`.
"""

from __future__ import annotations

from pipeline.align.rates import AlignmentRate, GraphSites
from pipeline.analyze.collectives import Collectives
from pipeline.analyze.fusion_table import FusionTable
from pipeline.analyze.kernel_table import KernelTable, Summary
from pipeline.analyze.launch_groups import LaunchGroups
from pipeline.analyze.layers import LayerTable
from pipeline.analyze.overlap_table import OverlapTable
from pipeline.analyze.protocol import Analyzer
from pipeline.analyze.roofline import Roofline
from pipeline.report.ranks import RankSpread

ANALYZERS: tuple[Analyzer, ...] = (
    Summary(),        # summary, kernel_time_ns, kernel_count
    KernelTable(),    # kernels, families, coverage, steps
    AlignmentRate(),  # alignment
    GraphSites(),     # cross_root, catalog_sites
    LayerTable(),     # layers
    LaunchGroups(),   # launch_groups
    OverlapTable(),   # overlap, overlap_families, busy/idle/launch-bound/multi-stream, category_overlap, note
    FusionTable(),    # fusions, near_misses
    RankSpread(),     # ranks, timeline (+ kernels[].rank_time_ns)
    Collectives(),    # collectives, collective_matching, host_bound (+ overlap[] rank_skew, straggler by wait)
    Roofline(),       # roofline (+ kernels[] speed-of-light fields, overlap[]/fusions[].expected_gain_ns)
)
