-- events: one batch of raw Kineto events read by DuckDB's JSON reader (C++; no Python object
-- per event), one wide row per event; pipeline/ingest/duckjson.py splits the result into the
-- warehouse tables by `tbl` and picks each table's columns (sql/schema/02…08).
-- The batch file is a JSON array of whole events cut from `traceEvents` by
-- pipeline/ingest/reader.py. Placeholders (names in braces below; duckjson.events_sql
-- fills them): source, that file as a quoted SQL string literal; ts_text_join and ts_ns,
-- how ts becomes ns: for relative timestamps nothing and us_to_ns(ts) (a double is exact);
-- for absolute ones the join of ts_text.sql (each event's ts as written, digit for digit)
-- and ts_exact(ts_text, ts). ts and dur are read as DOUBLE (exact for relative ts and for
-- any real duration; ~20 % cheaper than text).
-- Parameter: $file_id. Needs macros.sql. An event of a table whose args is not an object
-- raises (args_problem in macros.sql), so the batch falls back to orjson, which names the
-- event; the other rules of pipeline/ingest/limits.py are checked on this query's result
-- (limits.doubtful: cheaper in Arrow than here). The event ordinal `ev` and the per-category
-- counts are not computed here: duckjson.split derives them from row positions and (ph, cat)
-- groups in Arrow, ~20 % cheaper than a window function and a string per event.
--
--   tbl         target table: kernels, gpu_memops, launches, cpu_ops, python_frames,
--               annotations, trace_meta; NULL = counted in `catkey` only (flows, …)
--   ph, cat, name, pid, tid
--               as text; numbers become their decimal text (pid 9 → '9')
--   ts_ns, dur_ns
--               exact ns from the µs value (see macros.sql); a value that is not a number
--               raises (the batch falls back to orjson, which rejects the file naming it)
--   gpu_stream, gpu_device
--               args.stream / args.device, else the event's tid / pid when numeric
--   correlation, external_id, cbid (ROCm: cid), bytes, seq, python_id, parent_id, module_id
--               integer args; a value that is not an integer becomes NULL
--               (json_transform is lenient: "7" → 7, 2.5 → 2, "abc" → NULL)
--   grid, block, input_dims
--               compact JSON text of those args
--   kind        memcpy | memset (gpu_memops rows only; the table-specific columns below are
--               NULL on other rows, so no per-event value is built that nothing reads)
--   is_graph    launches: the call is a graph replay (cudaGraphLaunch / hipGraphLaunch …)
--   ann_cat, ann_dur_ns, ann_stream
--               annotations: cat ('instant' for ph i), duration 0 when absent, the
--               stream of GPU-side annotations
--   meta_value  metadata events (ph M): args.name, else labels, else sort_index
--   args        the whole args object for GPU activity, launches and CPU ops; NULL when
--               absent or empty
-- A batch DuckDB cannot read (malformed JSON, an array element that is not an object,
-- invalid UTF-8, one event over DuckDB's 16 MB object limit) raises; the caller then
-- parses that batch with orjson, which either handles it or names the file and byte
-- offset of the problem.
WITH raw AS (
    SELECT *, json_transform(args, '{"External id": "BIGINT", "correlation": "BIGINT", "stream": "BIGINT",
                                     "device": "BIGINT", "grid": "JSON", "block": "JSON", "bytes": "BIGINT",
                                     "cbid": "BIGINT", "cid": "BIGINT", "Sequence number": "BIGINT",
                                     "Input Dims": "JSON", "Python id": "BIGINT", "Python parent id": "BIGINT",
                                     "Python module id": "BIGINT"}') AS a
    FROM read_json({source}, format = 'array',
        columns = {ph: 'VARCHAR', cat: 'VARCHAR', name: 'VARCHAR', ts: 'DOUBLE', dur: 'DOUBLE',
                   pid: 'VARCHAR', tid: 'VARCHAR', args: 'JSON'})
    {ts_text_join}
), tagged AS (
    SELECT *,
           CASE WHEN ph = 'X' THEN CASE cat WHEN 'kernel' THEN 'kernels'
                                            WHEN 'gpu_memcpy' THEN 'gpu_memops'
                                            WHEN 'gpu_memset' THEN 'gpu_memops'
                                            WHEN 'cuda_runtime' THEN 'launches'
                                            WHEN 'cuda_driver' THEN 'launches'
                                            WHEN 'cpu_op' THEN 'cpu_ops'
                                            WHEN 'python_function' THEN 'python_frames'
                                            WHEN 'user_annotation' THEN 'annotations'
                                            WHEN 'gpu_user_annotation' THEN 'annotations' END
                WHEN ph = 'M' THEN 'trace_meta'
                WHEN ph = 'i' AND cat IS DISTINCT FROM 'cpu_instant_event' THEN 'annotations' END AS tbl
    FROM raw
)
SELECT CAST($file_id AS BIGINT) AS file_id,
       tbl,
       ph, cat, name, {ts_ns} AS ts_ns, us_to_ns(dur) AS dur_ns, pid, tid,
       CASE WHEN tbl IN ('kernels', 'gpu_memops') THEN coalesce(a.stream, TRY_CAST(tid AS BIGINT)) END AS gpu_stream,
       CASE WHEN tbl IN ('kernels', 'gpu_memops') THEN coalesce(a.device, TRY_CAST(pid AS BIGINT)) END AS gpu_device,
       a.correlation, a."External id" AS external_id, coalesce(a.cbid, a.cid) AS cbid, a.bytes AS bytes,
       a."Sequence number" AS seq, a."Python id" AS python_id, a."Python parent id" AS parent_id,
       a."Python module id" AS module_id,
       a.grid::VARCHAR AS grid, a.block::VARCHAR AS block, a."Input Dims"::VARCHAR AS input_dims,
       CASE WHEN tbl = 'gpu_memops' THEN CASE WHEN cat = 'gpu_memset' THEN 'memset' ELSE 'memcpy' END END AS kind,
       CASE WHEN tbl = 'launches' THEN contains(coalesce(name, ''), 'GraphLaunch') END AS is_graph,
       CASE WHEN tbl = 'annotations' THEN CASE WHEN ph = 'X' THEN cat ELSE 'instant' END END AS ann_cat,
       CASE WHEN tbl = 'annotations' THEN coalesce(us_to_ns(dur), 0) END AS ann_dur_ns,
       CASE WHEN tbl = 'annotations' AND ph = 'X' AND cat = 'gpu_user_annotation' THEN a.stream END AS ann_stream,
       CASE WHEN ph = 'M' THEN coalesce(args->>'name', args->>'labels', args->>'sort_index') END AS meta_value,
       CASE WHEN tbl IN ('kernels', 'gpu_memops', 'launches', 'cpu_ops') THEN args_or_null(args) END::VARCHAR AS args
FROM tagged
WHERE CASE WHEN args_problem(tbl, args) THEN error('event ' || left(coalesce(name, '?'), 80) || ': args is not an object')
           ELSE TRUE END
