-- trace_roots: one row per trace root found by discovery.
--   root         TEXT    partition key: the root's path relative to the data root ('.'-free, '/'-separated)
--   path         TEXT    absolute path of the root directory at discovery time
--   framework    TEXT    sglang | vllm | trtllm | tokenspeed | unknown
--   model        TEXT    model name (manifest, server args, file or directory name)
--   run          TEXT    run name (the root directory's own name unless a manifest says otherwise)
--   fingerprint  TEXT    hash of (relative path, size, mtime) of every trace file in the root
--   status       TEXT    ok | rejected (e.g. diffusion backend fallback) | error
--   reason       TEXT    why the root was rejected or failed (NULL when ok)
--   server_args  JSON    server / capture arguments when known (server_args.json, capture.json)
--   loaded_at    TIMESTAMP when the root's rows were last replaced
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
