-- alignment_rates: per root, rank and stage, how much of the kernel time that needed a site
-- (graph replays, unattributed kernels) alignment mapped. Written with kernel_facts.
CREATE TABLE IF NOT EXISTS alignment_rates (
    root      TEXT,
    rank      INTEGER,
    stage     TEXT,
    by_count  DOUBLE,
    by_time   DOUBLE,
    kernels   BIGINT,
    mapped    BIGINT,
    time_ns   BIGINT,
    mapped_ns BIGINT,
    source    TEXT,
    method    TEXT
);
COMMENT ON COLUMN alignment_rates.root IS 'trace_roots.root';
COMMENT ON COLUMN alignment_rates.rank IS 'rank whose traces were aligned (NULL: files without a rank)';
COMMENT ON COLUMN alignment_rates.stage IS 'stage (all when the trace has no stage information)';
COMMENT ON COLUMN alignment_rates.by_count IS 'mapped / kernels';
COMMENT ON COLUMN alignment_rates.by_time IS 'mapped_ns / time_ns';
COMMENT ON COLUMN alignment_rates.kernels IS 'kernels that needed a site';
COMMENT ON COLUMN alignment_rates.mapped IS 'of those, kernels alignment mapped';
COMMENT ON COLUMN alignment_rates.time_ns IS 'their summed duration (ns)';
COMMENT ON COLUMN alignment_rates.mapped_ns IS 'summed duration of the mapped ones (ns)';
COMMENT ON COLUMN alignment_rates.source IS 'what supplied the sites: mapping trace <paths> | eager steps of this trace';
COMMENT ON COLUMN alignment_rates.method IS 'layer slots (slot-wise transfer) | sequence alignment (whole-sequence diff)';
