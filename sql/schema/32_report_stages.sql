-- report_stages: one row per (root, view, stage): the stage's scalar figures and its small objects
-- (JSON, shapes in docs/json-schema.md stages[]). Row lists live in report_<table> tables.
CREATE TABLE IF NOT EXISTS report_stages (
    root             TEXT,
    view             TEXT,
    stage            TEXT,
    pos              INTEGER,
    kernel_time_ns   BIGINT,
    kernel_count     BIGINT,
    summary          JSON,
    coverage         JSON,
    alignment        JSON,
    ranks            JSON,
    timeline         JSON,
    busy_ns          BIGINT,
    idle_ns          BIGINT,
    launch_bound_ns  BIGINT,
    multi_stream_ns  BIGINT,
    category_overlap JSON,
    overlap_note     TEXT,
    steps            BIGINT,
    pdl_overlaps     BIGINT,
    pdl_overlap_ns   BIGINT,
    family_category_overlap JSON,
    anomalies        JSON,
    roofline         JSON,
    collective_matching JSON,
    host_bound       JSON,
    layers           JSON,
    cross_root       JSON,
    catalog_sites    JSON
);
COMMENT ON COLUMN report_stages.root IS 'trace_roots.root';
COMMENT ON COLUMN report_stages.view IS 'report_views.view';
COMMENT ON COLUMN report_stages.stage IS 'prefill | decode | mixed | unknown | all (no stage information)';
COMMENT ON COLUMN report_stages.pos IS 'order of the stage in the report';
COMMENT ON COLUMN report_stages.kernel_time_ns IS 'summed GPU activity time of the stage (ns)';
COMMENT ON COLUMN report_stages.kernel_count IS 'GPU activities in the stage';
COMMENT ON COLUMN report_stages.summary IS 'window, busy, idle, kernel time with their definitions';
COMMENT ON COLUMN report_stages.coverage IS 'kernel time reaching a CPU op and a site, by attribution kind';
COMMENT ON COLUMN report_stages.alignment IS 'match rate of the alignment that mapped graph replays (NULL: none needed)';
COMMENT ON COLUMN report_stages.ranks IS 'per-rank stage times and the straggler (view all of a multi-rank root; else NULL)';
COMMENT ON COLUMN report_stages.timeline IS 'optional: how the per-rank timeline figures were combined (view all of a multi-rank root)';
COMMENT ON COLUMN report_stages.busy_ns IS 'union of kernel intervals on any stream (ns)';
COMMENT ON COLUMN report_stages.idle_ns IS 'window minus busy (ns)';
COMMENT ON COLUMN report_stages.launch_bound_ns IS 'idle time while the next kernel was not yet launched (ns)';
COMMENT ON COLUMN report_stages.multi_stream_ns IS 'time with two or more streams active (ns)';
COMMENT ON COLUMN report_stages.category_overlap IS 'ns per set of concurrently active categories by HolisticTraceAnalysis''s rule (memory = memcpy/memset activities, communication = communication kernels, every other kernel compute)';
COMMENT ON COLUMN report_stages.overlap_note IS 'why the overlap figures are what they are (e.g. a single stream)';
COMMENT ON COLUMN report_stages.steps IS 'step annotations holding kernels';
COMMENT ON COLUMN report_stages.pdl_overlaps IS 'kernels that started while an earlier kernel of their stream still ran and outlasted it (programmatic dependent launch)';
COMMENT ON COLUMN report_stages.pdl_overlap_ns IS 'summed time those kernels ran under their same-stream predecessor (ns): in kernel_time_ns, left out of every share and verdict';
COMMENT ON COLUMN report_stages.family_category_overlap IS 'ns per set of concurrently active coarse categories by kernel family (copy/fill kernels count as memory)';
COMMENT ON COLUMN report_stages.anomalies IS 'same_stream_contained (kernels lying wholly under an earlier kernel of their stream: not PDL), same_stream_contained_ns, bad_durations (null or negative durations)';
COMMENT ON COLUMN report_stages.roofline IS 'speed of light of the stage: FLOPs, bytes, MFU, MBU, top rows by recoverable time (docs/roofline.md)';
COMMENT ON COLUMN report_stages.collective_matching IS 'how collectives were matched across ranks and whether their clocks line up (NULL: one rank)';
COMMENT ON COLUMN report_stages.host_bound IS 'host-bound ceiling: the largest share of the stage''s wall time GPU-side savings could recover (docs/collectives.md)';
COMMENT ON COLUMN report_stages.layers IS 'per-layer table: count, forward_passes, per_layer_ns, remainder_ns, slots, groups, outside (docs/layers.md); NULL without decoder layers';
COMMENT ON COLUMN report_stages.cross_root IS 'the other root graph replays took their sites from, by layer slot, with the match rate and the refused candidates';
COMMENT ON COLUMN report_stages.catalog_sites IS 'sites given from the kernel-site catalog, per entry (not proven by the trace)';
