-- report_built_at: when a root's stored report was written (a stored diff of it is current only while
-- this is the value it recorded).
-- Parameters: ? = root
-- Rows (none when the root has no report): built_at TIMESTAMP
SELECT built_at FROM report_roots WHERE root = ?;
