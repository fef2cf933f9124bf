-- report_overlap: exposed vs hidden time per kernel name (docs/overlap.md), in priority order; every row (the table limit is applied on read)
-- Key: (root, view, stage, pos) — report_stages' stage, pos = the row's rank in the table.
CREATE TABLE IF NOT EXISTS report_overlap (
    root  TEXT,
    view  TEXT,
    stage TEXT,
    pos   INTEGER,
    name                  TEXT,
    family                TEXT,
    site                  TEXT,
    time_ns               BIGINT,
    count                 BIGINT,
    share                 DOUBLE,
    exposed_ns            BIGINT,
    hidden_ns             BIGINT,
    same_stream_overlap_ns BIGINT,
    hidden_by_compute_ns  BIGINT,
    hidden_by_comm_ns     BIGINT,
    hidden_by_memory_ns   BIGINT,
    hidden_by             JSON,
    launch_gap_ns         BIGINT,
    dep_risk              TEXT,
    verdict               TEXT,
    gain_ns               BIGINT,
    priority              TEXT,
    recommendation        TEXT,
    expected_gain_ns   BIGINT,
    expected_gain_note TEXT,
    rank_skew          JSON
);
COMMENT ON COLUMN report_overlap.root IS 'trace_roots.root';
COMMENT ON COLUMN report_overlap.view IS 'report_views.view';
COMMENT ON COLUMN report_overlap.stage IS 'report_stages.stage';
COMMENT ON COLUMN report_overlap.pos IS 'position of the row in the stage''s table (0 = first)';
COMMENT ON COLUMN report_overlap.name IS 'display name';
COMMENT ON COLUMN report_overlap.family IS 'kernel family (the one holding most of the time)';
COMMENT ON COLUMN report_overlap.site IS 'site holding most of the time';
COMMENT ON COLUMN report_overlap.time_ns IS 'summed duration (ns)';
COMMENT ON COLUMN report_overlap.count IS 'activities';
COMMENT ON COLUMN report_overlap.share IS '(time_ns - same_stream_overlap_ns) / the stage''s busy time';
COMMENT ON COLUMN report_overlap.exposed_ns IS 'time no other stream was active (ns)';
COMMENT ON COLUMN report_overlap.hidden_ns IS 'time another stream was active (ns); exposed + hidden + same_stream_overlap = time';
COMMENT ON COLUMN report_overlap.same_stream_overlap_ns IS 'time its records lay under an earlier kernel of the same stream (PDL early start; ns): neither exposed nor hidden';
COMMENT ON COLUMN report_overlap.hidden_by_compute_ns IS 'hidden time while compute ran elsewhere (ns)';
COMMENT ON COLUMN report_overlap.hidden_by_comm_ns IS 'hidden time while communication ran elsewhere (ns)';
COMMENT ON COLUMN report_overlap.hidden_by_memory_ns IS 'hidden time while memory traffic ran elsewhere (ns)';
COMMENT ON COLUMN report_overlap.hidden_by IS 'hidden time per category: {category: ns}';
COMMENT ON COLUMN report_overlap.launch_gap_ns IS 'idle time before its launches reached the GPU (ns)';
COMMENT ON COLUMN report_overlap.dep_risk IS 'low | medium | high: how likely a data dependency blocks overlapping it';
COMMENT ON COLUMN report_overlap.verdict IS 'docs/overlap.md verdicts (headroom, hidden, launch_bound, ...)';
COMMENT ON COLUMN report_overlap.gain_ns IS 'time an overlap could recover (ns)';
COMMENT ON COLUMN report_overlap.priority IS 'P0 | P1 | P2';
COMMENT ON COLUMN report_overlap.recommendation IS 'what to try';
COMMENT ON COLUMN report_overlap.expected_gain_ns IS 'the recoverable time (speed of light) of the kernels the row addresses (docs/roofline.md); NULL when none has a roof';
COMMENT ON COLUMN report_overlap.expected_gain_note IS 'why there is no expected gain';
COMMENT ON COLUMN report_overlap.rank_skew IS 'optional: verdict rank_skew: wait_ns, time_ns, wait_share, late_rank, late_share, late_rank_before';
