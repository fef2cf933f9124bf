-- root_fingerprints: the fingerprint each loaded trace root had when it was last ingested
-- (the discovery sensor skips a root it has not seen yet whose files the warehouse already holds).
--   root         TEXT  trace_roots.root
--   fingerprint  TEXT  trace_roots.fingerprint
SELECT root, fingerprint
FROM trace_roots
WHERE loaded_at IS NOT NULL;
