-- trace_files: one row per file of a trace root, parsed or not.
-- Columns: COMMENT ON below.
CREATE TABLE IF NOT EXISTS trace_files (
    file_id      BIGINT PRIMARY KEY,
    root         TEXT,
    path         TEXT,
    framework    TEXT,
    model        TEXT,
    run          TEXT,
    role         TEXT,
    stage        TEXT,
    rank         INTEGER,
    kind         TEXT,
    size_bytes   BIGINT,
    fingerprint  TEXT,
    status       TEXT,
    error        TEXT,
    note         TEXT,
    events       BIGINT,
    kernels      BIGINT,
    base_time_ns BIGINT,
    ts_variant   TEXT,
    metadata     JSON,
    ingested_at  TIMESTAMP
);
COMMENT ON COLUMN trace_files.file_id IS 'stable id: hash of (root, rel_path); key of every event table';
COMMENT ON COLUMN trace_files.root IS 'trace_roots.root';
COMMENT ON COLUMN trace_files.path IS 'path relative to the root (''merged-….trace.json.gz#TP01'' for a rank split from a merged file)';
COMMENT ON COLUMN trace_files.framework IS 'sglang | vllm | trtllm | tokenspeed | unknown';
COMMENT ON COLUMN trace_files.model IS 'model name';
COMMENT ON COLUMN trace_files.run IS 'run name';
COMMENT ON COLUMN trace_files.role IS 'mapping (CUDA graphs off) | formal (graphs on) | single';
COMMENT ON COLUMN trace_files.stage IS 'prefill | decode | mixed | unknown (decided per file)';
COMMENT ON COLUMN trace_files.rank IS 'tensor-parallel rank (NULL when unknown)';
COMMENT ON COLUMN trace_files.kind IS 'kineto | layerwise | merged (SGLang merged multi-rank kineto) | merged_rank (one rank split from a merged file by its pid label: sql/ingest/split_merged.sql)';
COMMENT ON COLUMN trace_files.size_bytes IS 'file size on disk (NULL for merged_rank)';
COMMENT ON COLUMN trace_files.fingerprint IS 'hash of (size, mtime) used for incremental re-ingest';
COMMENT ON COLUMN trace_files.status IS 'ok | error | skipped | rejected | stale (a file that loaded before now fails to parse or is rejected: its previous rows and this row''s other columns are kept; docs/guarantees.md)';
COMMENT ON COLUMN trace_files.error IS 'what went wrong, naming the file and the problem (NULL when ok)';
COMMENT ON COLUMN trace_files.note IS 'a warning that is not an error (e.g. ''no GPU kernels (CPU-only trace)'')';
COMMENT ON COLUMN trace_files.events IS 'number of entries in traceEvents (NULL for merged_rank)';
COMMENT ON COLUMN trace_files.kernels IS 'number of kernel events (a split merged file: those left without a rank label)';
COMMENT ON COLUMN trace_files.base_time_ns IS 'baseTimeNanoseconds when present';
COMMENT ON COLUMN trace_files.ts_variant IS 'relative (ts relative to baseTimeNanoseconds or unknown base) | absolute_us | absolute_us_ns';
COMMENT ON COLUMN trace_files.metadata IS 'top-level keys other than traceEvents (deviceProperties, distributedInfo, …)';
COMMENT ON COLUMN trace_files.ingested_at IS 'when the file''s rows were loaded (UTC)';
