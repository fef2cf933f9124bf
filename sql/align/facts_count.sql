-- facts_count: whether a root has been attributed (its kernel_facts rows), for the cross-root attribution
-- (pipeline/align/cross_root.py): a root without stored facts is attributed on demand.
-- Parameters: ? = kernel_facts.root
-- One row:
--   n  BIGINT  kernel_facts rows of the root
SELECT count(*) AS n FROM kernel_facts WHERE root = ?;
