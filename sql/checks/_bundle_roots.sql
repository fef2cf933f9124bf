-- _bundle_roots (helper, not a check): the roots in the warehouse with their framework and model,
-- so the bundle asset can select the roots a bundle renders from and re-run the checks on them.
-- Parameters: none
-- Rows:
--   root       TEXT  trace_roots.root
--   framework  TEXT  trace_roots.framework
--   model      TEXT  trace_roots.model (raw; pipeline.bundle.slug() gives the bundle's model part)
--   status     TEXT  ok | rejected | error
SELECT root, framework, model, status FROM trace_roots ORDER BY root;
