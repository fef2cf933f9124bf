-- op_input_dims: the recorded input shapes of CPU ops, for the ops a cross-root attribution names.
-- Parameters: ? = file_id list, ? = cpu_ops.ev list (the caller keeps the (file_id, ev) pairs it asked for)
-- Rows:
--   file_id     BIGINT  trace_files.file_id of the source root's file
--   ev          BIGINT  cpu_ops.ev (a kernel record's cpu_op_ev)
--   input_dims  TEXT    args."Input Dims" as JSON text (NULL without record_shapes)
SELECT file_id, ev, input_dims
FROM cpu_ops
WHERE list_contains(?, file_id) AND list_contains(?, ev);
