-- load: the stored facts of one root in build order (files by path, each file's activities in time order).
-- Parameters: ? = root
SELECT * EXCLUDE (root)
FROM kernel_facts
WHERE root = ?
ORDER BY seq;
