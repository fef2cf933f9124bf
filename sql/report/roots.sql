-- roots: every root of the warehouse with its framework and model, by key.
SELECT root, framework, model
FROM trace_roots
ORDER BY root;
