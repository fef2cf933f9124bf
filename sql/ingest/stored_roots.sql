-- stored_roots: every root in the warehouse with the path it was found at, to name the ones an
-- ingest of their folder no longer finds (pipeline/ingest/__init__.py vanished_roots).
-- Rows: root, path
SELECT root, path
FROM trace_roots
ORDER BY root;
