-- op_inputs: the recorded inputs of the CPU ops whose kernels the cost models price (record_shapes).
-- Reads the registered Arrow table `_wanted` (file_id BIGINT, ev BIGINT): the op instances asked for.
--   file_id, ev   BIGINT  the op (cpu_ops key)
--   name          TEXT    op name (e.g. aten::mm)
--   input_dims    TEXT    JSON text of args."Input Dims" (NULL when shapes were not recorded)
--   input_types   TEXT    JSON text of args."Input type" (e.g. ["c10::BFloat16", "Scalar"])
--   concrete      TEXT    JSON text of args."Concrete Inputs" (scalar argument values as strings)
SELECT o.file_id,
       o.ev,
       o.name,
       o.input_dims,
       CAST(json_extract(o.args, '$."Input type"') AS VARCHAR)      AS input_types,
       CAST(json_extract(o.args, '$."Concrete Inputs"') AS VARCHAR) AS concrete
FROM cpu_ops AS o
JOIN _wanted AS w ON o.file_id = w.file_id AND o.ev = w.ev
