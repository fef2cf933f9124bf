-- trace_roots: one row per trace root found by discovery.
-- Columns: COMMENT ON below.
CREATE TABLE IF NOT EXISTS trace_roots (
    root        TEXT PRIMARY KEY,
    path        TEXT,
    framework   TEXT,
    model       TEXT,
    run         TEXT,
    fingerprint TEXT,
    status      TEXT,
    reason      TEXT,
    server_args JSON,
    loaded_at   TIMESTAMP
);
COMMENT ON COLUMN trace_roots.root IS 'partition key: the root''s path relative to the data root (''.''-free, ''/''-separated)';
COMMENT ON COLUMN trace_roots.path IS 'absolute path of the root directory at discovery time';
COMMENT ON COLUMN trace_roots.framework IS 'sglang | vllm | trtllm | tokenspeed | unknown';
COMMENT ON COLUMN trace_roots.model IS 'model name (manifest, server args, file or directory name)';
COMMENT ON COLUMN trace_roots.run IS 'run name: a manifest''s or capture.json''s run, else the root directory''s own name; NULL for a lone file whose sidecars name none (docs/discovery.md)';
COMMENT ON COLUMN trace_roots.fingerprint IS 'hash of (relative path, size, mtime) of every trace file in the root';
COMMENT ON COLUMN trace_roots.status IS 'ok | rejected (e.g. diffusion backend fallback) | error';
COMMENT ON COLUMN trace_roots.reason IS 'why the root was rejected or failed (NULL when ok)';
COMMENT ON COLUMN trace_roots.server_args IS 'server / capture arguments when known (server_args.json, capture.json)';
COMMENT ON COLUMN trace_roots.loaded_at IS 'when the root''s rows were last replaced';
