-- events: one batch of raw Kineto events read by DuckDB's JSON reader (C++; no Python object
-- per event), one wide row per event; pipeline/ingest/duckjson.py splits the result into the
-- warehouse tables by `tbl` and picks each table's columns (sql/schema/02…08).
-- The batch file is a JSON array of whole events cut from `traceEvents` by
-- pipeline/ingest/reader.py. Parameters: $source, that file's path; $file_id.
-- Placeholders (names in braces below), filled by duckjson.events_sql:
--   timed        how ts becomes ns: ts_relative.sql (a double is exact for relative
--                timestamps) or ts_text.sql (absolute ones, digit for digit from each event's
--                text); ts and dur are read as DOUBLE (exact for relative ts and for any real
--                duration; ~20 % cheaper than text)
--   arg_types, arg_columns
--                generated from pipeline/catalog/event_args.toml, the event-argument spec the
--                orjson path (events.py) reads too (pipeline/ingest/argspec.py: the only SQL
--                assembled in Python, from that checked file): the json_transform structure of
--                every spec'd key, and one column `arg_<column>` per distinct read (keys in order
--                of preference, type, fallback), NULL on rows of tables that do not take it;
--                duckjson.table_columns maps them back to each table's column
-- Needs macros.sql. An event of a table whose args is not an object
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
--   arg_…       the spec'd args (see above): int columns as json_transform reads them
--               (lenient: "7" → 7, 2.5 → 2, "abc" → NULL), json columns as compact JSON text,
--               text columns as ->> renders them; e.g. arg_stream = args.stream, else the
--               event's tid when numeric, on kernels and gpu_memops rows
--   kind        memcpy | memset (gpu_memops rows only; the table-specific columns below are
--               NULL on other rows, so no per-event value is built that nothing reads)
--   is_graph    launches: the call is a graph replay (cudaGraphLaunch / hipGraphLaunch …)
--   ann_cat, ann_dur_ns
--               annotations: cat ('instant' for ph i), duration 0 when absent
--   args        the whole args object for GPU activity, launches and CPU ops; NULL when
--               absent or empty
-- A batch DuckDB cannot read (malformed JSON, an array element that is not an object,
-- invalid UTF-8, one event over DuckDB's 16 MB object limit) raises; the caller then
-- parses that batch with orjson, which either handles it or names the file and byte
-- offset of the problem.
WITH raw AS (
    SELECT *, json_transform(args, {arg_types}) AS a
    FROM read_json($source, format = 'array',
        columns = {ph: 'VARCHAR', cat: 'VARCHAR', name: 'VARCHAR', ts: 'DOUBLE', dur: 'DOUBLE',
                   pid: 'VARCHAR', tid: 'VARCHAR', args: 'JSON'})
), timed AS (
    {timed}
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
    FROM timed
)
SELECT CAST($file_id AS BIGINT) AS file_id,
       tbl,
       ph, cat, name, ts_ns, us_to_ns(dur) AS dur_ns, pid, tid,
       {arg_columns},
       CASE WHEN tbl = 'gpu_memops' THEN CASE WHEN cat = 'gpu_memset' THEN 'memset' ELSE 'memcpy' END END AS kind,
       CASE WHEN tbl = 'launches' THEN contains(coalesce(name, ''), 'GraphLaunch') END AS is_graph,
       CASE WHEN tbl = 'annotations' THEN CASE WHEN ph = 'X' THEN cat ELSE 'instant' END END AS ann_cat,
       CASE WHEN tbl = 'annotations' THEN coalesce(us_to_ns(dur), 0) END AS ann_dur_ns,
       CASE WHEN tbl IN ('kernels', 'gpu_memops', 'launches', 'cpu_ops') THEN args_or_null(args) END::VARCHAR AS args
FROM tagged
WHERE CASE WHEN args_problem(tbl, args) THEN error('event ' || left(coalesce(name, '?'), 80) || ': args is not an object')
           ELSE TRUE END
