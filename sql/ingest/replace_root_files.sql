-- replace_root_files: remove a root's trace_files rows before its new ones are inserted, except the
-- files whose previous rows this load keeps (they are marked stale by mark_stale.sql instead).
-- Parameters: ? = root, ? = list of trace_files.file_id kept
DELETE FROM trace_files
WHERE root = ? AND NOT list_contains(?, file_id);
