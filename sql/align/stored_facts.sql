-- stored_facts: the kernel_facts rows of one root's eager steps — (file, step) groups without any graph
-- replay, outside-step rows excluded — as kernel records that may lend their sites to another root's
-- graph replays (pipeline/align/cross_root.py).
-- Parameters: ? = kernel_facts.root (used twice)
-- Rows: every kernel_facts column (sql/schema/20_kernel_facts.sql), in file and time order.
WITH eager AS (
    SELECT file_id, coalesce(step, -1) AS step FROM kernel_facts
    WHERE root = ? AND stage <> 'outside'
    GROUP BY file_id, coalesce(step, -1)
    HAVING NOT bool_or(is_graph)
)
SELECT f.* FROM kernel_facts f JOIN eager ON f.file_id = eager.file_id AND coalesce(f.step, -1) = eager.step
WHERE f.root = ? AND f.stage <> 'outside'
ORDER BY f.file_id, f.ts_ns, f.ev;
