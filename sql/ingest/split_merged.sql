-- split_merged: turn an SGLang merged trace back into one virtual trace file per rank.
-- Run by pipeline/ingest/merged.py inside the root's load transaction, after the merged file's
-- rows were copied in, so a failure rolls the whole load back.
--
-- Upstream facts (sgl-project/sglang python/sglang/srt/utils/profile_merger.py, ProfileMerger,
-- written by rank 0 when /start_profile has merge_profiles=true):
--   * merged-{profile_id}.trace.json.gz concatenates every `{profile_id}*.trace.json.gz` with
--     `TP-` in its name, ordered by (DP, EP, PP, TP);
--   * EVERY event's pid becomes the string "{label} {old pid}" with label
--     "[TP00-DP01-PP02-EP03]": the parts found in the per-rank file name (`TP-n`, `DP-n`, `PP-n`,
--     `EP-n`), in that order, two digits; "[Unknown]" when the name has none. tids are untouched;
--   * process_sort_index of int pids < 1000 is rewritten; deviceProperties are concatenated;
--     every other top-level key (baseTimeNanoseconds, distributedInfo, …) is the first file's.
--     So all ranks' ts are read against rank 0's clock base: times are consistent within a
--     rank, not across ranks (we only compare durations across ranks).
-- Per-stage files (…-TP-0-EXTEND and …-TP-0-DECODE) get the same label and end up in one
-- virtual file; its kernels' stages then come from the step annotations.
--
-- Input: temp table _merged_split, one row per (merged file, rank label), built in Python:
--   file_id   BIGINT   the merged file (trace_files.kind = 'merged')
--   label     TEXT     the label without brackets, e.g. 'TP01' or 'TP01-EP01'
--   prefix    TEXT     '[' || label || '] ' — what the merger put in front of the old pid
--   child_id  BIGINT   file_id of the virtual file: file_id_for(root, path || '#' || label)
--   path      TEXT     the virtual file's path: 'merged-….trace.json.gz#TP01'
--   rank      INTEGER  the label's TP number (the rank `--rank N` selects)
--   info      JSON     {"label": "[TP01]", "tp": 1, "dp": null, "pp": null, "ep": null}
--
-- Sections (each starts with a line "-- @name"); {table} is an event table with a pid column
-- (kernels, gpu_memops, launches, cpu_ops, python_frames, annotations, trace_meta); the
-- table names come from the warehouse catalog, values are always parameters.

-- @labels  distinct rank labels in one table of one merged file. Params: merged file_id.
SELECT DISTINCT regexp_extract(pid, '^\[((?:TP|DP|PP|EP)\d+(?:-(?:TP|DP|PP|EP)\d+)*)\] ', 1) AS label
FROM {table}
WHERE file_id = ? AND starts_with(pid, '[');

-- @move  copy the labelled rows to their virtual file, the label stripped from the pid (the pid
-- is again what the rank's own file says: '1', '6584', 'Spans').
INSERT INTO {table} BY NAME
SELECT t.* REPLACE (s.child_id AS file_id, substr(t.pid, length(s.prefix) + 1) AS pid)
FROM {table} t
JOIN _merged_split s
  ON t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;

-- @move_gpu  the same for GPU tables: `device` falls back to the numeric pid, as ingest does for
-- an unlabelled file (sql/schema/02_kernels.sql), since a labelled pid never parsed as a number.
INSERT INTO {table} BY NAME
SELECT t.* REPLACE (s.child_id AS file_id, substr(t.pid, length(s.prefix) + 1) AS pid,
                    coalesce(t.device, TRY_CAST(substr(t.pid, length(s.prefix) + 1) AS BIGINT)) AS device)
FROM {table} t
JOIN _merged_split s
  ON t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;

-- @drop  remove the moved rows from the merged file (rows whose pid has no rank label stay).
DELETE FROM {table} t
USING _merged_split s
WHERE t.file_id = s.file_id AND substr(t.pid, 1, strpos(t.pid, '] ') + 1) = s.prefix;

-- @children  one trace_files row per virtual file, derived from the merged file's row:
--   kind 'merged_rank', rank from the label, size_bytes and events NULL (not a file of its own),
--   kernels counted from the moved rows, metadata + "_merged" (label and parallel ranks).
INSERT INTO trace_files
SELECT s.child_id AS file_id, p.root, s.path, p.framework, p.model, p.run, p.role, p.stage, s.rank,
       'merged_rank' AS kind, NULL AS size_bytes, p.fingerprint, p.status, p.error,
       'rank ' || s.rank || ' of ' || p.path || ', pid label [' || s.label || ']' AS note,
       NULL AS events,
       (SELECT count(*) FROM kernels k WHERE k.file_id = s.child_id) AS kernels,
       p.base_time_ns, p.ts_variant,
       json_merge_patch(coalesce(p.metadata, '{}'::JSON), json_object('_merged', s.info::JSON)) AS metadata,
       p.ingested_at
FROM _merged_split s
JOIN trace_files p ON p.file_id = s.file_id;

-- @parent  the merged file keeps only what no rank label claimed; its note says where the rest
-- went. Params: merged file_id, note, merged file_id.
UPDATE trace_files
SET kernels = (SELECT count(*) FROM kernels WHERE file_id = ?),
    note = ?
WHERE file_id = ?;
