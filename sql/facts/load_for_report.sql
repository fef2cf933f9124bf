-- load_for_report: the stored facts of one root as the report's analyses read them, in build order
-- (files by path, each file's activities in time order): every kernel_facts column but `root` and
-- `stack` (no analysis reads the stack lists; `stack_id` stands for them, and leaving the lists out
-- spares copying them into Arrow and again in every per-stage / per-rank filter).
-- Parameters: ? = root
SELECT * EXCLUDE (root, stack)
FROM kernel_facts
WHERE root = ?
ORDER BY seq;
