-- report_launch_groups: kernels one CPU op launches together, largest time first
-- Key: (root, view, stage, pos) — report_stages' stage, pos = the row's rank in the table.
CREATE TABLE IF NOT EXISTS report_launch_groups (
    root  TEXT,
    view  TEXT,
    stage TEXT,
    pos   INTEGER,
    cpu_op      TEXT,
    site        TEXT,
    kernels     TEXT[],
    occurrences BIGINT,
    invariant   BOOLEAN,
    time_ns     BIGINT,
    variants    BIGINT
);
COMMENT ON COLUMN report_launch_groups.root IS 'trace_roots.root';
COMMENT ON COLUMN report_launch_groups.view IS 'report_views.view';
COMMENT ON COLUMN report_launch_groups.stage IS 'report_stages.stage';
COMMENT ON COLUMN report_launch_groups.pos IS 'position of the row in the stage''s table (0 = first)';
COMMENT ON COLUMN report_launch_groups.cpu_op IS 'the launching op';
COMMENT ON COLUMN report_launch_groups.site IS 'its site';
COMMENT ON COLUMN report_launch_groups.kernels IS 'display names in launch order';
COMMENT ON COLUMN report_launch_groups.occurrences IS 'op instances that launched this chain';
COMMENT ON COLUMN report_launch_groups.invariant IS 'every instance of the op at this call path launched the same chain';
COMMENT ON COLUMN report_launch_groups.time_ns IS 'summed duration of the chain''s kernels (ns)';
COMMENT ON COLUMN report_launch_groups.variants IS 'distinct chains the op launched at one call path';
