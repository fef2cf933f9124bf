-- collective_args: the collective metadata Kineto copies onto a communication kernel from its
-- `record_param_comms` CPU op (libkineto output_json.cpp, the k* constants: "Collective name",
-- "In msg nelems", …; the op side in torch/csrc/profiler/util.h saveNcclMeta). One row per kernel
-- of the given files whose args carry "Collective name". Parameter 1: list of file_id.
--
--   file_id, ev     BIGINT  the kernel (kernels.file_id, kernels.ev)
--   coll_name       TEXT    "Collective name": c10d's name for the call, e.g. allreduce, _allgather_base,
--                           _reduce_scatter_base, all_to_all, send (ProcessGroupNCCL.cpp RECORD_PARAM_COMMS)
--   coll_in_nelems  BIGINT  "In msg nelems": elements of the input
--   coll_out_nelems BIGINT  "Out msg nelems": elements of the output
--   coll_group_size INTEGER "Group size": ranks in the process group
--   coll_dtype      TEXT    "dtype": c10 ScalarType name (Float, BFloat16, Half, …)
--   coll_pg         TEXT    "Process Group Name" (same on every rank of the group)
--   coll_pg_ranks   TEXT    "Process Group Ranks", e.g. '[0, 1, 2, 3]' (long lists are truncated by the writer)
SELECT file_id, ev,
       args->>'$."Collective name"' AS coll_name,
       TRY_CAST(args->>'$."In msg nelems"' AS BIGINT) AS coll_in_nelems,
       TRY_CAST(args->>'$."Out msg nelems"' AS BIGINT) AS coll_out_nelems,
       TRY_CAST(args->>'$."Group size"' AS INTEGER) AS coll_group_size,
       args->>'$.dtype' AS coll_dtype,
       args->>'$."Process Group Name"' AS coll_pg,
       args->>'$."Process Group Ranks"' AS coll_pg_ranks
FROM kernels
WHERE list_contains($1, file_id) AND args->>'$."Collective name"' IS NOT NULL
ORDER BY file_id, ev
