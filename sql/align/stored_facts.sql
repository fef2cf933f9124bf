-- stored_facts: the kernel_facts rows of one root (its own attribution run), as kernel records for
-- the cross-root attribution of another root (pipeline/align/cross_root.py).
-- Parameters: ? = kernel_facts.root
-- Rows: every kernel_facts column (sql/schema/20_kernel_facts.sql), in file and time order.
SELECT * FROM kernel_facts WHERE root = ? ORDER BY file_id, ts_ns, ev;
