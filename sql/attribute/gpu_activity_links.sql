-- gpu_activity_links: every GPU activity (kernel, memcpy, memset) of the selected files with
-- its launch call, its CPU op and the CPU point its Python stack is read from.
-- Parameter 1: list of file_id.
--
--   file_id, ev, kind, name, ts_ns, dur_ns, stream, device, correlation, external_id
--                       the activity (kernels ∪ gpu_memops)
--   launch_ev           launches.ev of the runtime/driver call with the same correlation
--                       (cuda_runtime preferred over cuda_driver)
--   launch_name         e.g. cudaLaunchKernel, cudaGraphLaunch, hipLaunchKernel
--   launch_ts_ns        when the CPU issued the launch
--   is_graph            the launch is a graph replay (cudaGraphLaunch / hipGraphLaunch)
--   op_ev               cpu_ops.ev of the CPU op: by the activity's External id, else the
--                       launch's External id, else the innermost op enclosing the launch on
--                       the launching thread
--   op_how              external_id | launch_external_id | enclosing | NULL
--   anchor_pid, anchor_tid, anchor_ts_ns
--                       the CPU point whose enclosing Python frames form the stack:
--                       the op's start when there is an op, else the launch's start
WITH acts AS (
    SELECT file_id, ev, 'kernel' AS kind, name, ts_ns, dur_ns, stream, device, correlation, external_id
    FROM kernels WHERE list_contains($1, file_id)
    UNION ALL
    SELECT file_id, ev, kind, name, ts_ns, dur_ns, stream, device, correlation, external_id
    FROM gpu_memops WHERE list_contains($1, file_id)
),
launch AS (
    SELECT DISTINCT ON (file_id, correlation) file_id, correlation, ev, name, ts_ns, pid, tid, external_id, is_graph
    FROM launches
    WHERE list_contains($1, file_id) AND correlation IS NOT NULL
    ORDER BY file_id, correlation, (cat <> 'cuda_runtime'), ts_ns
),
op_by_ext AS (
    SELECT DISTINCT ON (file_id, external_id) file_id, external_id, ev
    FROM cpu_ops
    WHERE list_contains($1, file_id) AND external_id IS NOT NULL
    ORDER BY file_id, external_id, dur_ns
),
joined AS (
    SELECT a.*, l.ev AS launch_ev, l.name AS launch_name, l.ts_ns AS launch_ts_ns,
           coalesce(l.is_graph, false) AS is_graph, l.pid AS launch_pid, l.tid AS launch_tid,
           o1.ev AS op_ext, o2.ev AS op_lext
    FROM acts a
    LEFT JOIN launch l ON l.file_id = a.file_id AND l.correlation = a.correlation
    LEFT JOIN op_by_ext o1 ON o1.file_id = a.file_id AND o1.external_id = a.external_id
    LEFT JOIN op_by_ext o2 ON o2.file_id = a.file_id AND o2.external_id = l.external_id
),
need_enclosing AS (
    SELECT DISTINCT file_id, launch_ev, launch_pid, launch_tid, launch_ts_ns
    FROM joined WHERE op_ext IS NULL AND op_lext IS NULL AND launch_ev IS NOT NULL
),
enclosing AS (
    SELECT n.file_id, n.launch_ev, arg_max(c.ev, (c.ts_ns, -c.dur_ns)) AS op_enc
    FROM need_enclosing n
    JOIN cpu_ops c ON c.file_id = n.file_id AND c.pid = n.launch_pid AND c.tid = n.launch_tid
        AND c.ts_ns <= n.launch_ts_ns AND n.launch_ts_ns <= c.ts_ns + c.dur_ns
    GROUP BY n.file_id, n.launch_ev
),
with_op AS (
    SELECT j.*, coalesce(j.op_ext, j.op_lext, e.op_enc) AS op_ev,
           CASE WHEN j.op_ext IS NOT NULL THEN 'external_id'
                WHEN j.op_lext IS NOT NULL THEN 'launch_external_id'
                WHEN e.op_enc IS NOT NULL THEN 'enclosing' END AS op_how
    FROM joined j
    LEFT JOIN enclosing e ON e.file_id = j.file_id AND e.launch_ev = j.launch_ev
)
SELECT w.file_id, w.ev, w.kind, w.name, w.ts_ns, w.dur_ns, w.stream, w.device, w.correlation,
       w.external_id, w.launch_ev, w.launch_name, w.launch_ts_ns, w.is_graph, w.op_ev, w.op_how,
       c.name AS cpu_op,
       coalesce(c.pid, w.launch_pid) AS anchor_pid,
       coalesce(c.tid, w.launch_tid) AS anchor_tid,
       coalesce(c.ts_ns, w.launch_ts_ns) AS anchor_ts_ns
FROM with_op w
LEFT JOIN cpu_ops c ON c.file_id = w.file_id AND c.ev = w.op_ev
ORDER BY w.file_id, w.ts_ns, w.ev
