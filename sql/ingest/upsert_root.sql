-- upsert_root: the trace_roots row of a root a load stores (replaces the previous one).
-- Parameters, in column order (sql/schema/00_trace_roots.sql): root, path, framework, model, run,
-- fingerprint, status, reason, server_args (JSON text or NULL), loaded_at
INSERT OR REPLACE INTO trace_roots
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
