-- trace_files: one row per file of a trace root, parsed or not.
--   file_id      BIGINT  stable id: hash of (root, rel_path); key of every event table
--   root         TEXT    trace_roots.root
--   path         TEXT    path relative to the root ('merged-….trace.json.gz#TP01' for a rank split from a merged file)
--   framework    TEXT    sglang | vllm | trtllm | tokenspeed | unknown
--   model        TEXT    model name
--   run          TEXT    run name
--   role         TEXT    mapping (CUDA graphs off) | formal (graphs on) | single
--   stage        TEXT    prefill | decode | mixed | unknown (decided per file)
--   rank         INTEGER tensor-parallel rank (NULL when unknown)
--   kind         TEXT    kineto | layerwise | merged (SGLang merged multi-rank kineto) | merged_rank (one rank
--                        split from a merged file by its pid label: sql/ingest/split_merged.sql)
--   size_bytes   BIGINT  file size on disk (NULL for merged_rank)
--   fingerprint  TEXT    hash of (size, mtime) used for incremental re-ingest
--   status       TEXT    ok | error | skipped | rejected | stale (a file that loaded before now fails to parse or is
--                        rejected: its previous rows and this row's other columns are kept; docs/guarantees.md)
--   error        TEXT    what went wrong, naming the file and the problem (NULL when ok)
--   note         TEXT    a warning that is not an error (e.g. 'no GPU kernels (CPU-only trace)')
--   events       BIGINT  number of entries in traceEvents (NULL for merged_rank)
--   kernels      BIGINT  number of kernel events (a split merged file: those left without a rank label)
--   base_time_ns BIGINT  baseTimeNanoseconds when present
--   ts_variant   TEXT    relative (ts relative to baseTimeNanoseconds or unknown base) | absolute_us | absolute_us_ns
--   metadata     JSON    top-level keys other than traceEvents (deviceProperties, distributedInfo, …)
--   ingested_at  TIMESTAMP
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
